package sip

import "time"

// TCP limits defaults (Options.TCPIdleTimeout, Options.TCPMaxPerSource).
const (
	DefaultTCPIdleTimeout  = 3 * time.Minute
	DefaultTCPMaxPerSource = 32
)

func (o *Options) tcpDefaults() {
	if o.TCPIdleTimeout == 0 {
		o.TCPIdleTimeout = DefaultTCPIdleTimeout
	}
	if o.TCPMaxPerSource == 0 {
		o.TCPMaxPerSource = DefaultTCPMaxPerSource
	}
}
