package interop_test

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/internal/redistest"
	"github.com/clubline/clubline/interop/cluster"
	"github.com/clubline/clubline/softphone"
	redisstore "github.com/clubline/clubline/store/redis"
)

// The line on two instances behind Kamailio's dispatcher (the shipped
// deploy/kamailio config), sharing one Redis: four staff phones register
// through the proxy, twenty callers arrive one after the other, spread by
// the proxy over both instances, and wait in the office's line. No staff
// phone is ever rung for two callers at once, callers reach staff in the
// order they arrived whichever instance carries them, and when one
// instance is killed (-9) mid-run, the calls it carried drop but new calls
// are answered by the other, and every call that finished has its record
// in Redis.

const (
	clusterStaff    = 4
	clusterCallers  = 20
	clusterAfter    = 5 // callers placed after the kill
	clusterKillAt   = 18
	clusterTalk     = 3 * time.Second // each staff member hangs up after
	clusterArriving = 500 * time.Millisecond
	clusterPrefix   = "clubline-cluster-test:"
	clusterPassword = "cluster-test-password"
)

func clusterConfig(redisURL, name string) func(l *line) string {
	return func(l *line) string {
		var staff, members []string
		for i := range clusterStaff {
			id := fmt.Sprintf("staff%d", i+1)
			staff = append(staff, fmt.Sprintf(`  - { id: %s, name: Staff %d, extension: "20%d", password_env: CLUSTER_STAFF_PASSWORD }`, id, i+1, i+1))
			members = append(members, id)
		}
		return fmt.Sprintf(`club:
  name: Club de Soccer Roussillon
  timezone: America/Toronto
  languages: [fr]
sip:
  listen: [udp://127.0.0.1:%d]
  rtp_ports: 20000-29999
  rtp_timeout: 30s
  numbers: ["%s"]
  max_calls: 40
hours:
  weekly:
    mon-fri: 08:30-16:30
  override: open
menu:
  timeout: 1s
  retries: 0
  default: office
  options:
    - { key: "1", category: registrations, route: office }
voicemail:
  dir: %s
store:
  redis_url: %s
  key_prefix: "%s"
  data_dir: %s
cluster:
  enabled: true
  instance: %s
http:
  listen: %s
staff:
%s
groups:
  - { id: office, members: [%s], strategy: longest-idle, ring_timeout: 10s, max_wait: 1m, announce_every: 0s }
`, l.sipPort, clubNumber, l.dir+"/voicemail", redisURL, clusterPrefix, l.dataDir, name, l.httpAddr,
			strings.Join(staff, "\n"), strings.Join(members, ", "))
	}
}

// clusterCaller is one caller's call as the test saw it.
type clusterCaller struct {
	number   string
	instance int // the SIP port of the instance that answered
	after    bool
	err      error
	endedBy  string
}

func TestClusterTwoInstancesBehindKamailio(t *testing.T) {
	requireTool(t, "kamailio", "kamailio")
	requireTool(t, "redis-server", "redis-server")
	redisURL := "redis://" + redistest.Start(t, 0, t.TempDir(), true).Addr() + "/0"

	env := []string{"CLUSTER_STAFF_PASSWORD=" + clusterPassword}
	a := startClubline(t, lineOptions{config: clusterConfig(redisURL, "a"), env: env})
	b := startClubline(t, lineOptions{config: clusterConfig(redisURL, "b"), env: env})
	proxy := cluster.Start(t, cluster.Options{Instances: []string{a.sipAddr(), b.sipAddr()}})

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	// Four staff phones register through the proxy and hang up each call
	// after clusterTalk.
	var phones []*softphone.Answerer
	var answeredMu sync.Mutex
	answered := map[string]string{} // caller number → staff phone
	for i := range clusterStaff {
		ext := fmt.Sprintf("20%d", i+1)
		ph, err := softphone.Listen(ctx, softphone.AnswerOptions{User: ext, Delay: 300 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ph.Close() })
		phones = append(phones, ph)
		// From the phone's own socket, as a real phone does: the proxy's
		// Path names where the REGISTER came from.
		_, err = ph.Register(ctx, "sip:"+proxy.Addr(), softphone.RegisterOptions{
			User: ext, Password: clusterPassword, Expires: 10 * time.Minute,
		})
		if err != nil {
			t.Fatalf("staff %s does not register through the proxy: %v", ext, err)
		}
		go func() {
			for c := range ph.Calls() {
				go func() {
					from := ""
					if f := c.Invite().From(); f != nil {
						from = f.Address.User
					}
					answeredMu.Lock()
					answered[from] = ext
					answeredMu.Unlock()
					select {
					case <-time.After(clusterTalk):
						_ = c.Hangup(ctx)
					case <-c.Done():
					}
				}()
			}
		}()
	}
	// Both instances see the four phones, whichever one took each REGISTER.
	for _, l := range []*line{a, b} {
		if err := l.waitMetric("clubline_staff_registered", clusterStaff, 10*time.Second, nil); err != nil {
			t.Fatal(err)
		}
	}

	callers := make([]*clusterCaller, clusterCallers+clusterAfter)
	var wg sync.WaitGroup
	call := func(i int, after bool) {
		cc := &clusterCaller{number: fmt.Sprintf("+1514555%04d", 1000+i), after: after}
		callers[i] = cc
		wg.Go(func() {
			c, err := softphone.Dial(ctx, "sip:"+clubNumber+"@"+proxy.Addr(), softphone.Options{
				From: cc.number, LocalIP: netip.MustParseAddr("127.0.0.1"), RTPTimeout: 8 * time.Second,
			})
			if err != nil {
				cc.err = err
				return
			}
			if ct := c.Response().Contact(); ct != nil {
				cc.instance = ct.Address.Port
			}
			_ = c.SendDigit(ctx, '1') // the office, typed ahead during the greeting
			select {
			case <-c.Done():
			case <-ctx.Done():
				_ = c.Hangup(context.Background())
			}
			cc.endedBy = c.EndedBy()
		})
	}
	for i := range clusterCallers {
		if i == clusterKillAt {
			a.proc.cmd.Process.Kill() // kill -9, mid-run
			t.Logf("instance a (%s) killed after %d callers", a.sipAddr(), i)
		}
		call(i, i >= clusterKillAt)
		time.Sleep(clusterArriving)
	}
	for i := clusterCallers; i < clusterCallers+clusterAfter; i++ {
		call(i, true)
		time.Sleep(clusterArriving)
	}
	wg.Wait()
	answeredMu.Lock()
	answeredBy := maps.Clone(answered)
	answeredMu.Unlock()

	// No staff phone rang for two callers at once.
	for i, ph := range phones {
		if n := ph.MostAtOnce(); n > 1 {
			t.Errorf("staff phone 20%d was rung for %d callers at once", i+1, n)
		}
	}
	// Every caller after the kill reached a person through instance b,
	// and before it, every caller on b did.
	onB := 0
	for _, cc := range callers {
		switch {
		case cc.err != nil && cc.after:
			t.Errorf("caller %s, after the kill: %v", cc.number, cc.err)
		case cc.err != nil:
			t.Errorf("caller %s: %v", cc.number, cc.err)
		case cc.instance == b.sipPort:
			onB++
			if answeredBy[cc.number] == "" || !strings.HasPrefix(cc.endedBy, "remote") {
				t.Errorf("caller %s on b: answered by %q, ended by %s; want a staff member, then the line's BYE", cc.number, answeredBy[cc.number], cc.endedBy)
			}
		case cc.after:
			t.Errorf("caller %s placed after a was killed was answered by %d, not b (%d)", cc.number, cc.instance, b.sipPort)
		}
	}
	if onB == 0 || onB == len(callers) {
		t.Errorf("%d of %d callers on b: the proxy did not spread the calls", onB, len(callers))
	}

	// Every finished call has its record in Redis; callers reached staff
	// in the order they joined the line, across both instances.
	b.stop()
	st, err := redisstore.New(redisstore.Options{URL: redisURL, KeyPrefix: clusterPrefix})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	recs, err := st.Calls(context.Background(), time.Now().Add(-time.Hour), time.Now().Add(time.Hour), 1000)
	if err != nil {
		t.Fatal(err)
	}
	byNumber := map[string]*clubline.Call{}
	for _, r := range recs {
		byNumber[r.From] = r
	}
	var queued []*clubline.Call
	finishedOnA, waited := 0, 0
	for _, cc := range callers {
		if !strings.HasPrefix(cc.endedBy, "remote") {
			continue // dropped with instance a: no record to expect
		}
		r := byNumber[cc.number]
		if r == nil {
			t.Errorf("caller %s finished, but no record of the call in Redis", cc.number)
			continue
		}
		if r.Outcome != clubline.OutcomeAnswered || r.AnsweredBy == "" {
			t.Errorf("caller %s: record says %s, answered by %q", cc.number, r.Outcome, r.AnsweredBy)
		}
		queued = append(queued, r)
		if cc.instance == a.sipPort {
			finishedOnA++
		}
		if r.Wait > time.Second {
			waited++
		}
	}
	// The run means something: a carried calls to their end before it
	// died, and callers queued behind busy staff.
	if finishedOnA == 0 || waited < 3 {
		t.Errorf("%d calls finished on a before the kill, %d callers waited over 1s: want some of each", finishedOnA, waited)
	}
	sort.Slice(queued, func(i, j int) bool { return queued[i].QueuedAt.Before(queued[j].QueuedAt) })
	const jitter = 250 * time.Millisecond // answers of the same round come within the phones' timing
	for i := range queued {
		for j := i + 1; j < len(queued); j++ {
			if queued[j].AnsweredAt.Add(jitter).Before(queued[i].AnsweredAt) && queued[j].QueuedAt.Sub(queued[i].QueuedAt) > 100*time.Millisecond {
				t.Errorf("caller %s (queued %s) reached staff at %s, before %s (queued earlier, %s, answered %s)",
					queued[j].From, queued[j].QueuedAt.Format("15:04:05.000"), queued[j].AnsweredAt.Format("15:04:05.000"),
					queued[i].From, queued[i].QueuedAt.Format("15:04:05.000"), queued[i].AnsweredAt.Format("15:04:05.000"))
			}
		}
	}
	if len(queued) < clusterAfter+1 {
		t.Errorf("only %d finished calls", len(queued))
	}
	if t.Failed() {
		for _, l := range proxy.Log() {
			if strings.Contains(l, "REFUSE") || strings.Contains(l, "DOWN") {
				t.Logf("proxy: %s", l)
			}
		}
		for i, r := range recs {
			if i < 3 {
				t.Logf("record of %s: %s, trace:\n%s", r.From, r.Outcome, strings.Join(r.Trace, "\n"))
			}
		}
	}
	t.Logf("%d callers: %d on b, %d finished with a record (%d on a), %d waited over 1s; most at once per phone: %v", len(callers), onB, len(queued), finishedOnA, waited,
		slices.Collect(func(yield func(int) bool) {
			for _, ph := range phones {
				if !yield(ph.MostAtOnce()) {
					return
				}
			}
		}))
}
