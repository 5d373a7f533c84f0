package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/clubline/clubline/internal/smtpsink"
	"github.com/clubline/clubline/softphone"
)

// The office's page in a real browser (Debian's chromium, headless,
// driven by chromedp): marie signs in, sees the message a caller just
// left, plays it (the audio element loads it and knows its length), marks
// it done and sees it leave the list while clubline_followups_open
// falls; then she closes the line with the override switch and the next
// caller hears that the office is closed. A screenshot of each page is
// kept under $CLUBLINE_ARTIFACTS (default: a folder in the system's temp
// folder), for CI to keep.
func TestBrowserOffice(t *testing.T) {
	chromium := requireChromium(t)
	sink := smtpsink.Start(t)
	l := startOffice(t, openTuesday, sink, nil)
	c := l.dial(softphone.Options{})
	l.leaveMessage(c, 2*time.Second)
	_ = c.Hangup(context.Background())
	l.awaitMetric("clubline_followups_open", 1)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	vms, err := l.m.Store.FollowUps(ctx, time.Time{})
	if err != nil || len(vms) != 1 {
		t.Fatalf("follow-ups: %v %v", vms, err)
	}
	id := vms[0].VoicemailID

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.Flag("headless", true), chromedp.Flag("disable-gpu", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"), chromedp.WindowSize(1100, 900))
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	defer acancel()
	b, bcancel := chromedp.NewContext(actx)
	defer bcancel()
	base := "http://" + l.m.Admin.Addr()
	shots := artifacts(t)
	shot := func(name string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100: a PNG
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644)
		})
	}
	msg := chromedp.ID("msg-" + id)

	// Signing in.
	err = chromedp.Do(b,
		chromedp.Navigate(base+"/messages"), // sent to the sign-in page first
		chromedp.WaitVisible(chromedp.ID("user")),
		shot("login"),
		chromedp.SendKeys(chromedp.ID("user"), "marie"),
		chromedp.SendKeys(chromedp.ID("password"), "marie-pw-1"),
		chromedp.Click(chromedp.ID("signin")),
		chromedp.WaitVisible(msg), // back where she was going
		shot("messages"),
	)
	if err != nil {
		t.Fatalf("signing in and seeing the message: %v", err)
	}

	// Playing the message: the element loads the WAV over range requests
	// and reports its length.
	duration, err := chromedp.Run(b, chromedp.Evaluate[float64](`(async () => {
			const a = document.querySelector("#msg-`+id+` audio");
			await a.play();
			await new Promise(r => setTimeout(r, 500));
			return a.paused ? -1 : a.duration;
		})()`, chromedp.EvalAwaitPromise))
	if err != nil || duration < 1.5 || duration > 10 {
		t.Errorf("playing the message: duration %.2f s, err %v (want about the 2 s message and more)", duration, err)
	}

	// Marking it done: it leaves the list, and the count falls.
	err = chromedp.Do(b,
		chromedp.SendKeys(chromedp.CSS("#msg-"+id+" input[data-note]"), "rappelé, c'est réglé"),
		chromedp.Click(chromedp.CSS("#msg-"+id+" button[data-action=done]")),
		chromedp.WaitNotPresent(msg),
		chromedp.Navigate(base+"/messages"),
		chromedp.WaitVisible(chromedp.ID("empty")),
	)
	if err != nil {
		t.Fatalf("marking the message done: %v", err)
	}
	l.awaitMetric("clubline_followups_open", 0)
	v, err := l.m.Store.Voicemail(ctx, id)
	if err != nil || v.DoneBy != "marie" || len(v.Notes) != 1 || v.Notes[0].Text != "rappelé, c'est réglé" {
		t.Errorf("the message after done: %+v %v", v, err)
	}

	// The calls page, then the override switch on the Now page.
	err = chromedp.Do(b,
		chromedp.Navigate(base+"/calls"),
		chromedp.WaitVisible(chromedp.CSS("table.calls")),
		shot("calls"),
		chromedp.Navigate(base+"/now"),
		chromedp.WaitVisible(chromedp.ID("override-closed")),
		chromedp.Click(chromedp.ID("override-closed")),
		chromedp.WaitVisible(chromedp.CSS("#state.is-closed")),
		shot("now"),
		chromedp.Navigate(base+"/recordings"),
		chromedp.WaitReady(chromedp.CSS("body")),
		shot("recordings"),
	)
	if err != nil {
		t.Fatalf("the override switch: %v", err)
	}
	c = l.dial(softphone.Options{})
	l.awaitHeard(c, "fr", "closed", 10*time.Second)
	t.Logf("screenshots in %s", shots)
}

// requireChromium skips the test unless interop tests are asked for, and
// fails it if they are but chromium is missing.
func requireChromium(t *testing.T) string {
	t.Helper()
	if os.Getenv("CLUBLINE_TEST_INTEROP") != "1" {
		t.Skip("set CLUBLINE_TEST_INTEROP=1 (needs chromium: apt-get install chromium); .ci/run does")
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("CLUBLINE_TEST_INTEROP=1 but chromium is not on the PATH: install it with `apt-get install chromium` (Debian)")
	return ""
}

// artifacts is the folder screenshots go to: $CLUBLINE_ARTIFACTS/<test>,
// else one in the system's temp folder. It is kept after the test.
func artifacts(t *testing.T) string {
	root := os.Getenv("CLUBLINE_ARTIFACTS")
	if root == "" {
		root = filepath.Join(os.TempDir(), "clubline-artifacts")
	}
	dir := filepath.Join(root, fmt.Sprintf("%s-%d", t.Name(), time.Now().Unix()))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}
