package web

import (
	"context"
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/clubline/clubline/audit"
)

// POST /api/probe: the line's mystery call, now.
//
// Decisions
//
//   - Who may ask: an admin's session with its CSRF token (the page), or
//     `clubline probe` on the line's machine with the probe's token as
//     `Authorization: Bearer <token>`. The token is the one the line
//     writes to store.data_dir/probe.token (mode 0600) at each start, so
//     only the line's own user can read it; it is compared in constant
//     time, and it opens this route only: every other route still wants
//     a session. A request with a wrong token is 401 (as without any),
//     a session of someone who is not an admin 403.
//   - One probe at a time: a request that comes while one runs (the
//     schedule's, or another request's) waits for it to end, then runs
//     its own, and answers with that one. Waiting, not 409: `clubline
//     probe` must not fail because the schedule happened to be calling,
//     and a probe lasts well under a minute. The wiring (Options.Probe)
//     does the waiting and gives up when the request is cancelled.
//   - The answer is 200 whether the line answered as it should or not
//     ("ok"): the probe ran. 503 when it could not run.
//   - Every probe asked for is in the audit log, with its result.

// ProbeResult is what one mystery call found.
type ProbeResult struct {
	OK           bool     `json:"ok"`
	Hours        string   `json:"hours"`                   // "open" or "closed", as the schedule had it
	Target       string   `json:"target"`                  // the SIP URI dialled
	Via          string   `json:"via"`                     // "trunk <name>" or "direct"
	SetupSeconds float64  `json:"setup_seconds,omitempty"` // from the INVITE to the greeting
	Heard        []string `json:"heard"`                   // the prompts heard, in order ("fr/greeting")
	Failure      string   `json:"failure,omitempty"`       // why it failed; "" when ok
	Summary      string   `json:"summary"`                 // what `clubline probe` prints
}

// probe serves POST /api/probe.
func (s *Server) probe(w http.ResponseWriter, r *http.Request) {
	if h := r.Header.Get("Authorization"); h != "" {
		if !s.probeTokenOK(h) {
			writeError(w, http.StatusUnauthorized, "wrong probe token: send the one in store.data_dir/probe.token (written at each start), or sign in as an admin")
			return
		}
		s.runProbe(w, r, &access{addr: clientAddr(r)}, "by the probe token")
		return
	}
	s.need(true, func(w http.ResponseWriter, r *http.Request, a *access) { s.runProbe(w, r, a, "") })(w, r)
}

// probeTokenOK reports whether an Authorization header carries the
// probe's token.
func (s *Server) probeTokenOK(header string) bool {
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || s.o.ProbeToken == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(strings.TrimSpace(token)), []byte(s.o.ProbeToken)) == 1
}

func (s *Server) runProbe(w http.ResponseWriter, r *http.Request, a *access, how string) {
	if s.o.Probe == nil {
		writeError(w, http.StatusServiceUnavailable, "this line runs no probe")
		return
	}
	res, err := s.o.Probe(r.Context())
	if err != nil {
		if r.Context().Err() != nil {
			return // the asker is gone
		}
		writeError(w, http.StatusServiceUnavailable, "the probe could not run: "+err.Error())
		return
	}
	detail := "success"
	if !res.OK {
		detail = "failed: " + res.Failure
	}
	if how != "" {
		detail = how + "; " + detail
	}
	s.audit(a, audit.ActionProbe, "", detail)
	if res.Heard == nil {
		res.Heard = []string{}
	}
	writeJSON(w, http.StatusOK, res)
}

// ProbeFunc is Options.Probe: it places one mystery call once no other is
// running (waiting until ctx ends at most) and says what it found.
type ProbeFunc = func(ctx context.Context) (ProbeResult, error)
