package prompts

import (
	"bufio"
	_ "embed"
	"fmt"
	"slices"
	"strings"
	"sync"
	"unicode"
)

// BuiltinClub is the club the built-in prompts name: generate.sh's CLUB,
// said with the article "le".
const BuiltinClub = "Club de Soccer Roussillon"

// Club is the club the prompts name: club.name and club.article.
type Club struct {
	Name string
	// Article is the French article before the name: "le", "la", "l'",
	// "les", or "none" (the name is said bare: "vous avez joint Soccer
	// Québec", "Appel de Soccer Québec"). "" or "auto": from the name (see
	// Articles).
	Article string
}

// Articles are the values Club.Article takes. "auto", the default, reads
// an article the name starts with ("Les Aigles de Roussillon": les,
// "Aigles de Roussillon"), says "l'" before a vowel ("l'Association de
// soccer", "l'AS Blainville") and "le" otherwise ("le Club de soccer", "le
// FC Laval"); a feminine name ("la Ligue de soccer") or one said with no
// article needs it set.
var Articles = []string{"auto", "le", "la", "l'", "les", "none"}

// ValidArticle reports whether a is one of Articles, or "".
func ValidArticle(a string) bool { return a == "" || slices.Contains(Articles, a) }

// spoken is the club's name as the templates' placeholders say it.
type spoken struct {
	club, leClub, duClub string
}

// normalizedName is the name with its runs of white space made one space.
func normalizedName(name string) string { return strings.Join(strings.Fields(name), " ") }

// isBuiltin reports whether the built-in prompts already say c.
func (c Club) isBuiltin() bool {
	s, err := c.spoken()
	return err == nil && strings.EqualFold(s.leClub, "le "+BuiltinClub)
}

// maxNameRunes bounds a name given to espeak-ng.
const maxNameRunes = 120

// spoken returns how the templates say c in French: "le Club …", "du
// Club …". Control characters and brackets (espeak-ng's phoneme input,
// [[…]]) are left out of the name.
func (c Club) spoken() (spoken, error) {
	name := normalizedName(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '[' || r == ']' {
			return ' '
		}
		return r
	}, c.Name))
	switch {
	case name == "":
		return spoken{}, fmt.Errorf("the club has no name: set club.name")
	case len([]rune(name)) > maxNameRunes:
		return spoken{}, fmt.Errorf("club.name is %d characters: a name said on the phone is at most %d", len([]rune(name)), maxNameRunes)
	case !ValidArticle(c.Article):
		return spoken{}, fmt.Errorf("club.article is %q: write one of %s", c.Article, strings.Join(Articles, ", "))
	}
	article, bare := c.Article, name
	if article == "" || article == "auto" {
		article, bare = guessArticle(name)
	}
	s := spoken{club: name}
	switch article {
	case "le":
		s.leClub, s.duClub = "le "+bare, "du "+bare
	case "la":
		s.leClub, s.duClub = "la "+bare, "de la "+bare
	case "l'":
		s.leClub, s.duClub = "l'"+bare, "de l'"+bare
	case "les":
		s.leClub, s.duClub = "les "+bare, "des "+bare
	default: // none
		s.leClub, s.duClub = bare, "de "+bare
		if startsWithVowel(bare) {
			s.duClub = "d'" + bare
		}
	}
	return s, nil
}

// guessArticle picks the article of name, and the name without it when
// it starts with one.
func guessArticle(name string) (article, bare string) {
	lower := strings.ToLower(name)
	for _, a := range []string{"les ", "le ", "la ", "l'", "l’"} {
		if strings.HasPrefix(lower, a) && len(name) > len(a) {
			art := strings.TrimSpace(a)
			if art == "l’" {
				art = "l'"
			}
			return art, strings.TrimSpace(name[len(a):])
		}
	}
	if startsWithVowel(name) {
		return "l'", name
	}
	return "le", name
}

func startsWithVowel(s string) bool {
	for _, r := range strings.ToLower(s) {
		return strings.ContainsRune("aeiouyàâäéèêëîïôöùûüÿœæ", r)
	}
	return false
}

// The wording of the built-in prompts, the source of the sentences said
// for another club.
//
//go:embed fr.txt
var frText string

//go:embed en.txt
var enText string

// templates are the lines of fr.txt and en.txt that name the club, by
// language then prompt name.
var templates = sync.OnceValue(func() map[string]map[string]string {
	out := map[string]map[string]string{}
	for lang, text := range map[string]string{French: frText, English: enText} {
		out[lang] = map[string]string{}
		sc := bufio.NewScanner(strings.NewReader(text))
		for sc.Scan() {
			line := sc.Text()
			if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
				continue
			}
			name, tmpl, ok := strings.Cut(line, "|")
			if ok && strings.Contains(tmpl, "{") && !strings.HasPrefix(tmpl, "@") {
				out[lang][name] = tmpl
			}
		}
	}
	return out
})

// ClubPrompts returns the names of the prompts whose built-in says the
// club's name, in any language, sorted: greeting, call_confirm,
// callback_hello.
func ClubPrompts() []string {
	var names []string
	for _, byName := range templates() {
		for name := range byName {
			if !slices.Contains(names, name) {
				names = append(names, name)
			}
		}
	}
	slices.Sort(names)
	return names
}

// sentence fills a template as generate.sh does, for espeak-ng's SSML
// mode: the name escaped, and in languages other than French spoken with
// the French voice, as the French name it is.
func sentence(lang, tmpl string, s spoken) string {
	club := xmlEscape(s.club)
	if lang != French {
		club = `<voice xml:lang="fr">` + club + `</voice>`
	}
	return strings.NewReplacer(
		"{club}", club,
		"{le_club}", xmlEscape(s.leClub),
		"{du_club}", xmlEscape(s.duClub),
	).Replace(tmpl)
}

func xmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// ClubCheck says where each club-naming prompt of the languages the line
// speaks comes from, and which of them say another club's name.
type ClubCheck struct {
	Club    string // club.name
	Prompts []ClubPrompt
}

// ClubPrompt is one club-naming prompt in one language.
type ClubPrompt struct {
	Lang, Name string
	Origin     Origin
	// Wrong: it is the built-in, which names BuiltinClub, and the club is
	// another.
	Wrong bool
}

// CheckClub looks at the club-naming prompts of set in langs (the
// languages the line speaks) for the club called club (club.name).
func CheckClub(set *Set, club Club, langs []string) ClubCheck {
	check := ClubCheck{Club: normalizedName(club.Name)}
	builtin := club.isBuiltin()
	for _, lang := range langs {
		for _, name := range ClubPrompts() {
			o, ok := set.Origin(lang, name)
			if !ok {
				continue
			}
			check.Prompts = append(check.Prompts, ClubPrompt{Lang: lang, Name: name, Origin: o,
				Wrong: o.Kind == FromBuiltin && !builtin})
		}
	}
	return check
}

// Lines says, one line a prompt, where each comes from:
// "fr/greeting: synthesized (espeak-ng fr-fr: « Bonjour, vous avez joint le Club X. »)".
func (c ClubCheck) Lines() []string {
	lines := make([]string, 0, len(c.Prompts))
	for _, p := range c.Prompts {
		line := p.Lang + "/" + p.Name + ": " + p.Origin.String()
		if p.Wrong {
			line += ": says " + BuiltinClub
		}
		lines = append(lines, line)
	}
	return lines
}

// Warning is what an admin must do when a prompt callers hear names
// another club; "" when none does. recordCode is the code staff dial to
// record prompts by phone ("*77"); "" leaves that way out.
func (c ClubCheck) Warning(recordCode string) string {
	var wrong []string
	for _, p := range c.Prompts {
		if p.Wrong {
			wrong = append(wrong, p.Lang+"/"+p.Name)
		}
	}
	if len(wrong) == 0 {
		return ""
	}
	what := "the greeting says"
	if len(wrong) > 1 || !strings.HasSuffix(wrong[0], "/greeting") {
		what = strings.Join(wrong, ", ") + " say"
	}
	how := "on the Recordings page"
	if recordCode != "" {
		how = "by phone (" + recordCode + ") or on the Recordings page"
	}
	return fmt.Sprintf("%s '%s' but club.name is '%s': record your greeting %s, or install espeak-ng (apt-get install -y espeak-ng) and restart clubline",
		what, BuiltinClub, c.Club, how)
}
