package ivr_test

import (
	"slices"
	"testing"
	"time"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/routing"
)

func TestClosedWeekdayNight(t *testing.T) {
	h := newHarness(t)
	h.status = nightStatus
	h.now = tuesdayNight
	rec, leg := h.run(recording{frames: tone(100), then: "#"})
	heard := leg.Heard()
	want := []string{
		"fr/greeting", "en/language_offer", "en/digit_8",
		"fr/closed",
		"fr/reopening",
		"fr/urgent_offer", "fr/digit_9",
		"fr/closed_skip", // the instruction and the # key, said once
		"fr/beep",
		"fr/voicemail_callback", "fr/num_48", "fr/hours", // after the message
		"fr/hours_intro", "fr/hours_from", "fr/hours_to",
		"fr/voicemail_saved",
	}
	if !inOrder(heard, want) {
		t.Errorf("heard\n%v\nwant in order\n%v", heard, want)
	}
	if slices.Contains(heard, "fr/menu_intro") || slices.Contains(heard, "fr/closed_today") ||
		slices.Contains(heard, "fr/voicemail") || slices.Contains(heard, "fr/voicemail_end") {
		t.Errorf("heard %v", heard)
	}
	if rec.Hours != clubline.HoursClosed || rec.Outcome != clubline.OutcomeVoicemail || rec.Route != "voicemail" {
		t.Errorf("hours/outcome/route = %s/%s/%s", rec.Hours, rec.Outcome, rec.Route)
	}
	if rec.Trace[0] != "closed: weekly mon-fri 08:30-16:30" {
		t.Errorf("trace = %q", rec.Trace)
	}
	vms := h.store.SavedVoicemails()
	if len(vms) != 1 || vms[0].Urgent || vms[0].FollowUpDue != h.now.Add(48*time.Hour) {
		t.Errorf("voicemails = %+v", vms)
	}
	if n := h.callsCounted(clubline.HoursClosed, clubline.OutcomeVoicemail); n != 1 {
		t.Errorf("calls{closed,voicemail} = %v", n)
	}
}

func TestClosedHoursWithSeveralRanges(t *testing.T) {
	h := newHarness(t)
	h.status = nightStatus
	h.status.Hours = []routing.DaySpan{
		{First: time.Monday, Last: time.Thursday, Ranges: []routing.Range{{Start: 9 * 60, End: 12 * 60}, {Start: 13 * 60, End: 17 * 60}}},
		{First: time.Saturday, Last: time.Saturday, Ranges: []routing.Range{{Start: 9 * 60, End: 12 * 60}}},
	}
	h.now = tuesdayNight
	_, leg := h.run(recording{frames: tone(100), then: "#"})
	heard := leg.Heard()
	want := []string{"fr/reopening", "fr/tomorrow", "fr/at", "fr/hour_8", "fr/num_30", "fr/beep",
		"fr/hours_intro", "fr/day_from", "fr/day_monday", "fr/day_to", "fr/day_thursday",
		"fr/hours_from", "fr/hour_9", "fr/hours_to", "fr/midi", "fr/hours_and",
		"fr/hours_from", "fr/hour_13", "fr/hours_to", "fr/hour_17",
		"fr/hours_and", "fr/day_saturday", "fr/hours_from", "fr/hour_9", "fr/hours_to", "fr/midi"}
	if !inOrder(heard, want) {
		t.Errorf("heard\n%v\nwant in order\n%v", heard, want)
	}
	if n := count(heard, "fr/hours_and"); n != 2 {
		t.Errorf("hours_and said %d times", n)
	}
}

func TestClosedHoliday(t *testing.T) {
	h := newHarness(t)
	h.status = routing.Status{Reason: routing.ReasonHoliday, Name: "Fête nationale", Key: "fete_nationale",
		NextOpen: time.Date(2026, 6, 25, 8, 30, 0, 0, montreal), Hours: weekdays}
	h.now = time.Date(2026, 6, 24, 10, 0, 0, 0, montreal)
	rec, leg := h.run(recording{frames: tone(100), then: "#"})
	heard := leg.Heard()
	if !inOrder(heard, []string{"fr/greeting", "fr/closed_today_for", "fr/holiday_fete_nationale",
		"fr/reopening", "fr/urgent_offer", "fr/closed_skip", "fr/beep", "fr/hours_intro", "fr/voicemail_saved"}) {
		t.Errorf("heard %v", heard)
	}
	if slices.Contains(heard, "fr/closed") {
		t.Errorf("heard closed as well: %v", heard)
	}
	if rec.Trace[0] != "closed: holiday Fête nationale" || rec.HoursReason != "holiday Fête nationale" {
		t.Errorf("trace %q reason %q", rec.Trace, rec.HoursReason)
	}
}

func TestClosedHolidayWithoutPrompt(t *testing.T) {
	h := newHarness(t)
	h.prompts = newFakePrompts("fr/holiday_founders_day")
	h.status = routing.Status{Reason: routing.ReasonHoliday, Name: "Founders", Key: "founders_day"}
	_, leg := h.run(recording{then: "hangup"})
	heard := leg.Heard()
	if !slices.Contains(heard, "fr/closed_today") || slices.Contains(heard, "fr/closed_today_for") {
		t.Errorf("heard %v", heard)
	}
	if slices.Contains(heard, "fr/technical_difficulty") || slices.Contains(heard, "fr/hours_intro") {
		t.Errorf("heard %v", heard)
	}
}

func TestClosedClosureWithPrompt(t *testing.T) {
	h := newHarness(t)
	h.prompts = newFakePrompts("fr/holidays")
	h.status = routing.Status{Reason: routing.ReasonClosure, Name: "Vacances des fêtes", Key: "holidays"}
	_, leg := h.run(recording{then: "hangup"})
	if !inOrder(leg.Heard(), []string{"fr/closed_today_for", "fr/closure_holidays"}) {
		t.Errorf("heard %v", leg.Heard())
	}
}

func TestUrgentKeyOutOfHours(t *testing.T) {
	h := newHarness(t)
	h.status = nightStatus
	h.now = tuesdayNight
	rec, leg := h.run(recording{frames: tone(100), then: "#"}, during("fr/closed", '9'))
	heard := leg.Heard()
	if slices.Contains(heard, "fr/hours_intro") {
		t.Errorf("the closed message went on after the urgent key: %v", heard)
	}
	if !inOrder(heard, []string{"fr/closed", "fr/voicemail", "fr/voicemail_end", "fr/beep", "fr/voicemail_saved"}) {
		t.Errorf("heard %v", heard)
	}
	if !inOrder(rec.Trace, []string{"closed: weekly mon-fri 08:30-16:30", "urgent key → urgency",
		"urgency: no on-call roster", "urgency: nobody answered → voicemail (urgent)", "voicemail: 2.0s saved (#)"}) {
		t.Errorf("trace = %q", rec.Trace)
	}
	if rec.Choice != "9" || rec.Route != "urgency" || rec.Category != "urgent" {
		t.Errorf("choice/route/category = %q/%q/%q", rec.Choice, rec.Route, rec.Category)
	}
	vms := h.store.SavedVoicemails()
	if len(vms) != 1 || !vms[0].Urgent || vms[0].FollowUpDue != h.now.Add(2*time.Hour) {
		t.Fatalf("voicemails = %+v", vms)
	}
}

// The closed message's last sentence (closed_skip) is the instruction:
// the urgent key still works during it.
func TestUrgentKeyDuringClosedSkip(t *testing.T) {
	h := newHarness(t)
	h.status = nightStatus
	rec, _ := h.run(recording{frames: tone(100), then: "#"}, during("fr/closed_skip", '9'))
	if rec.Route != "urgency" {
		t.Errorf("route = %q, trace %q", rec.Route, rec.Trace)
	}
	if vms := h.store.SavedVoicemails(); len(vms) != 1 || !vms[0].Urgent {
		t.Errorf("voicemails = %+v", vms)
	}
}

func TestPoundSkipsClosedMessageToBeep(t *testing.T) {
	h := newHarness(t)
	h.status = nightStatus
	rec, leg := h.run(recording{frames: tone(100), then: "#"}, during("fr/reopening", '#'))
	heard := leg.Heard()
	if slices.Contains(heard, "fr/voicemail") || slices.Contains(heard, "fr/urgent_offer") || slices.Contains(heard, "fr/closed_skip") {
		t.Errorf("heard %v", heard)
	}
	if !inOrder(heard, []string{"fr/reopening", "fr/beep", "fr/hours_intro", "fr/voicemail_saved"}) {
		t.Errorf("heard %v", heard)
	}
	if rec.Outcome != clubline.OutcomeVoicemail {
		t.Errorf("outcome = %s", rec.Outcome)
	}
}

func TestLanguageKeyReplaysClosedMessage(t *testing.T) {
	h := newHarness(t)
	h.status = nightStatus
	rec, leg := h.run(recording{frames: tone(100), then: "#"}, during("fr/closed", '8'))
	heard := leg.Heard()
	if !inOrder(heard, []string{"fr/greeting", "fr/closed", "en/closed", "en/urgent_offer", "en/closed_skip",
		"en/beep", "en/hours_intro", "en/voicemail_saved"}) {
		t.Errorf("heard %v", heard)
	}
	if slices.Contains(heard, "en/greeting") || slices.Contains(heard, "fr/hours_intro") {
		t.Errorf("heard %v", heard)
	}
	if rec.Language != "en" {
		t.Errorf("language = %q", rec.Language)
	}
}

// A caller who leaves no message out of hours still hears the hours, and
// no callback delay, before no_message.
func TestClosedNoMessageHearsHours(t *testing.T) {
	h := newHarness(t)
	h.status = nightStatus
	h.now = tuesdayNight
	rec, leg := h.run(recording{frames: silence(10), then: "#"})
	heard := leg.Heard()
	if !inOrder(heard, []string{"fr/closed_skip", "fr/beep", "fr/hours_intro", "fr/hour_16", "fr/no_message"}) ||
		slices.Contains(heard, "fr/voicemail_callback") {
		t.Errorf("heard %v", heard)
	}
	if rec.Outcome == clubline.OutcomeVoicemail {
		t.Errorf("outcome = %s", rec.Outcome)
	}
}
