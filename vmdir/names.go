// Package vmdir keeps the voicemail directory (voicemail.dir): how the
// files of a message are named, the note written beside a recording when
// it starts, the recovery at start-up of the messages a crash cut short,
// and the purge of files no record names.
//
// Decisions:
//   - One message, one base name: "<YYYYMMDD-HHMMSS>-<voicemail id>", the
//     moment the recording started on the call script's clock (the
//     server's local time). The audio is "<base>.wav.part" while it is
//     recorded and "<base>.wav" once done; the note is "<base>.json.part".
//     The names are those clubline wrote before the note existed, so files
//     left by an older version are recovered and purged too.
//   - The note is a small JSON file written before the audio (Meta): the
//     call's details a message record needs (the caller's number, the
//     category, urgent, when the follow-up is due) and those that rebuild
//     the call record if the store lost it. The caller's number is
//     personal information: it stays out of the file name (listings,
//     logs, backups show names); the note has mode 0600, as the audio,
//     and is deleted as soon as the store holds the message, or with the
//     audio when no message is kept. One left behind is recovered at the
//     next start, or purged at the retention limit with the audio.
//   - Recovery trusts the store first: a message the store already holds
//     keeps its record (only its path is brought up to date); a note
//     fills in a message the store lacks; a file name alone gives the id
//     and the time, the rest unknown. A call record is touched only when
//     it is still in progress (no outcome) or missing: the crash ended the
//     call, with outcome voicemail when a message was kept, failed when
//     not.
//   - Only files named as clubline names them are recovered or purged:
//     anything else in the folder is left alone.
package vmdir

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"
)

// Suffixes of the files of a message.
const (
	suffixWAV  = ".wav"
	suffixPart = ".wav.part"
	suffixMeta = ".json.part"
)

// stampLayout is the time at the head of a base name.
const stampLayout = "20060102-150405"

// Files are the paths of one message's files.
type Files struct {
	WAV  string // the message once done
	Part string // the audio while it is recorded
	Meta string // the note written when the recording starts
}

// Name returns the files of the message id whose recording starts at at,
// in dir.
func Name(dir string, at time.Time, id string) Files {
	base := filepath.Join(dir, at.Format(stampLayout)+"-"+id)
	return Files{WAV: base + suffixWAV, Part: base + suffixPart, Meta: base + suffixMeta}
}

// entry is a file of the folder named as clubline names them.
type entry struct {
	base   string    // "<stamp>-<id>"
	id     string    // the voicemail id
	stamp  time.Time // when the recording started, read in the server's time zone
	suffix string    // suffixWAV, suffixPart or suffixMeta
}

// parse reads a file name; ok is false for a name clubline does not write.
func parse(name string) (e entry, ok bool) {
	for _, suf := range []string{suffixPart, suffixMeta, suffixWAV} { // .wav.part before .wav
		if base, found := strings.CutSuffix(name, suf); found {
			e.base, e.suffix = base, suf
			break
		}
	}
	if e.base == "" || len(e.base) < len(stampLayout)+2 || e.base[len(stampLayout)] != '-' {
		return entry{}, false
	}
	at, err := time.ParseInLocation(stampLayout, e.base[:len(stampLayout)], time.Local)
	if err != nil {
		return entry{}, false
	}
	e.stamp, e.id = at, e.base[len(stampLayout)+1:]
	if !validID(e.id) {
		return entry{}, false
	}
	return e, true
}

// validID: the ids clubline makes are letters and digits (random hex).
func validID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9') {
			return false
		}
	}
	return true
}

func (e entry) files(dir string) Files {
	base := filepath.Join(dir, e.base)
	return Files{WAV: base + suffixWAV, Part: base + suffixPart, Meta: base + suffixMeta}
}

func (e entry) String() string { return fmt.Sprintf("%s%s", e.base, e.suffix) }
