package notify_test

import (
	"strings"
	"testing"
	"time"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/notify"
)

func TestMaskNumber(t *testing.T) {
	for in, want := range map[string]string{
		"+15145550101":    "+1 514 •••-••01",
		"15145550101":     "1 514 •••-••01",
		"5145550101":      "514 •••-••01",
		"+1 514 555-0101": "+1 514 •••-••01",
		"+33612345678":    "+•••••••••78",
		"5550101":         "•••••01",
		"101":             "•••",
		"alice":           "a•••",
		"élodie":          "é•••",
		"":                "",
	} {
		if got := notify.MaskNumber(in); got != want {
			t.Errorf("MaskNumber(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFormatNumber(t *testing.T) {
	for in, want := range map[string]string{
		"+15145550101": "+1 514 555-0101",
		"5145550101":   "514 555-0101",
		"+33612345678": "+33612345678",
		"alice":        "alice",
	} {
		if got := notify.FormatNumber(in); got != want {
			t.Errorf("FormatNumber(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCompose(t *testing.T) {
	loc := montreal(t)
	vm := &clubline.Voicemail{
		ID: "vm-1", From: "+15145550199", Category: "registrations", Language: "fr",
		RecordedAt: time.Date(2025, 6, 1, 9, 30, 0, 0, loc), Duration: 75 * time.Second,
		FollowUpDue: time.Date(2025, 6, 3, 9, 30, 0, 0, loc),
	}
	for _, tc := range []struct {
		name        string
		edit        func(m *notify.Message)
		subject     string
		body, notIn []string
	}{
		{
			name:    "new, French",
			edit:    func(m *notify.Message) { m.CategoryLabel = "Inscriptions" },
			subject: "Nouveau message vocal : Inscriptions",
			body: []string{"Bonjour,", "Un nouveau message vocal attend une réponse.", "Appelant : +1 514 •••-••99",
				"Sujet : Inscriptions", "Reçu le : dimanche 1er juin à 9 h 30 (durée 1 min 15 s)",
				"À rappeler avant le : mardi 3 juin à 9 h 30", "Merci de rappeler la personne avant le mardi 3 juin à 9 h 30"},
			notIn: []string{"URGENT", "555-0199", "joint"},
		},
		{
			name:    "new, English, urgent, number shown",
			edit:    func(m *notify.Message) { m.Language, m.Urgent, m.ShowNumber = "en", true, true },
			subject: "URGENT – New voice message: registrations",
			body: []string{"Hello,", "URGENT", "Caller: +1 514 555-0199", "Caller's language: French",
				"Received: Sunday, June 1 at 9:30 a.m. (1 min 15 s long)", "Call back before: Tuesday, June 3 at 9:30 a.m."},
		},
		{
			name:    "reminder",
			edit:    func(m *notify.Message) { m.Kind, m.CategoryLabel = notify.KindReminder, "Inscriptions" },
			subject: "Rappel : Inscriptions, à rappeler avant mar. 3 juin, 9 h 30",
			body:    []string{"Un message vocal à rappeler avant le mardi 3 juin à 9 h 30 n'a pas encore de réponse."},
		},
		{
			name:    "escalation, English",
			edit:    func(m *notify.Message) { m.Kind, m.Language = notify.KindEscalation, "en" },
			subject: "Overdue: message not called back (registrations)",
			body:    []string{"should have been called back before Tuesday, June 3 at 9:30 a.m. and still has no answer"},
		},
		{
			name: "text",
			edit: func(m *notify.Message) {
				m.Kind, m.Subject, m.Text, m.Urgent = notify.KindText, "Ligne fermée demain", "La ligne sera fermée le 24 juin.", true
			},
			subject: "URGENT – Ligne fermée demain",
			body:    []string{"La ligne sera fermée le 24 juin."},
			notIn:   []string{"Appelant", "+1 514"},
		},
		{
			name:    "private number",
			edit:    func(m *notify.Message) { m.From = "anonymous" },
			subject: "Nouveau message vocal : registrations",
			body:    []string{"Appelant : numéro masqué"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := notify.ForVoicemail(notify.KindNew, vm)
			tc.edit(&m)
			subject, body := m.Compose(loc)
			if subject != tc.subject {
				t.Errorf("subject %q, want %q", subject, tc.subject)
			}
			for _, w := range tc.body {
				if !strings.Contains(body, w) {
					t.Errorf("body lacks %q:\n%s", w, body)
				}
			}
			for _, w := range tc.notIn {
				if strings.Contains(body, w) {
					t.Errorf("body has %q:\n%s", w, body)
				}
			}
		})
	}
}
