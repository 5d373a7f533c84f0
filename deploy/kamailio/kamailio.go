// Package kamailio ships the front proxy's configuration (kamailio.cfg,
// README.md beside it) to the tests that run it: interop/cluster starts
// Kamailio with exactly this file.
package kamailio

import _ "embed"

// Config is kamailio.cfg as shipped.
//
//go:embed kamailio.cfg
var Config []byte
