// Package edge holds the SIP server's defences against the network: what
// it refuses, drops, never connects to and never lets pile up, before a
// request reaches a handler of package sip or after a handler is done
// with it (issue 7).
//
//   - limits.go: per-source request limits and the block list (Limiter).
//   - validate.go and datagram.go: what RFC 4475 refuses, in a parsed
//     request (Validate) and in a UDP datagram before sipgo parses it
//     (ReadFilter).
//   - reach.go: no connection and no lookup to an address a request
//     named (GuardedTCP, RefusingResolver, AllowDial).
//   - tcp.go: the idle timeout and per-source cap of TCP connections
//     (LimitListener).
//   - udpsize.go: large messages over UDP (FitTransport).
//   - refusals.go: the sampled log of refused INVITEs (RefusalLog).
//
// Each file opens with its Decisions: what was chosen and why.
//
// edge says what is wrong with a request (a Problem, a Verdict) and never
// how SIP answers it: package sip maps every refusal to a status, a reason
// phrase and an outcome in one table (sip/reject.go). It knows nothing of
// calls, dialogs or the Server: what it needs of them it is handed as a
// function (whether a connection carries a call, which socket to answer
// from). It imports sipx, sipgo and the standard library only.
package edge
