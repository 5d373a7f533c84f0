package web

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// A Password checks what someone typed against a staff member's web
// password. Build one with PlainPassword (the password itself, read from
// the environment) or HashedPassword (an argon2id or bcrypt hash written
// in the config file).
type Password struct {
	plain []byte // sha256 of the password, so the compare takes one time
	hash  string
}

// PlainPassword is a password given as is (web_password_env).
func PlainPassword(p string) Password {
	sum := sha256.Sum256([]byte(p))
	return Password{plain: sum[:]}
}

// HashedPassword is a password given as its hash (web_password_hash):
// "$argon2id$v=19$m=…,t=…,p=…$salt$hash" or a bcrypt "$2a$"/"$2b$"/"$2y$" hash.
// It returns an error saying what is wrong with a hash it cannot use.
func HashedPassword(h string) (Password, error) {
	switch {
	case strings.HasPrefix(h, "$argon2id$"):
		if _, err := parseArgon2id(h); err != nil {
			return Password{}, err
		}
	case strings.HasPrefix(h, "$2a$"), strings.HasPrefix(h, "$2b$"), strings.HasPrefix(h, "$2y$"):
		if _, err := bcrypt.Cost([]byte(h)); err != nil {
			return Password{}, fmt.Errorf("not a bcrypt hash: %w", err)
		}
	default:
		return Password{}, errors.New(`not an argon2id ("$argon2id$…") or bcrypt ("$2b$…") hash`)
	}
	return Password{hash: h}, nil
}

// Set reports whether the password was given at all.
func (p Password) Set() bool { return p.plain != nil || p.hash != "" }

// Match reports whether typed is the password.
func (p Password) Match(typed string) bool {
	switch {
	case p.plain != nil:
		sum := sha256.Sum256([]byte(typed))
		return subtle.ConstantTimeCompare(sum[:], p.plain) == 1
	case strings.HasPrefix(p.hash, "$argon2id$"):
		a, err := parseArgon2id(p.hash)
		if err != nil {
			return false
		}
		got := argon2.IDKey([]byte(typed), a.salt, a.time, a.memory, a.threads, uint32(len(a.key)))
		return subtle.ConstantTimeCompare(got, a.key) == 1
	case p.hash != "":
		return bcrypt.CompareHashAndPassword([]byte(p.hash), []byte(typed)) == nil
	}
	return false
}

// The argon2id parameters of HashPassword: RFC 9106's second recommended
// option (64 MiB, 3 passes), which a small box computes in a fraction of
// a second.
const (
	argonTime    = 3
	argonMemory  = 64 * 1024 // KiB
	argonThreads = 2
	argonKeyLen  = 32
)

// HashPassword returns the argon2id hash of a password, in the form
// web_password_hash takes (`clubline passwd` prints it).
func HashPassword(p string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(p), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

type argonParams struct {
	memory, time uint32
	threads      uint8
	salt, key    []byte
}

// parseArgon2id reads the PHC string form of an argon2id hash.
func parseArgon2id(h string) (argonParams, error) {
	var a argonParams
	parts := strings.Split(h, "$") // "", "argon2id", "v=19", "m=…,t=…,p=…", salt, key
	if len(parts) != 6 {
		return a, errors.New("an argon2id hash has 5 parts: $argon2id$v=19$m=…,t=…,p=…$salt$hash")
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return a, fmt.Errorf("argon2id version %q: want v=%d", parts[2], argon2.Version)
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &a.memory, &a.time, &a.threads); err != nil {
		return a, fmt.Errorf("argon2id parameters %q: want m=…,t=…,p=…", parts[3])
	}
	if a.time == 0 || a.threads == 0 || a.memory < 8*uint32(a.threads) || a.memory > 4*1024*1024 {
		return a, fmt.Errorf("argon2id parameters %q are out of range", parts[3])
	}
	var err error
	if a.salt, err = base64.RawStdEncoding.DecodeString(parts[4]); err != nil || len(a.salt) < 8 {
		return a, errors.New("argon2id salt is not base64 of at least 8 bytes")
	}
	if a.key, err = base64.RawStdEncoding.DecodeString(parts[5]); err != nil || len(a.key) < 16 {
		return a, errors.New("argon2id hash is not base64 of at least 16 bytes")
	}
	return a, nil
}
