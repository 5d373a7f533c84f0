package sip

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/clubline/clubline/sip/internal/sipx"
	sipmsg "github.com/emiago/sipgo/sip"
)

// MinSessionExpires is the shortest session interval clubline accepts by
// default (RFC 4028's minimum); a shorter Session-Expires gets 422.
const MinSessionExpires = 90 * time.Second

// Who refreshes the session (RFC 4028 §7.1).
const (
	refresherUAC = "uac" // the caller
	refresherUAS = "uas" // clubline
)

// sessionTimer is the session timer a dialog runs under; a zero interval
// means no timer.
type sessionTimer struct {
	interval  time.Duration
	refresher string
}

func (t sessionTimer) on() bool { return t.interval > 0 }

// expiryIn is how long after a refresh the side that does not refresh waits
// before it ends the session (RFC 4028 §10: the interval minus the smaller
// of 32 seconds and a third of it).
func (t sessionTimer) expiryIn() time.Duration {
	return t.interval - min(32*time.Second, t.interval/3)
}

// refreshIn is when the refresher sends its refresh (half the interval).
func (t sessionTimer) refreshIn() time.Duration { return t.interval / 2 }

// headers are the session timer headers of a 2xx answer (RFC 4028 §9).
func (t sessionTimer) headers() []sipmsg.Header {
	if !t.on() {
		return nil
	}
	hs := []sipmsg.Header{sipmsg.NewHeader("Session-Expires", seconds(t.interval)+";refresher="+t.refresher)}
	if t.refresher == refresherUAC {
		hs = append(hs, sipmsg.NewHeader("Require", "timer"))
	}
	return hs
}

// negotiateTimer applies RFC 4028 §9 to an INVITE, re-INVITE or UPDATE. prev
// is the timer the dialog runs under (zero for a new call), minSE our
// minimum. It returns the timer to answer with, or a rejection: 422 when
// the interval is below minSE and the caller can retry, 400 when a header
// is garbled.
func negotiateTimer(req *sipmsg.Request, prev sessionTimer, minSE time.Duration) (sessionTimer, *rejection) {
	supported := sipx.HasToken(req, "Supported", "timer")
	value, present := sipx.Header(req, "Session-Expires")
	if !present {
		if prev.on() && supported {
			// A refresh without the header: the UAS may insert one when the
			// caller supports timers; keep the running one.
			return sessionTimer{interval: prev.interval, refresher: refresherUAC}, nil
		}
		return sessionTimer{}, nil
	}
	interval, refresher, err := parseSessionExpires(value)
	if err != nil {
		return sessionTimer{}, rejectBadRequest("bad Session-Expires: " + err.Error())
	}
	if theirs, ok := sipx.Header(req, "Min-SE"); ok {
		if _, err := parseDeltaSeconds(theirs); err != nil {
			return sessionTimer{}, rejectBadRequest("bad Min-SE: " + err.Error())
		}
	}
	if interval < minSE {
		if supported {
			return sessionTimer{}, rejectTooBrief(interval, minSE)
		}
		// A proxy added the header for a caller that knows nothing of
		// timers; it cannot retry, so raise the interval instead.
		interval = minSE
	}
	switch {
	case refresher != "":
		// The caller chose (RFC 4028 §9: the answer keeps its choice).
	case supported:
		refresher = refresherUAC
	default:
		refresher = refresherUAS
	}
	return sessionTimer{interval: interval, refresher: refresher}, nil
}

// refreshHeader is the Session-Expires of a refresh clubline sends: it
// sends the request, so it is that transaction's uac, and it names itself
// the refresher (RFC 4028 §7.4).
func (t sessionTimer) refreshHeader() sipmsg.Header {
	return sipmsg.NewHeader("Session-Expires", seconds(t.interval)+";refresher=uac")
}

// answeredRefresh is the timer once the peer answered 2xx to a refresh
// clubline sent (RFC 4028 §7.2: the answer decides). In that transaction
// the roles are the other way round from the dialog's terms here: the
// answer's "uac" is clubline (refresherUAS), "uas" the peer
// (refresherUAC). An answer without Session-Expires ends the timer, as
// the RFC says; a garbled one keeps the timer that was sent.
func answeredRefresh(res *sipmsg.Response, sent sessionTimer) sessionTimer {
	v, ok := sipx.Header(res, "Session-Expires")
	if !ok {
		return sessionTimer{}
	}
	interval, refresher, err := parseSessionExpires(v)
	if err != nil {
		return sent
	}
	if refresher == refresherUAS {
		return sessionTimer{interval: interval, refresher: refresherUAC}
	}
	return sessionTimer{interval: interval, refresher: refresherUAS}
}

// parseSessionExpires reads "1800;refresher=uac".
func parseSessionExpires(v string) (time.Duration, string, error) {
	parts := strings.Split(v, ";")
	d, err := parseDeltaSeconds(parts[0])
	if err != nil {
		return 0, "", err
	}
	refresher := ""
	for _, p := range parts[1:] {
		k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
		if strings.EqualFold(strings.TrimSpace(k), "refresher") {
			refresher = strings.ToLower(strings.TrimSpace(val))
			if refresher != refresherUAC && refresher != refresherUAS {
				return 0, "", fmt.Errorf("refresher %q is neither uac nor uas", val)
			}
		}
	}
	return d, refresher, nil
}

// parseDeltaSeconds reads the seconds of Session-Expires or Min-SE
// (parameters after ';' are ignored).
func parseDeltaSeconds(v string) (time.Duration, error) {
	v, _, _ = strings.Cut(v, ";")
	n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("%q is not a positive number of seconds", strings.TrimSpace(v))
	}
	return time.Duration(n) * time.Second, nil
}

// seconds writes a duration as whole seconds, for a header.
func seconds(d time.Duration) string { return strconv.Itoa(int(d / time.Second)) }
