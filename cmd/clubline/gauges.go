package main

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"time"

	"github.com/clubline/clubline/metrics"
)

// The gauges the dashboard and the alerts read about the line as a whole
// (docs/metrics.md): whether the office is open and who in each group can
// be rung, read at each scrape (metrics.Line), so that they follow a
// registration, an expiry, a reload or the web page's switch at once; the
// free space of voicemail.dir's disk and the menu's categories at 0, every
// gaugeEvery.

// gaugeEvery is how often the voicemail disk is looked at.
const gaugeEvery = 30 * time.Second

// startGauges registers the line's state and keeps the periodic gauges
// up to date until ctx ends. A clash in the registry (a bug) is logged:
// the line answers calls all the same.
func (m *Main) startGauges(ctx context.Context) {
	if _, err := metrics.NewLine(m.Registry, m.lineState); err != nil {
		m.Logger.Error("clubline_open and clubline_group_staff_registered are not exported", "err", err)
	}
	m.updateGauges()
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		t := time.NewTicker(gaugeEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				m.updateGauges()
			}
		}
	}()
}

// lineState is the office's state now, for a scrape.
func (m *Main) lineState() metrics.LineState {
	cfg := m.current.Load()
	s := metrics.LineState{
		Open:       m.schedule(cfg).At(m.Now()).Open,
		Registered: make(map[string]int, len(cfg.Groups)),
	}
	registered := map[string]bool{}
	if m.Registrar != nil {
		for _, r := range m.Registrar.Bindings("") {
			registered[r.StaffID] = true
		}
	}
	for _, g := range cfg.Groups {
		n := 0
		for _, id := range g.Members {
			if registered[id] {
				n++
			}
		}
		s.Registered[g.ID] = n
	}
	return s
}

// updateGauges sets the voicemail disk's free space and makes the series
// of the menu's categories (of the config in force) exist.
func (m *Main) updateGauges() {
	cfg := m.current.Load()
	var cats []string
	for _, o := range cfg.Menu.Options {
		if o.Category != "" {
			cats = append(cats, o.Category)
		}
	}
	m.Metrics.Categories(cats...)

	free, size, err := diskSpace(cfg.Voicemail.Dir)
	if err != nil {
		m.Logger.Warn("cannot read the free space of voicemail.dir's disk: clubline_voicemail_disk_free_ratio is not updated",
			"dir", cfg.Voicemail.Dir, "err", err)
		return
	}
	m.Metrics.VoicemailDisk(free, size)
}

// diskSpace is the space free to clubline and the size of the filesystem
// holding dir, or its nearest existing parent (the folder is made with the
// first message).
func diskSpace(dir string) (free, size uint64, err error) {
	dir, err = filepath.Abs(dir)
	if err != nil {
		return 0, 0, err
	}
	for {
		free, size, err = statfs(dir)
		parent := filepath.Dir(dir)
		if !errors.Is(err, fs.ErrNotExist) || parent == dir {
			return free, size, err
		}
		dir = parent
	}
}
