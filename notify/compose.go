package notify

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/clubline/clubline"
)

// Compose is the subject and plain-text body of the e-mail m, in its
// language, with times in loc (the club's time zone; nil: UTC). The body
// says the recording is attached when m.Attach names one.
//
// The body says what came in, by when to call back, and where to listen
// and note the follow-up; a reader who sees only the subject line in a
// list knows the category and whether it is urgent.
func (m *Message) Compose(loc *time.Location) (subject, body string) {
	if loc == nil {
		loc = time.UTC
	}
	w := words[m.language()]
	cat := m.CategoryLabel
	if cat == "" {
		cat = m.Category
	}
	if cat == "" {
		cat = w.noCategory
	}
	due := w.date(m.Due.In(loc))

	var b strings.Builder
	line := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	line(w.hello)
	line("")
	switch m.Kind {
	case KindText:
		subject = m.Subject
		line("%s", m.Text)
	case KindReminder:
		subject = fmt.Sprintf(w.reminderSubject, cat, w.shortDate(m.Due.In(loc)))
		line(w.reminderIntro, due)
	case KindEscalation:
		subject = fmt.Sprintf(w.escalationSubject, cat)
		line(w.escalationIntro, due)
	default:
		subject = fmt.Sprintf(w.newSubject, cat)
		line(w.newIntro)
	}
	if m.Urgent {
		subject = "URGENT – " + subject
		if m.Kind != KindText {
			line(w.urgent)
		}
	}
	if m.Kind != KindText {
		line("")
		line("%s %s", w.caller, m.caller(w))
		if l, ok := w.languages[m.CallerLanguage]; ok {
			line("%s %s", w.callerLanguage, l)
		}
		line("%s %s", w.category, cat)
		if !m.RecordedAt.IsZero() {
			line("%s %s (%s)", w.received, w.date(m.RecordedAt.In(loc)), w.duration(m.Duration))
		}
		if !m.Due.IsZero() {
			line("%s %s", w.dueLabel, due)
		}
		line("")
		switch {
		case m.Attach != "":
			line(w.attached)
		case m.attachGone:
			line(w.missing)
		}
		if m.Link != "" {
			line(w.link)
			line("%s", m.Link)
		}
		if !m.Due.IsZero() {
			line("")
			line(w.please, due)
		}
	} else if m.Link != "" {
		line("")
		line("%s", m.Link)
	}
	line("")
	line("-- ")
	line(w.footer)
	return subject, b.String()
}

// caller is the caller's number as the recipient may see it.
func (m *Message) caller(w *lang) string {
	switch strings.ToLower(m.From) {
	case "", "anonymous", "unknown", "restricted", "private":
		return w.private
	}
	if m.ShowNumber {
		return FormatNumber(m.From)
	}
	return MaskNumber(m.From)
}

// lang holds the words of one language.
type lang struct {
	hello, noCategory, private                           string
	newSubject, reminderSubject, escalationSubject       string
	newIntro, reminderIntro, escalationIntro, urgent     string
	caller, callerLanguage, category, received, dueLabel string
	attached, missing, link, please, footer              string
	languages                                            map[string]string
	date, shortDate                                      func(time.Time) string
	duration                                             func(time.Duration) string
}

var words = map[string]*lang{
	"fr": {
		hello:             "Bonjour,",
		noCategory:        "sans catégorie",
		private:           "numéro masqué",
		newSubject:        "Nouveau message vocal : %s",
		reminderSubject:   "Rappel : %s, à rappeler avant %s",
		escalationSubject: "En retard : message non rappelé (%s)",
		newIntro:          "Un nouveau message vocal attend une réponse.",
		reminderIntro:     "Un message vocal à rappeler avant le %s n'a pas encore de réponse.",
		escalationIntro:   "Un message vocal devait être rappelé avant le %s et n'a toujours pas de réponse. Pouvez-vous rappeler la personne, ou confier le message à quelqu'un qui le fera ?",
		urgent:            "Ce message est URGENT : rappelez dès que possible.",
		caller:            "Appelant :",
		callerLanguage:    "Langue de l'appelant :",
		category:          "Sujet :",
		received:          "Reçu le :",
		dueLabel:          "À rappeler avant le :",
		attached:          "Le message est joint à ce courriel (fichier WAV).",
		missing:           "L'enregistrement n'est plus disponible en pièce jointe.",
		link:              "Pour l'écouter et noter le suivi :",
		please:            "Merci de rappeler la personne avant le %s, puis de marquer le message comme traité.",
		footer:            "Courriel automatique de la ligne téléphonique du club. N'y répondez pas.",
		languages:         map[string]string{"fr": "français", "en": "anglais"},
		date:              frDate,
		shortDate:         frShortDate,
		duration:          frDuration,
	},
	"en": {
		hello:             "Hello,",
		noCategory:        "no category",
		private:           "private number",
		newSubject:        "New voice message: %s",
		reminderSubject:   "Reminder: %s, call back before %s",
		escalationSubject: "Overdue: message not called back (%s)",
		newIntro:          "A new voice message is waiting for an answer.",
		reminderIntro:     "A voice message to call back before %s has not been answered yet.",
		escalationIntro:   "A voice message should have been called back before %s and still has no answer. Could you call the person back, or hand the message to someone who will?",
		urgent:            "This message is URGENT: please call back as soon as you can.",
		caller:            "Caller:",
		callerLanguage:    "Caller's language:",
		category:          "About:",
		received:          "Received:",
		dueLabel:          "Call back before:",
		attached:          "The message is attached to this e-mail (WAV file).",
		missing:           "The recording is no longer available as an attachment.",
		link:              "To listen to it and note the follow-up:",
		please:            "Please call the person back before %s, then mark the message as done.",
		footer:            "Automatic e-mail from the club's phone line. Do not reply.",
		languages:         map[string]string{"fr": "French", "en": "English"},
		date:              enDate,
		shortDate:         enShortDate,
		duration:          enDuration,
	},
}

var (
	frDays   = [...]string{"dimanche", "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi"}
	frMonths = [...]string{"janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre", "novembre", "décembre"}
)

// frDate: "mercredi 4 juin à 14 h 05" (the hour as the Office québécois
// de la langue française writes it). No year: a message is due within days.
func frDate(t time.Time) string {
	return fmt.Sprintf("%s %s à %s", frDays[t.Weekday()], frDay(t), frTime(t))
}

// frShortDate: "mer. 4 juin, 14 h 05", for a subject line.
func frShortDate(t time.Time) string {
	return fmt.Sprintf("%s. %s, %s", frDays[t.Weekday()][:3], frDay(t), frTime(t))
}

func frDay(t time.Time) string {
	d := fmt.Sprint(t.Day())
	if t.Day() == 1 {
		d = "1er"
	}
	return d + " " + frMonths[t.Month()-1]
}

func frTime(t time.Time) string { return fmt.Sprintf("%d h %02d", t.Hour(), t.Minute()) }

// enDate: "Wednesday, June 4 at 2:05 p.m." (Canadian style).
func enDate(t time.Time) string {
	return t.Format("Monday, January 2") + " at " + enTime(t)
}

// enShortDate: "Wed. June 4, 2:05 p.m.".
func enShortDate(t time.Time) string {
	return t.Format("Mon. January 2") + ", " + enTime(t)
}

func enTime(t time.Time) string {
	s := t.Format("3:04 ")
	if t.Hour() < 12 {
		return s + "a.m."
	}
	return s + "p.m."
}

func frDuration(d time.Duration) string {
	s := int(d.Round(time.Second) / time.Second)
	switch {
	case s < 60:
		return fmt.Sprintf("durée %d s", s)
	case s%60 == 0:
		return fmt.Sprintf("durée %d min", s/60)
	}
	return fmt.Sprintf("durée %d min %02d s", s/60, s%60)
}

func enDuration(d time.Duration) string {
	s := int(d.Round(time.Second) / time.Second)
	switch {
	case s < 60:
		return fmt.Sprintf("%d s long", s)
	case s%60 == 0:
		return fmt.Sprintf("%d min long", s/60)
	}
	return fmt.Sprintf("%d min %d s long", s/60, s%60)
}

// FormatNumber writes a phone number for reading: a North American one as
// "+1 514 555-0101" (or "514 555-0101" when it came without its country
// code); anything else as received.
func FormatNumber(s string) string {
	plus, digits := splitNumber(s)
	if !isDigits(digits) {
		return s
	}
	switch {
	case plus && len(digits) == 11 && digits[0] == '1':
		return "+1 " + digits[1:4] + " " + digits[4:7] + "-" + digits[7:]
	case !plus && len(digits) == 11 && digits[0] == '1':
		return "1 " + digits[1:4] + " " + digits[4:7] + "-" + digits[7:]
	case !plus && len(digits) == 10:
		return digits[:3] + " " + digits[3:6] + "-" + digits[6:]
	}
	return s
}

// MaskNumber hides a phone number but for its region and its last two
// digits, for a recipient who may not see it and for the logs (Quebec's
// Law 25: numbers are personal information): "+15145550101" →
// "+1 514 •••-••01", "5145550101" → "514 •••-••01", "+33612345678" →
// "+•••••••••78". A number of four digits or fewer (an extension) becomes
// "•••", a SIP user name keeps its first letter ("alice" → "a•••"), and ""
// stays "".
func MaskNumber(s string) string {
	if s == "" {
		return ""
	}
	plus, digits := splitNumber(s)
	if !isDigits(digits) {
		r, _ := utf8.DecodeRuneInString(s)
		return string(r) + "•••"
	}
	n := len(digits)
	switch {
	case n <= 4:
		return "•••"
	case plus && n == 11 && digits[0] == '1':
		return "+1 " + digits[1:4] + " •••-••" + digits[9:]
	case !plus && n == 11 && digits[0] == '1':
		return "1 " + digits[1:4] + " •••-••" + digits[9:]
	case !plus && n == 10:
		return digits[:3] + " •••-••" + digits[8:]
	}
	p := ""
	if plus {
		p = "+"
	}
	return p + strings.Repeat("•", n-2) + digits[n-2:]
}

// splitNumber strips the separators people write in numbers (spaces,
// dashes, dots, brackets) and a leading "+".
func splitNumber(s string) (plus bool, digits string) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "+") {
		plus, s = true, s[1:]
	}
	digits = strings.Map(func(r rune) rune {
		switch r {
		case ' ', '-', '.', '(', ')':
			return -1
		}
		return r
	}, s)
	return plus, digits
}

// isDigits reports whether s is digits only (what splitNumber left of
// a number).
func isDigits(s string) bool { return s != "" && clubline.Digits(s) == s }

// sameNumber reports whether a and b are the same phone number, whatever
// the separators, and with or without North America's country code 1
// (clubline.SameNumber; two names that are not numbers compare as words).
func sameNumber(a, b string) bool {
	if clubline.Digits(a) == "" || clubline.Digits(b) == "" {
		return strings.EqualFold(strings.TrimSpace(a), strings.TrimSpace(b))
	}
	return clubline.SameNumber(a, b)
}
