package prompts

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/clubline/clubline/media"
)

// maxClipBytes bounds an override file: about 17 minutes of 8 kHz audio.
const maxClipBytes = 16 << 20

var validName = regexp.MustCompile(`^[a-z0-9_]+$`)

// Load returns the built-in set with the clips of overrideDir laid over it:
// overrideDir/<lang>/<name>.wav replaces the built-in clip of that name, or
// adds one (a closure, say). Files must be 8 kHz mono 16-bit PCM WAV (8 kHz
// 16-bit stereo is mixed down). Hidden files are ignored, and so are files
// other than .wav at the top of overrideDir. Every problem is reported at
// once, in a *LoadError that names each file and what to do about it. An
// empty overrideDir gives the built-in set.
func Load(overrideDir string) (*Set, error) {
	base, err := Builtin()
	if err != nil || overrideDir == "" {
		return base, err
	}
	entries, err := os.ReadDir(overrideDir)
	if err != nil {
		return nil, fmt.Errorf("prompts: reading the override folder: %w", err)
	}
	set := base.clone()
	var problems []*FileError
	add := func(path, format string, args ...any) {
		problems = append(problems, &FileError{Path: path, Err: fmt.Errorf(format, args...)})
	}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		dir := filepath.Join(overrideDir, name)
		info, err := os.Stat(dir)
		switch {
		case err != nil:
			problems = append(problems, &FileError{Path: dir, Err: unreadable(err)})
		case !info.IsDir():
			if isWAV(name) {
				add(dir, "is not in a language folder: move it to %s",
					strings.Join(langDirs(overrideDir, base), " or "))
			}
		case base.clips[name] == nil:
			add(dir, "is not a language folder clubline knows: use %s",
				strings.Join(langDirs(overrideDir, base), " or "))
		default:
			problems = append(problems, loadLang(set, name, dir)...)
		}
	}
	if len(problems) > 0 {
		slices.SortFunc(problems, func(a, b *FileError) int { return strings.Compare(a.Path, b.Path) })
		return nil, &LoadError{Dir: overrideDir, Files: problems}
	}
	return set, nil
}

func langDirs(dir string, base *Set) []string {
	var dirs []string
	for _, lang := range base.Languages() {
		dirs = append(dirs, filepath.Join(dir, lang)+string(filepath.Separator))
	}
	return dirs
}

func isWAV(name string) bool { return strings.EqualFold(filepath.Ext(name), ".wav") }

// loadLang decodes every clip of one language folder into set.
func loadLang(set *Set, lang, dir string) []*FileError {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return []*FileError{{Path: dir, Err: unreadable(err)}}
	}
	var problems []*FileError
	seen := map[string]string{}
	for _, e := range entries {
		file := e.Name()
		if strings.HasPrefix(file, ".") {
			continue
		}
		path := filepath.Join(dir, file)
		name := strings.TrimSuffix(file, filepath.Ext(file))
		var err error
		switch {
		case e.IsDir():
			err = errors.New("is a folder: put prompts directly in the language folder")
		case !isWAV(file):
			err = fmt.Errorf("is not a .wav file: convert it with: sox %s -r 8000 -c 1 -b 16 %s, then remove it",
				media.ShellQuote(path), media.ShellQuote(filepath.Join(dir, suggestName(name)+".wav")))
		case !validName.MatchString(name):
			err = fmt.Errorf("prompt names are lower-case letters, digits and _: rename it %s.wav",
				suggestName(name))
		case seen[name] != "":
			err = fmt.Errorf("is the same prompt as %s: keep one", seen[name])
		default:
			seen[name] = file
			var frames []media.Frame
			frames, err = decodeFile(path)
			if err == nil {
				set.put(lang, name, frames, Origin{Kind: FromDir, Note: path})
			}
		}
		if err != nil {
			problems = append(problems, &FileError{Path: path, Err: err})
		}
	}
	return problems
}

// decodeFile reads one override clip, with an error that says what to do.
func decodeFile(path string) ([]media.Frame, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, unreadable(err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, unreadable(err)
	}
	if info.Size() > maxClipBytes {
		return nil, fmt.Errorf("is too large (%d MB): a prompt is at most %d MB, about 17 minutes",
			info.Size()>>20, maxClipBytes>>20)
	}
	frames, err := media.DecodeWAV(f)
	var fe *media.FormatError
	switch {
	case errors.As(err, &fe):
		tmp := strings.TrimSuffix(path, filepath.Ext(path)) + ".8k.wav"
		return nil, &formatProblem{fe: fe, fix: fmt.Sprintf("%s && mv %s %s",
			fe.SoxCommand(path, tmp), media.ShellQuote(tmp), media.ShellQuote(path))}
	case err != nil:
		return nil, fmt.Errorf("cannot be decoded (%v): export it again as 8000 Hz mono 16-bit PCM WAV", err)
	case len(frames) == 0:
		return nil, errors.New("has no audio")
	}
	return frames, nil
}

// unreadable words an error from the file system without repeating the
// path, which FileError gives.
func unreadable(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("cannot be read: %w", pe.Err)
	}
	return fmt.Errorf("cannot be read: %w", err)
}

// formatProblem words a *media.FormatError for one named file.
type formatProblem struct {
	fe  *media.FormatError
	fix string
}

func (p *formatProblem) Error() string {
	return fmt.Sprintf("is %s; prompts must be 8000 Hz mono 16-bit PCM: convert it with: %s", p.fe.Describe(), p.fix)
}

func (p *formatProblem) Unwrap() error { return p.fe }

// suggestName turns "Greeting-FR 2" into "greeting_fr_2".
func suggestName(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		if ('a' <= r && r <= 'z') || ('0' <= r && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// FileError is one problem with one file or folder of an override folder.
type FileError struct {
	Path string
	Err  error
}

func (e *FileError) Error() string { return e.Path + ": " + e.Err.Error() }
func (e *FileError) Unwrap() error { return e.Err }

// LoadError lists every problem Load found in an override folder, one file
// a line.
type LoadError struct {
	Dir   string
	Files []*FileError
}

func (e *LoadError) Error() string {
	var b strings.Builder
	n := len(e.Files)
	fmt.Fprintf(&b, "prompts: %d problem", n)
	if n != 1 {
		b.WriteString("s")
	}
	fmt.Fprintf(&b, " in %s:", e.Dir)
	for _, f := range e.Files {
		b.WriteString("\n\t")
		b.WriteString(f.Error())
	}
	return b.String()
}

// Unwrap gives the file errors to errors.Is and errors.As.
func (e *LoadError) Unwrap() []error {
	errs := make([]error, len(e.Files))
	for i, f := range e.Files {
		errs[i] = f
	}
	return errs
}
