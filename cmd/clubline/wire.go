package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/admin"
	"github.com/clubline/clubline/audit"
	"github.com/clubline/clubline/config"
	"github.com/clubline/clubline/ivr"
	"github.com/clubline/clubline/metrics"
	"github.com/clubline/clubline/notify"
	"github.com/clubline/clubline/probe"
	"github.com/clubline/clubline/prompts"
	"github.com/clubline/clubline/routing"
	"github.com/clubline/clubline/sip"
	"github.com/clubline/clubline/sip/registrar"
	"github.com/clubline/clubline/sip/trunk"
	"github.com/clubline/clubline/store/embedded"
	"github.com/clubline/clubline/store/redis"
	"github.com/clubline/clubline/store/spool"
	"github.com/clubline/clubline/vmdir"
	"github.com/clubline/clubline/web"
)

// Main is clubline wired together: the config file, the store, the prompts,
// the call script, the SIP server and the HTTP server. `clubline serve`
// runs one, and so do the end-to-end tests (on port 0).
type Main struct {
	ConfigPath string
	Logger     *slog.Logger
	// Now is the clock the call script reads the schedule with, and the
	// retention purge the age of records (tests set it to a chosen
	// moment). Default: time.Now.
	Now func() time.Time
	// TuneRegistrar, when set, may change the registrar's options before
	// it starts (tests shorten the registration bounds and the pings).
	TuneRegistrar func(*registrar.Options)
	// TrunkTiming, when set, shortens the trunks' retries (tests).
	TrunkTiming trunk.Timing
	// FollowUpEvery, when set, is how often the open follow-ups are looked
	// at for reminders and escalations (default a minute; tests shorten it).
	FollowUpEvery time.Duration
	// ProbeEvery, when set, is the time between probes, whatever the
	// probe section's schedule (tests shorten it).
	ProbeEvery time.Duration
	// TuneProbe, when set, may change a probe's options before it runs
	// (tests make it expect what the line does not say).
	TuneProbe func(*probe.Options)

	// Set by Start.
	Config   *config.Config // the config in force at start-up
	Registry *prometheus.Registry
	Metrics  *metrics.Metrics
	Store    *spool.Spool
	SIP      *sip.Server
	Admin    *admin.Server
	// Registrar is the staff phones' registrar; nil when the config names
	// no staff.
	Registrar *registrar.Registrar
	// Web is the office's page and its API, served on http.listen.
	Web *web.Server
	// Audit is the audit log: sign-ins, listens, changes (Law 25).
	Audit *audit.Log

	acd              *routing.ACD                  // the queues' state, shared by every config snapshot
	trunkStats       *metrics.Trunks               // the trunks' collectors (trunks.go)
	callbacks        *ivr.Callbacks                // queued callbacks, shared by every config snapshot
	script           atomic.Pointer[ivr.Script]    // the snapshot new calls take
	current          atomic.Pointer[config.Config] // the config in force (the retention purge reads it)
	retentionChanged chan struct{}                 // cap 1: a reload changed the retention limits
	prompts          atomic.Pointer[prompts.Set]   // the prompts in force but the club's recordings (recordings.go)
	synth            *prompts.Synth                // says the club-naming prompts for club.name
	recs             *prompts.Recordings           // the club's own recordings
	rebuildMu        sync.Mutex                    // one rebuild of the script at a time: reload, recording, override
	msgMu            sync.Mutex                    // held from reading a message to saving it, by every writer (web, reminders, script)
	override         atomic.Pointer[overrideState] // the web page's switch (office.go); nil: never set
	users            atomic.Pointer[map[string]web.User]
	outbox           *notify.Outbox       // e-mails and the webhook (notify.go); nil when neither is configured
	email            bool                 // the outbox has a mail server
	mwi              func(staff []string) // updates the message lights of staff phones; nil: none
	backend          string               // "redis" or "embedded"
	redis            *redis.Store         // the Redis store, when the backend is Redis
	cluster          *cluster             // this instance among the line's (cluster.go)
	leader           atomic.Bool          // this instance runs the schedulers (cluster.go)
	probeToken       string               // marks the line's own probe calls (probe.go)
	probeMu          sync.Mutex           // one probe at a time
	watcher          *config.Watcher
	stop             context.CancelFunc
	wg               sync.WaitGroup
}

// Start loads the config and brings everything up; on error nothing is
// left running.
func (m *Main) Start(ctx context.Context) (err error) {
	if m.Logger == nil {
		m.Logger = slog.Default()
	}
	if m.Now == nil {
		m.Now = time.Now
	}
	cfg, set, data, err := loadConfig(m.ConfigPath)
	var brokenFile error // the file's errors, when starting from the last good copy
	if err != nil {
		var lerr error
		if cfg, set, _, lerr = loadConfig(lastGoodPath(m.ConfigPath)); lerr != nil {
			return err
		}
		brokenFile = err
		m.Logger.Error("the config file has mistakes: clubline starts with the last good copy of it, and applies the file as soon as it is fixed\n"+err.Error(),
			"config", m.ConfigPath, "last_good", lastGoodPath(m.ConfigPath))
	} else {
		m.saveLastGood(data)
	}
	m.Config = cfg
	m.current.Store(cfg)
	var cleanups []func()
	defer func() {
		if err != nil {
			for i := len(cleanups) - 1; i >= 0; i-- {
				cleanups[i]()
			}
		}
	}()

	m.Registry = prometheus.NewRegistry()
	m.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if m.Metrics, err = metrics.New(m.Registry); err != nil {
		return err
	}
	m.Metrics.ConfigLoaded.SetToCurrentTime()
	if brokenFile != nil {
		m.Metrics.ConfigReloaded(false)
	}

	if m.Store, err = m.openStore(cfg); err != nil {
		return err
	}
	cleanups = append(cleanups, func() { m.Store.Close() })
	m.recoverVoicemails(ctx, cfg) // before any call records, and before the count
	m.countFollowUps(ctx)
	m.loadOverride(ctx, cfg)
	if err = m.openRecordings(cfg); err != nil {
		return fmt.Errorf("%s: %w", m.ConfigPath, err)
	}
	m.prompts.Store(m.basePrompts(cfg, set))
	users := m.webUsers(cfg)
	m.users.Store(&users)
	if m.Audit, err = audit.Open(filepath.Join(cfg.Store.DataDir, "audit.jsonl")); err != nil {
		return fmt.Errorf("%s: store.data_dir: %w", m.ConfigPath, err)
	}
	cleanups = append(cleanups, func() { m.Audit.Close() })
	if m.outbox, err = m.newOutbox(cfg); err != nil {
		return fmt.Errorf("%s: %w", m.ConfigPath, err)
	}
	if m.outbox != nil {
		cleanups = append(cleanups, func() { m.outbox.Close() })
	}
	if err = m.openCluster(cfg, m.redis); err != nil { // cluster.go: the queues' state
		return fmt.Errorf("%s: %w", m.ConfigPath, err)
	}
	m.callbacks = ivr.NewCallbacks()
	if m.Registrar, err = m.newRegistrar(cfg); err != nil {
		return fmt.Errorf("%s: staff: %w", m.ConfigPath, err)
	}
	if m.Registrar != nil {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if rerr := m.Registrar.Restore(rctx); rerr != nil {
			m.Logger.Warn("staff registrations could not be read from the store: phones are found again as they refresh", "error", rerr)
		}
		cancel()
	}

	m.probeToken = m.newProbeToken(cfg) // probe.go
	trunks, err := newTrunks(cfg)       // trunks.go
	if err != nil {
		return fmt.Errorf("%s: trunks: %w", m.ConfigPath, err)
	}
	roots, err := trunkRoots(cfg)
	if err != nil {
		return fmt.Errorf("%s: %w", m.ConfigPath, err)
	}
	if err = m.trunkMetrics(trunks); err != nil {
		return err
	}
	m.SIP, err = sip.NewServer(sip.Options{
		Listen:         listenURIs(cfg.SIP.Listen),
		PublicAddress:  cfg.SIP.PublicAddress,
		STUN:           cfg.SIP.STUN,
		RTPPortMin:     cfg.SIP.RTPPorts.Min,
		RTPPortMax:     cfg.SIP.RTPPorts.Max,
		RTPTimeout:     cfg.SIP.RTPTimeout,
		Numbers:        cfg.AnsweredNumbers(),
		StaffCodes:     staffCodes(cfg),
		ProbeToken:     m.probeToken,
		Trunks:         trunks,
		AllowFrom:      cfg.SIP.AllowFrom,
		TrunkTiming:    m.TrunkTiming,
		OnTrunkRefused: m.trunkStats.Refused,
		TLSCertFile:    cfg.SIP.TLS.CertFile,
		TLSKeyFile:     cfg.SIP.TLS.KeyFile,
		TLSRootCAs:     roots,
		MaxCalls:       cfg.SIP.MaxCalls,
		Handle:         func(ctx context.Context, in ivr.Inbound) { m.script.Load().Run(ctx, in) },
		OnUnstarted:    func(c clubline.Call) { m.script.Load().Unstarted(c) },
		OnAwaitingAck:  func(delta int) { m.Metrics.CallsAwaitingAck.Add(float64(delta)) },
		OnRejected: func(c clubline.Call, status int) {
			m.Metrics.SIPRejected.WithLabelValues(strconv.Itoa(status)).Inc()
			m.script.Load().Rejected(c)
		},
		Logger:    m.Logger,
		Registrar: m.Registrar,
		Mailbox:   m.mailboxSource(),
		UnsolicitedMWI: func(staff string) bool {
			for _, s := range m.current.Load().Staff {
				if s.ID == staff {
					return s.MWI == config.MWIUnsolicited
				}
			}
			return false
		},
		Limits: m.sipLimits(cfg, trunks),

		TCPIdleTimeout:          cfg.SIP.Limits.TCPIdleTimeout,
		TCPMaxPerSource:         cfg.SIP.Limits.TCPPerSource,
		MaxAwaitingAck:          cfg.SIP.Limits.AwaitingAck,
		MaxAwaitingAckPerSource: cfg.SIP.Limits.AwaitingAckPerSource,
	})
	if err != nil {
		return fmt.Errorf("%s: sip: %w", m.ConfigPath, err)
	}
	m.script.Store(m.newScript(cfg, m.composed()))
	m.warnClub(cfg)
	if m.Registrar != nil {
		m.mwi = func(staff []string) { m.SIP.MailboxChanged(staff...) }
	}
	m.countRegistered()
	if err = m.SIP.Start(ctx); err != nil {
		return fmt.Errorf("%s: sip.listen: %w", m.ConfigPath, err)
	}
	cleanups = append(cleanups, func() { m.SIP.Close() })
	m.mailboxChanged(cfg, &clubline.Voicemail{}) // phones whose registrations were restored learn the state

	m.Web = web.New(web.Options{
		Store:        m.Store,
		Users:        func() map[string]web.User { return *m.users.Load() },
		Audit:        m.Audit,
		Status:       m.officeStatus,
		SetOverride:  m.setOverride,
		Changed:      m.messageChanged,
		Privacy:      officePrivacy{m},
		Recordings:   webRecordings{m},
		VoicemailDir: cfg.Voicemail.Dir,
		Report:       m.webReport,
		Probe:        m.webProbe, // probe.go
		ProbeToken:   m.probeToken,
		MessageLock:  &m.msgMu,
		Language:     cfg.Club.Languages[0],
		Location:     cfg.Club.Location,
		Secure:       cfg.HTTP.TLS.CertFile != "" || strings.HasPrefix(cfg.HTTP.PublicURL, "https://"),
		Now:          m.Now,
		Logger:       m.Logger,
	})
	m.Admin = admin.New(admin.Options{
		Listen:      cfg.HTTP.Listen,
		Gatherer:    m.Registry,
		Logger:      m.Logger,
		Checks:      m.readyChecks(trunks),
		App:         m.Web,
		TLSCertFile: cfg.HTTP.TLS.CertFile,
		TLSKeyFile:  cfg.HTTP.TLS.KeyFile,
	})
	if err = m.Admin.Start(); err != nil {
		return fmt.Errorf("%s: %w", m.ConfigPath, err)
	}

	wctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	m.stop = stop
	m.retentionChanged = make(chan struct{}, 1)
	m.watcher = config.NewWatcher(m.ConfigPath, m.Logger, m.apply, m.reloadFailed)
	if werr := m.watcher.Start(); werr != nil {
		m.Logger.Error("config watcher not started: edits to the file apply only at restart", "err", werr)
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		if err := m.watcher.Run(wctx); err != nil {
			m.Logger.Error("config watcher stopped: edits to the file are not applied until restart or SIGHUP", "err", err)
		}
	}()
	m.startGauges(wctx) // gauges.go
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		m.runCluster(wctx) // cluster.go
	}()
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		m.runRetention(wctx)
	}()
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		m.runFollowUps(wctx)
	}()
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		m.watchRecordings(wctx)
	}()
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		m.runProbes(wctx) // probe.go
	}()
	if m.outbox != nil {
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			if err := m.outbox.Run(wctx); err != nil && !errors.Is(err, notify.ErrClosed) && !errors.Is(err, context.Canceled) {
				m.Logger.Error("notifications stopped: messages are kept in the outbox until restart", "err", err)
			}
		}()
	}
	m.Logger.Info("clubline started", "config", m.ConfigPath, "store", m.backend, "sip", m.SIP.Addrs(), "http", m.Admin.Addr())
	return nil
}

// Reload re-reads the config file now (SIGHUP).
func (m *Main) Reload() { m.watcher.Reload() }

// Shutdown drains: new calls get 503 and active calls may finish until ctx
// ends; then they are hung up, the records flushed and everything closed.
func (m *Main) Shutdown(ctx context.Context) error {
	m.SIP.Drain()
	if err := m.SIP.Wait(ctx); err != nil {
		m.Logger.Warn("drain time is up: hanging up the calls still active", "active", m.SIP.Active())
		m.SIP.HangupAll()
		wctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = m.SIP.Wait(wctx)
		cancel()
	}
	// Callbacks not yet put through are given up with a follow-up each;
	// those talking are given what is left of the drain.
	if err := m.callbacks.Shutdown(ctx); err != nil {
		m.Logger.Warn("callbacks in progress were cut by the shutdown", "error", err)
	}
	m.stop()
	if m.outbox != nil {
		_ = m.outbox.Close() // what is not sent stays in data/outbox for the next start
	}
	m.wg.Wait()
	var errs []error
	if err := m.SIP.Close(); err != nil {
		errs = append(errs, fmt.Errorf("sip: %w", err))
	}
	hctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := m.Admin.Shutdown(hctx); err != nil {
		errs = append(errs, fmt.Errorf("http: %w", err))
	}
	if err := m.Store.Close(); err != nil {
		errs = append(errs, fmt.Errorf("store: %w", err))
	}
	if err := m.Audit.Close(); err != nil {
		errs = append(errs, fmt.Errorf("audit log: %w", err))
	}
	return errors.Join(errs...)
}

// loadConfig loads the file and the prompts it names; any problem in either
// is reported as file:line errors. It returns the bytes it validated.
func loadConfig(path string) (*config.Config, *prompts.Set, []byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, nil, config.Errors{{File: path, Msg: "cannot read the config file: " + err.Error(),
			Fix: "check the path given to --config"}}
	}
	cfg, err := config.Parse(path, data)
	if err != nil {
		return nil, nil, nil, err
	}
	if errs := append(checkPrompts(path, cfg), cfg.CheckFiles()...); len(errs) > 0 {
		return nil, nil, nil, errs
	}
	set, err := prompts.Load(cfg.Prompts.Dir)
	if err != nil {
		return nil, nil, nil, err
	}
	return cfg, set, data, nil
}

// lastGoodPath is where the last valid copy of the config file is kept,
// beside it, so that a restart with a broken file still answers the line.
// Beside it, not in the data folder: the data folder is named in the file,
// which may be the broken one, and two files of one folder cannot clash.
// A dot file, which .gitignore names for the example's (.*.last-good).
//
// Where the config's folder is read-only (a container's mounted config),
// $CLUBLINE_STATE_DIR names a folder of its own for the copy instead: the
// image sets it to its data volume.
func lastGoodPath(path string) string {
	dir := filepath.Dir(path)
	if d := os.Getenv("CLUBLINE_STATE_DIR"); d != "" {
		dir = d
	}
	return filepath.Join(dir, "."+filepath.Base(path)+".last-good")
}

// saveLastGood keeps a copy of a config file that loaded without error.
func (m *Main) saveLastGood(data []byte) {
	path := lastGoodPath(m.ConfigPath)
	tmp := path + ".tmp"
	err := os.WriteFile(tmp, data, 0o600)
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		m.Logger.Warn("could not keep a last good copy of the config: a restart with a broken file would not start", "path", path, "err", err)
	}
}

// apply puts a new valid config in force for new calls.
func (m *Main) apply(cfg *config.Config) {
	_, set, data, err := loadConfig(m.ConfigPath) // the prompts may have changed too
	if err != nil {
		m.reloadFailed(err)
		return
	}
	m.saveLastGood(data)
	base := m.basePrompts(cfg, set)
	users := m.webUsers(cfg)
	m.users.Store(&users)
	m.rebuildMu.Lock()
	m.prompts.Store(base)
	m.script.Store(m.newScript(cfg, m.composed()))
	old := m.current.Swap(cfg)
	m.rebuildMu.Unlock()
	m.warnClub(cfg)
	m.mailboxChanged(cfg, &clubline.Voicemail{}) // the groups may have changed
	m.retentionApplied(old, cfg)
	m.clusterApplied(old, cfg)
	m.Metrics.ConfigReloaded(true)
	m.Metrics.ConfigLoaded.SetToCurrentTime()
	for _, what := range restartNeeded(m.Config, cfg) {
		m.Logger.Warn("config changed in a section that applies only at start-up: restart clubline to apply it", "key", what)
	}
	m.Logger.Info("config reloaded: new calls use it", "config", m.ConfigPath)
}

func (m *Main) reloadFailed(err error) {
	m.Metrics.ConfigReloaded(false)
	m.Logger.Error("config not reloaded: the running config stays until the file is fixed\n"+err.Error(), "config", m.ConfigPath)
}

// newScript builds the call script for one config snapshot.
func (m *Main) newScript(cfg *config.Config, set *prompts.Set) *ivr.Script {
	opts := ivr.Options{
		Languages:   cfg.Club.Languages,
		LanguageKey: cfg.Club.LanguageKey,
		Menu: ivr.Menu{
			Timeout: cfg.Menu.Timeout,
			Retries: cfg.Menu.Retries,
			Default: cfg.Menu.Default,
		},
		Voicemail: ivr.VoicemailOptions{
			Dir:                  cfg.Voicemail.Dir,
			MaxLength:            cfg.Voicemail.MaxLength,
			SilenceTimeout:       cfg.Voicemail.SilenceTimeout,
			MinLength:            cfg.Voicemail.MinLength,
			FollowUpWithin:       cfg.Voicemail.FollowUpWithin,
			UrgentFollowUpWithin: cfg.Voicemail.UrgentFollowUpWithin,
		},
	}
	for _, o := range cfg.Menu.Options {
		opts.Menu.Options = append(opts.Menu.Options, ivr.MenuOption{Key: o.Key, Category: o.Category, Route: o.Route, Prompt: o.Prompt})
	}
	ids := make([]string, 0, len(cfg.Groups))
	for _, g := range cfg.Groups {
		opts.Groups = append(opts.Groups, ivr.Group{
			ID: g.ID, Members: g.Members, Strategy: g.Strategy,
			RingTimeout: g.RingTimeout, MaxWait: g.MaxWait, AnnounceEvery: g.AnnounceEvery,
			ServiceLevel: g.ServiceLevel, ShortAbandon: g.ShortAbandon,
		})
		ids = append(ids, g.ID)
	}
	m.Metrics.Groups(ids...)
	for _, s := range cfg.Staff {
		opts.Staff = append(opts.Staff, ivr.Staff{ID: s.ID, Name: s.Name, Extension: s.Extension, Phone: s.Phone, Admin: s.Admin()})
	}
	opts.Studio = ivr.StudioOptions{Code: cfg.Prompts.RecordCode}
	opts.Survey = ivr.SurveyOptions{Enabled: cfg.Survey.Enabled}
	opts.Urgency = ivr.UrgencyOptions{Target: cfg.Urgency.Target, Roster: cfg.Roster(), Fallback: cfg.Urgency.Fallback,
		RingTimeout: cfg.Urgency.RingTimeout}
	opts.Trunk = len(cfg.Trunks) > 0
	opts.Location = cfg.Club.Location
	if cb := cfg.Callback; cb.Enabled && cb.Key != "" {
		opts.Callback = ivr.CallbackOptions{Enabled: true, Key: rune(cb.Key[0]), Attempts: cb.Attempts,
			RetryAfter: cb.RetryAfter, Allows: cb.Allows}
	}
	return ivr.New(opts, m.schedule(cfg), set, m.Store, m.Metrics, m.Logger,
		m.scriptOptions()...)
}

// openStore opens Redis when a URL is set, else the embedded store in the
// data directory, behind the spool that keeps calls from waiting on it.
func (m *Main) openStore(cfg *config.Config) (*spool.Spool, error) {
	backend, err := m.openBackend(cfg)
	if err != nil {
		return nil, err
	}
	sp, err := spool.New(backend, spool.Options{
		Dir:    filepath.Join(cfg.Store.DataDir, "spool"),
		Logger: m.Logger,
		Spooled: func(n int) {
			if m.Metrics != nil { // nil for a command of the terminal (privacy)
				m.Metrics.StoreSpooled.Set(float64(n))
			}
		},
	})
	if err != nil {
		backend.Close()
		return nil, fmt.Errorf("%s: store.data_dir: %w", m.ConfigPath, err)
	}
	return sp, nil
}

// openBackend opens Redis when a URL is set, else the embedded store in
// the data directory.
func (m *Main) openBackend(cfg *config.Config) (clubline.Store, error) {
	var backend clubline.Store
	if cfg.Store.RedisURL != "" {
		redis.RouteLibraryLogs(m.Logger)
		r, err := redis.New(redis.Options{URL: cfg.Store.RedisURL, KeyPrefix: cfg.Store.KeyPrefix, Logger: m.Logger})
		if err != nil {
			return nil, fmt.Errorf("%s: store.redis_url: %w", m.ConfigPath, err)
		}
		backend, m.backend, m.redis = r, "redis", r
	} else {
		path := filepath.Join(cfg.Store.DataDir, "clubline.db")
		e, err := embedded.Open(path)
		if err != nil {
			return nil, fmt.Errorf("%s: store.data_dir: %w", m.ConfigPath, err)
		}
		backend, m.backend = e, "embedded "+path
	}
	return backend, nil
}

// recoverVoicemails makes messages of the recordings a crash cut short
// (vmdir.Recover). A failure is logged: the line starts all the same, and
// the next start tries again.
func (m *Main) recoverVoicemails(ctx context.Context, cfg *config.Config) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	_, err := vmdir.Recover(ctx, vmdir.Options{
		Dir: cfg.Voicemail.Dir, Store: m.Store, MinLength: cfg.Voicemail.MinLength,
		FollowUpWithin: cfg.Voicemail.FollowUpWithin, UrgentFollowUpWithin: cfg.Voicemail.UrgentFollowUpWithin,
		Logger: m.Logger,
	})
	if err != nil {
		m.Logger.Error("voicemail: could not look for messages cut short by a crash; the next start tries again", "err", err)
	}
}

// countFollowUps sets the open follow-ups gauge from the store at start-up.
func (m *Main) countFollowUps(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	open, err := m.Store.FollowUps(ctx, time.Time{})
	if err != nil {
		m.Logger.Warn("could not count open follow-ups; clubline_followups_open counts from zero", "err", err)
		return
	}
	m.Metrics.FollowUpsOpen.Set(float64(len(open)))
}

// readyChecks are the lines of /readyz.
func (m *Main) readyChecks(trunks []*trunk.Trunk) map[string]admin.Check {
	checks := map[string]admin.Check{"sip": m.sipReady, "store": m.storeReady}
	if len(trunks) > 0 {
		checks["trunks"] = m.trunksReady
	}
	return checks
}

func (m *Main) sipReady(context.Context) (string, error) {
	if len(m.SIP.Addrs()) == 0 {
		return "", errors.New("no SIP listener is up")
	}
	if m.SIP.Draining() {
		return "", errors.New("draining: shutting down, new calls get 503")
	}
	return fmt.Sprintf("%d active calls", m.SIP.Active()), nil
}

func (m *Main) storeReady(ctx context.Context) (string, error) {
	if err := m.Store.Ping(ctx); err != nil {
		// Records are safe in the spool and written when the store is back.
		return fmt.Sprintf("%s unreachable, spooling %d records to disk: %v", m.backend, m.Store.Pending(), err), nil
	}
	return m.backend, nil
}

func listenURIs(ls []config.Listener) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = l.String()
	}
	return out
}

// restartNeeded names the settings that changed in a reload but only take
// effect at start-up.
func restartNeeded(old, cur *config.Config) []string {
	var keys []string
	if fmt.Sprint(old.SIP) != fmt.Sprint(cur.SIP) {
		keys = append(keys, "sip")
	}
	if old.Store != cur.Store {
		keys = append(keys, "store")
	}
	if old.HTTP != cur.HTTP {
		keys = append(keys, "http")
	}
	// Groups, rosters and names apply at once; what phones register with
	// (extensions and passwords) only at start-up.
	if credentials(old) != credentials(cur) {
		keys = append(keys, "staff (extensions and passwords)")
	}
	if fmt.Sprint(old.Trunks) != fmt.Sprint(cur.Trunks) {
		keys = append(keys, "trunks")
	}
	// Who is told applies at once; how (the mail server, the web hook)
	// only at start-up.
	if old.Notify.SMTP != cur.Notify.SMTP || old.Notify.Webhook != cur.Notify.Webhook || old.Notify.MaskNumbers != cur.Notify.MaskNumbers {
		keys = append(keys, "notify (smtp, webhook, mask_numbers)")
	}
	if old.Prompts.RecordCode != cur.Prompts.RecordCode {
		keys = append(keys, "prompts.record_code")
	}
	return keys
}

// credentials is what the registrar was built with, for restartNeeded.
func credentials(c *config.Config) string {
	var b strings.Builder
	for _, s := range c.Staff {
		fmt.Fprintf(&b, "%s|%s|%s|%s|%s\n", s.ID, s.Extension, s.PasswordEnv, s.HA1, s.HA1SHA256)
	}
	return b.String()
}

// newRegistrar makes clubline the registrar of the staff in the config,
// or returns nil when there are none (REGISTER then gets 405). Passwords
// are read from the environment once, here; staff changes in a reloaded
// config take effect at the next start.
func (m *Main) newRegistrar(cfg *config.Config) (*registrar.Registrar, error) {
	if len(cfg.Staff) == 0 {
		return nil, nil
	}
	realm := cfg.SIP.Realm
	staff := make([]registrar.Staff, 0, len(cfg.Staff))
	for _, s := range cfg.Staff {
		c := registrar.Credential{User: s.Extension, HA1MD5: strings.ToLower(s.HA1), HA1SHA256: strings.ToLower(s.HA1SHA256)}
		if s.PasswordEnv != "" {
			pw := os.Getenv(s.PasswordEnv)
			if pw == "" {
				m.Logger.Warn("staff member cannot register: their password variable is not set",
					"staff", s.ID, "variable", s.PasswordEnv)
				continue
			}
			c.HA1MD5 = registrar.HA1(registrar.AlgorithmMD5, s.Extension, realm, pw)
			c.HA1SHA256 = registrar.HA1(registrar.AlgorithmSHA256, s.Extension, realm, pw)
		}
		staff = append(staff, registrar.Staff{ID: s.ID, Extension: s.Extension, Credential: c})
	}
	lim := cfg.SIP.Limits
	o := &registrar.Options{Realm: realm, Algorithms: cfg.SIP.DigestAlgorithms, Staff: staff,
		Store: m.Store, OnChange: m.countRegistered, Logger: m.Logger, OnBlocked: m.blocked,
		RegisterBurst: lim.Registers, RegisterWindow: lim.Window,
		AuthFailBurst: lim.WrongPasswords, AuthFailEvery: lim.WrongPasswordEvery,
		Shared: cfg.Cluster.Enabled} // a phone registered through any instance is rung by every one
	if m.TuneRegistrar != nil {
		m.TuneRegistrar(o)
	}
	return registrar.New(*o)
}

// countRegistered sets clubline_staff_registered: the staff members with
// at least one live registration.
func (m *Main) countRegistered() {
	if m.Registrar == nil {
		return
	}
	m.Metrics.StaffRegistered.Set(float64(m.Registrar.Registered()))
}

// scriptOptions are the parts every config snapshot's script shares: the
// clock, the queues, the dialer and where staff phones are found.
func (m *Main) scriptOptions() []ivr.Option {
	opts := []ivr.Option{ivr.WithClock(m.Now), ivr.WithACD(m.acd), ivr.WithCallbacks(m.callbacks), ivr.WithDialer(m.SIP.Dialer()),
		ivr.WithMessageHook(m.onMessage), ivr.WithMessageLock(&m.msgMu), ivr.WithRecordings(m.recs)}
	if m.Registrar != nil {
		opts = append(opts, ivr.WithPhones(m.Registrar))
	}
	return opts
}

// sipLimits are sip.limits for the SIP server: zero fields take its
// defaults; registered staff phones are never limited.
func (m *Main) sipLimits(cfg *config.Config, trunks []*trunk.Trunk) sip.Limits {
	l := cfg.SIP.Limits
	out := sip.Limits{Window: l.Window, Invites: l.Invites, Options: l.Options, Other: l.Other,
		BlockFor: l.BlockFor, Trusted: l.Trusted, OnBlocked: m.blocked}
	// Never limited: where staff phones registered from, and the
	// providers, which send every caller's call from a few addresses.
	reg := m.Registrar
	out.Exempt = func(ip netip.Addr) bool {
		if reg != nil && reg.IsPhoneAddress(ip) {
			return true
		}
		for _, t := range trunks {
			if t.From(ip) {
				return true
			}
		}
		return false
	}
	return out
}

// blocked counts a request refused by a protection limit.
func (m *Main) blocked(reason string) { m.Metrics.SIPBlocked.WithLabelValues(reason).Inc() }
