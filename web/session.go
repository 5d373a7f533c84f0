package web

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"sync"
	"time"
)

// Sessions last while used: idle for sessionIdle they end, and in any case
// after sessionMax (a laptop left signed in at the club's office).
const (
	sessionIdle = 8 * time.Hour
	sessionMax  = 7 * 24 * time.Hour
	cookieName  = "clubline_session"
)

type session struct {
	user    string // staff id
	csrf    string
	created time.Time
	used    time.Time
}

// sessions are kept in memory, by the SHA-256 of their token: a restart
// signs everyone out, and a memory dump holds no usable token.
type sessions struct {
	mu  sync.Mutex
	m   map[[32]byte]*session
	now func() time.Time
}

func newSessions(now func() time.Time) *sessions {
	return &sessions{m: make(map[[32]byte]*session), now: now}
}

func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("web: no randomness: " + err.Error()) // crypto/rand does not fail on supported systems
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// start opens a session for user and returns its token.
func (s *sessions) start(user string) (token string, ses *session) {
	token = randomToken()
	now := s.now()
	ses = &session{user: user, csrf: randomToken(), created: now, used: now}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweep(now)
	s.m[sha256.Sum256([]byte(token))] = ses
	return token, ses
}

// get returns the live session of a token, and marks it used.
func (s *sessions) get(token string) *session {
	if token == "" {
		return nil
	}
	k := sha256.Sum256([]byte(token))
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	ses := s.m[k]
	if ses == nil {
		return nil
	}
	if now.Sub(ses.used) > sessionIdle || now.Sub(ses.created) > sessionMax {
		delete(s.m, k)
		return nil
	}
	ses.used = now
	cp := *ses
	return &cp
}

func (s *sessions) end(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, sha256.Sum256([]byte(token)))
}

// endUser ends every session of a user (removed from the config).
func (s *sessions) endUser(user string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, ses := range s.m {
		if ses.user == user {
			delete(s.m, k)
		}
	}
}

func (s *sessions) sweep(now time.Time) {
	for k, ses := range s.m {
		if now.Sub(ses.used) > sessionIdle || now.Sub(ses.created) > sessionMax {
			delete(s.m, k)
		}
	}
}

func (ses *session) csrfOK(got string) bool {
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(ses.csrf)) == 1
}

// Login attempts: after loginFailures wrong passwords within loginWindow,
// for one user or from one address, every attempt is refused until the
// window has passed, the right password included: a guesser learns
// nothing more.
const (
	loginFailures = 5
	loginWindow   = 15 * time.Minute
)

type loginLimiter struct {
	mu    sync.Mutex
	fails map[string][]time.Time // by "user:" + id and "addr:" + ip
	now   func() time.Time
}

func newLoginLimiter(now func() time.Time) *loginLimiter {
	return &loginLimiter{fails: make(map[string][]time.Time), now: now}
}

// blocked says how long the keys stay blocked (0: not blocked).
func (l *loginLimiter) blocked(keys ...string) time.Duration {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	var wait time.Duration
	for _, k := range keys {
		recent := l.recent(k, now)
		if len(recent) >= loginFailures {
			if w := recent[len(recent)-loginFailures].Add(loginWindow).Sub(now); w > wait {
				wait = w
			}
		}
	}
	return wait
}

func (l *loginLimiter) failed(keys ...string) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.fails) > 10000 { // a scanner cycling addresses: forget the oldest rather than grow
		for k := range l.fails {
			if len(l.recent(k, now)) == 0 {
				delete(l.fails, k)
			}
		}
	}
	for _, k := range keys {
		l.fails[k] = append(l.recent(k, now), now)
	}
}

func (l *loginLimiter) succeeded(keys ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range keys {
		delete(l.fails, k)
	}
}

func (l *loginLimiter) recent(k string, now time.Time) []time.Time {
	ts := l.fails[k]
	i := 0
	for i < len(ts) && now.Sub(ts[i]) > loginWindow {
		i++
	}
	ts = ts[i:]
	if len(ts) == 0 {
		delete(l.fails, k)
		return nil
	}
	l.fails[k] = ts
	return ts
}

func sessionCookie(token string, secure bool, maxAge int) *http.Cookie {
	return &http.Cookie{Name: cookieName, Value: token, Path: "/", HttpOnly: true, Secure: secure,
		SameSite: http.SameSiteStrictMode, MaxAge: maxAge}
}
