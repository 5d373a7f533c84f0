package vmdir

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/clubline/clubline"
)

// Orphans is what PurgeOrphans did.
type Orphans struct {
	Removed int // files deleted
	Failed  int // files that could not be checked or deleted: see the log
}

// PurgeOrphans deletes the files of o.Dir that no message record names and
// whose recording started before before (the retention limit): a recording
// or a note left by a crash that recovery could not turn into a message, a
// recording whose record was deleted by hand, a record lost with a store.
// A file whose message the store still holds is left to the record's own
// purge. Files clubline does not name are left alone.
func PurgeOrphans(ctx context.Context, dir string, st clubline.Store, before time.Time, log *slog.Logger) (Orphans, error) {
	var o Orphans
	names, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return o, nil
	}
	if err != nil {
		return o, fmt.Errorf("vmdir: reading %s: %w", dir, err)
	}
	known := map[string]bool{} // voicemail id -> the store holds it
	for _, n := range names {
		e, ok := parse(n.Name())
		if !ok || n.IsDir() || !e.stamp.Before(before) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return o, err
		}
		held, seen := known[e.id]
		if !seen {
			_, err := st.Voicemail(ctx, e.id)
			switch {
			case err == nil:
				held = true
			case errors.Is(err, clubline.ErrNotFound):
			default:
				o.Failed++
				log.Error("retention: cannot check whether a voicemail file has a record; the next pass tries again",
					"voicemail", e.id, "err", err)
				continue
			}
			known[e.id] = held
		}
		if held {
			continue
		}
		path := filepath.Join(dir, n.Name())
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			o.Failed++
			log.Error("retention: cannot delete a voicemail file no record names; delete it by hand", "path", path, "err", err)
			continue
		}
		o.Removed++
	}
	return o, nil
}
