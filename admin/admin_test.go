package admin_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/clubline/clubline/admin"
	"github.com/clubline/clubline/metrics"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestEndpoints(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg)
	if err != nil {
		t.Fatal(err)
	}
	m.ActiveCalls.Set(3)
	storeErr := errors.New("redis: connection refused")
	var storeDown atomic.Bool
	srv := admin.New(admin.Options{
		Listen:   "127.0.0.1:0",
		Gatherer: reg,
		Checks: map[string]admin.Check{
			"sip": func(context.Context) (string, error) { return "", nil },
			"store": func(context.Context) (string, error) {
				if storeDown.Load() {
					return "", storeErr
				}
				return "redis", nil
			},
		},
	})
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	base := "http://" + srv.Addr()

	if code, body := get(t, base+"/healthz"); code != 200 || !strings.Contains(body, "ok") {
		t.Errorf("healthz = %d %q", code, body)
	}
	if code, body := get(t, base+"/metrics"); code != 200 || !strings.Contains(body, "clubline_active_calls 3") {
		t.Errorf("metrics = %d, missing active calls gauge:\n%s", code, body)
	}
	if code, body := get(t, base+"/readyz"); code != 200 || !strings.Contains(body, "store: ok (redis)") {
		t.Errorf("readyz = %d %q", code, body)
	}
	storeDown.Store(true)
	if code, body := get(t, base+"/readyz"); code != 503 || !strings.Contains(body, "store: not ready: redis: connection refused") {
		t.Errorf("readyz with store down = %d %q", code, body)
	}
}

func TestMetricsRegisterTwiceFails(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := metrics.New(reg); err != nil {
		t.Fatal(err)
	}
	if _, err := metrics.New(reg); err == nil {
		t.Fatal("registering clubline's metrics twice on one registry should fail, not be forgiven")
	}
}
