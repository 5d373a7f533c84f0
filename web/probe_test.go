package web_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/clubline/clubline/audit"
	"github.com/clubline/clubline/web"
)

// POST /api/probe: the probe's bearer token or an admin's session, and
// nothing else.
func TestProbeRoute(t *testing.T) {
	f := newFixture(t)
	anon := f.client(t)
	if code, b, _ := anon.do("POST", "/api/probe", nil); code != http.StatusUnauthorized {
		t.Errorf("no auth: %d %s, want 401", code, b)
	}
	for _, h := range []string{"Bearer wrong", "Bearer " + probeToken + "x", "Basic " + probeToken, probeToken, "Bearer "} {
		if code, b, _ := anon.do("POST", "/api/probe", nil, "Authorization", h); code != http.StatusUnauthorized {
			t.Errorf("Authorization %q: %d %s, want 401", h, code, b)
		}
	}
	// The token opens this route only.
	if code, _, _ := anon.do("GET", "/api/status", nil, "Authorization", "Bearer "+probeToken); code != http.StatusUnauthorized {
		t.Errorf("the probe token on /api/status: %d, want 401", code)
	}
	if code, _, _ := anon.do("POST", "/api/override", map[string]string{"mode": "open"}, "Authorization", "Bearer "+probeToken); code != http.StatusUnauthorized {
		t.Errorf("the probe token on /api/override: %d, want 401", code)
	}
	if n := f.probeCount(); n != 0 {
		t.Fatalf("%d probes placed without the right to", n)
	}

	code, b, _ := anon.do("POST", "/api/probe", nil, "Authorization", "Bearer "+probeToken)
	var res web.ProbeResult
	if code != http.StatusOK || json.Unmarshal(b, &res) != nil || !res.OK || res.Summary != "result: success\n" || len(res.Heard) != 1 {
		t.Errorf("with the token: %d %s", code, b)
	}

	luc := f.client(t)
	luc.login("luc", "luc-secret")
	if code, b, _ := luc.do("POST", "/api/probe", nil); code != http.StatusForbidden {
		t.Errorf("luc, not an admin: %d %s, want 403", code, b)
	}
	marie := f.client(t)
	marie.login("marie", "marie-secret")
	csrf := marie.csrf
	marie.csrf = ""
	if code, _, _ := marie.do("POST", "/api/probe", nil); code != http.StatusForbidden {
		t.Errorf("marie without her CSRF token: %d, want 403", code)
	}
	marie.csrf = csrf
	if code, b, _ := marie.do("POST", "/api/probe", nil); code != http.StatusOK {
		t.Errorf("marie, an admin: %d %s, want 200", code, b)
	}
	if n := f.probeCount(); n != 2 {
		t.Errorf("%d probes placed, want 2", n)
	}

	entries, err := f.audit.Entries(func(e audit.Entry) bool { return e.Action == audit.ActionProbe })
	if err != nil || len(entries) != 2 {
		t.Fatalf("audit: %v %v, want the two probes", entries, err)
	}
	if entries[0].User != "" || entries[0].Detail != "by the probe token; success" || entries[1].User != "marie" || entries[1].Detail != "success" {
		t.Errorf("audit entries: %+v", entries)
	}
}

func (f *fixture) probeCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.probes
}

// The Now page offers the mystery call to admins only.
func TestProbeButton(t *testing.T) {
	f := newFixture(t)
	marie, luc := f.client(t), f.client(t)
	marie.login("marie", "marie-secret")
	luc.login("luc", "luc-secret")
	if code, b, _ := marie.do("GET", "/now", nil); code != http.StatusOK || !bytes.Contains(b, []byte(`id="probe-now"`)) {
		t.Errorf("marie's Now page: %d, want the probe's button", code)
	}
	if code, b, _ := luc.do("GET", "/now", nil); code != http.StatusOK || bytes.Contains(b, []byte(`id="probe-now"`)) {
		t.Errorf("luc's Now page: %d, want no probe button", code)
	}
}
