package sip

import "time"

// SetCertCheckEvery shortens how often the TLS certificate files are
// looked at, for the reload test; it returns the old value.
func SetCertCheckEvery(d time.Duration) time.Duration {
	old := certCheckEvery
	certCheckEvery = d
	return old
}
