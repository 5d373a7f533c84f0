package config

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Debounce is how long the watcher waits after the last change to the
// file before it reads it: editors write a file in several steps.
const Debounce = 200 * time.Millisecond

// Watcher reloads the config file when it changes, or when asked (on
// SIGHUP). A valid file goes to apply; a broken one goes to failed, and the
// running config stays as it was.
//
// apply and failed are called from Run's goroutine, one at a time; they
// say what came of a reload (the logger's lines are the watcher's own
// trouble), so that a reload is logged once, by whoever put it in force.
type Watcher struct {
	path     string
	logger   *slog.Logger
	apply    func(*Config)
	failed   func(error)
	reload   chan struct{}
	debounce time.Duration
	last     [sha256.Size]byte // the content last read, applied or not
	fw       *fsnotify.Watcher // set by Start
}

// NewWatcher prepares a watcher of the file at path; Run starts it. The
// caller has loaded the file already: the watcher reports changes only.
// A nil logger logs nothing.
func NewWatcher(path string, logger *slog.Logger, apply func(*Config), failed func(error)) *Watcher {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Watcher{
		path: path, logger: logger, apply: apply, failed: failed,
		reload: make(chan struct{}, 1), debounce: Debounce,
	}
}

// Reload asks Run to read the file now, even if it looks unchanged. It
// does not wait; several requests before Run gets to them make one reload.
func (w *Watcher) Reload() {
	select {
	case w.reload <- struct{}{}:
	default:
	}
}

// Start begins watching, synchronously, so that an edit made as soon as
// Start returns is seen; call it right after loading the file, then Run.
// It returns an error when it cannot watch the file's folder at all.
//
// It watches the folder rather than the file: editors and config
// management replace a file by renaming a new one over it, which a watch
// on the file itself would lose.
func (w *Watcher) Start() error {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("config: watching %s: %w", w.path, err)
	}
	dir := filepath.Dir(w.path)
	if err := fw.Add(dir); err != nil {
		fw.Close()
		return fmt.Errorf("config: watching folder %s: %w", dir, err)
	}
	if data, err := os.ReadFile(w.path); err == nil {
		w.last = sha256.Sum256(data)
	}
	w.fw = fw
	return nil
}

// Run watches until ctx ends, then returns nil. It calls Start first if
// the caller has not.
func (w *Watcher) Run(ctx context.Context) error {
	if w.fw == nil {
		if err := w.Start(); err != nil {
			return err
		}
	}
	fw := w.fw
	defer fw.Close()
	base := filepath.Base(w.path)

	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-fw.Events:
			if !ok {
				return nil
			}
			// "..data" is how Kubernetes swaps a mounted ConfigMap.
			if name := filepath.Base(ev.Name); name == base || strings.HasPrefix(name, "..") {
				timer.Reset(w.debounce)
			}
		case err, ok := <-fw.Errors:
			if !ok {
				return nil
			}
			w.logger.Warn("config watcher", "file", w.path, "err", err)
		case <-timer.C:
			w.load(false)
		case <-w.reload:
			timer.Stop()
			w.load(true)
		}
	}
}

// load reads and parses the file. Unless forced, a file whose content did
// not change is left alone (editors touch files without changing them).
func (w *Watcher) load(force bool) {
	data, err := os.ReadFile(w.path)
	if err != nil {
		w.failed(Errors{{File: w.path, Msg: "cannot read the file: " + unwrapPathError(err), Fix: "the running config stays until the file is back"}})
		return
	}
	sum := sha256.Sum256(data)
	if !force && bytes.Equal(sum[:], w.last[:]) {
		return
	}
	w.last = sum
	c, err := Parse(w.path, data)
	if err != nil {
		w.failed(err)
		return
	}
	w.apply(c)
}

// Watch runs a Watcher until ctx ends. A failure to start watching goes
// to failed. It blocks: start it in its own goroutine.
func Watch(ctx context.Context, path string, logger *slog.Logger, apply func(*Config), failed func(error)) {
	if err := NewWatcher(path, logger, apply, failed).Run(ctx); err != nil {
		failed(err)
	}
}
