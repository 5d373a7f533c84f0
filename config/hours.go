package config

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/clubline/clubline/routing"
)

func (d *decoder) hours(n *yaml.Node, h *Hours, refs *[]PromptRef) {
	d.fields(n, "hours", "hours", func(key string, k, v *yaml.Node) {
		p := "hours." + key
		switch key {
		case "weekly":
			if w, ok := d.weekly(v, p); ok {
				h.Weekly = w
			}
		case "seasons":
			h.Seasons = d.seasons(v, p)
		case "closures":
			h.Closures = d.closures(v, p, refs)
		case "holidays":
			if s, ok := d.oneOf(v, p, []string{"none", "quebec", "canada"}); ok {
				h.Holidays = routing.HolidaySet(s)
			}
		case "override":
			if s, ok := d.oneOf(v, p, []string{"auto", "open", "closed"}); ok {
				h.Override = routing.Override(s)
			}
		}
	})
}

// placed is a range already read for a day, to find overlaps.
type placed struct {
	r    routing.Range
	days string
	line int
}

// weekly reads "mon-fri: 08:30-12:00,13:00-16:30" lines.
func (d *decoder) weekly(n *yaml.Node, path string) (routing.Weekly, bool) {
	n = resolve(n)
	if isNull(n) {
		return routing.Weekly{}, true
	}
	ok := true
	w := routing.Weekly{}
	var byDay [7][]placed
	if n.Kind != yaml.MappingNode {
		d.add(n, path, "expected one line per day or run of days, found "+kindName(n), "write e.g. \"mon-fri: 08:30-16:30\" indented under weekly")
		return nil, false
	}
	d.fields(n, "weekly", path, func(key string, k, v *yaml.Node) {
		p := path + "." + key
		first, last, msg, fix := parseDays(key)
		if msg != "" {
			d.add(k, p, msg, fix)
			ok = false
			return
		}
		text, good := d.rangesText(v, p)
		if !good {
			ok = false
			return
		}
		ranges, msg, fix := parseRanges(text)
		if msg != "" {
			d.add(v, p, msg, fix)
			ok = false
			return
		}
		rule := routing.WeeklyRule{First: first, Last: last, Ranges: ranges}
		reported := false
		for i := routing.MondayIndex(first); i <= routing.MondayIndex(last) && !reported; i++ {
			for _, r := range ranges {
				for _, o := range byDay[i] {
					if o.r.Overlaps(r) && !reported {
						d.add(v, p, fmt.Sprintf("%s overlaps %s %s (line %d) on %s", r, o.days, o.r, o.line, routing.DayName(weekdayAt(i))),
							"ranges of a day may touch (12:00 and 12:00) but not overlap")
						reported, ok = true, false
					}
				}
			}
		}
		for i := routing.MondayIndex(first); i <= routing.MondayIndex(last); i++ {
			for _, r := range ranges {
				byDay[i] = append(byDay[i], placed{r, rule.Days(), v.Line})
			}
		}
		w = append(w, rule)
	})
	return w, ok
}

func weekdayAt(i int) time.Weekday { return time.Weekday((i + 1) % 7) }

// rangesText reads the ranges of a day: "08:30-12:00,13:00-16:30", or a
// list of ranges.
func (d *decoder) rangesText(v *yaml.Node, path string) (string, bool) {
	v = resolve(v)
	if v.Kind == yaml.SequenceNode {
		vals, _, ok := d.strings(v, path)
		return strings.Join(vals, ","), ok
	}
	return d.scalar(v, path)
}

var frenchDays = map[string]string{"lun": "mon", "mar": "tue", "mer": "wed", "jeu": "thu", "ven": "fri", "sam": "sat", "dim": "sun"}

// parseDays reads "mon", "mon-fri".
func parseDays(s string) (first, last time.Weekday, msg, fix string) {
	parts := strings.Split(strings.ToLower(strings.TrimSpace(s)), "-")
	if len(parts) > 2 {
		return 0, 0, fmt.Sprintf("%q is not a day or a run of days", s), "write a day (sat) or a run of days (mon-fri)"
	}
	var days []time.Weekday
	for _, p := range parts {
		p = strings.TrimSpace(p)
		d, ok := routing.ParseDayName(p)
		if !ok {
			return 0, 0, fmt.Sprintf("unknown day %q", p), dayFix(p)
		}
		days = append(days, d)
	}
	first, last = days[0], days[len(days)-1]
	if routing.MondayIndex(first) > routing.MondayIndex(last) {
		return 0, 0, fmt.Sprintf("%s: the week runs from mon to sun", s),
			fmt.Sprintf("write %s and %s on two lines", dayRun(first, time.Sunday), dayRun(time.Monday, last))
	}
	return first, last, "", ""
}

// dayRun writes the days from first to last: "sat-sun", or "mon" alone.
func dayRun(first, last time.Weekday) string {
	if first == last {
		return routing.DayName(first)
	}
	return routing.DayName(first) + "-" + routing.DayName(last)
}

func dayFix(p string) string {
	const all = "write mon, tue, wed, thu, fri, sat or sun, or a run such as mon-fri"
	if en, ok := frenchDays[p]; ok {
		return "days are written in English: write " + en
	}
	if len(p) > 3 {
		if _, ok := routing.ParseDayName(p[:3]); ok {
			return "write " + p[:3]
		}
		if en, ok := frenchDays[p[:3]]; ok {
			return "days are written in English: write " + en
		}
	}
	if strings.Contains(p, ",") {
		return "one day or one run of days a line: write sat-sun, or sat and sun on two lines"
	}
	return all
}

var clockPattern = regexp.MustCompile(`^(\d{1,2}):(\d{2})$`)

// parseRanges reads "08:30-12:00,13:00-16:30" into sorted ranges.
func parseRanges(s string) ([]routing.Range, string, string) {
	if strings.TrimSpace(s) == "" {
		return nil, "no hours given", "write e.g. 08:30-16:30; to keep a day closed, leave it out"
	}
	var out []routing.Range
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		a, b, found := strings.Cut(part, "-")
		if !found {
			return nil, fmt.Sprintf("%q is not a range", part), "write start-end, e.g. 08:30-16:30"
		}
		start, msg, fix := parseClock(strings.TrimSpace(a), false)
		if msg != "" {
			return nil, msg, fix
		}
		end, msg, fix := parseClock(strings.TrimSpace(b), true)
		if msg != "" {
			return nil, msg, fix
		}
		r := routing.Range{Start: start, End: end}
		switch {
		case end == start:
			return nil, part + " starts and ends at the same time", "write e.g. 08:30-16:30"
		case end < start:
			return nil, part + " ends before it starts", fmt.Sprintf("write %s-%s; a range cannot cross midnight: split it into %s-24:00 and 00:00-%s on the next day", end, start, start, end)
		}
		for _, o := range out {
			if o.Overlaps(r) {
				return nil, fmt.Sprintf("%s overlaps %s", r, o), "ranges of a day may touch (12:00 and 12:00) but not overlap"
			}
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b routing.Range) int { return int(a.Start - b.Start) })
	return out, "", ""
}

// parseClock reads "08:30"; "24:00" is allowed as an end.
func parseClock(s string, end bool) (routing.Clock, string, string) {
	m := clockPattern.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Sprintf("%q is not a time", s), clockFix(s)
	}
	h, _ := strconv.Atoi(m[1])
	mm, _ := strconv.Atoi(m[2])
	switch {
	case h == 24 && mm == 0 && end:
		return 24 * 60, "", ""
	case h > 23:
		return 0, fmt.Sprintf("%q: hours run from 00 to 23", s), "write a time such as 08:30; 24:00 may only end a range"
	case mm > 59:
		return 0, fmt.Sprintf("%q: minutes run from 00 to 59", s), fmt.Sprintf("write e.g. %02d:30", h)
	}
	return routing.Clock(h*60 + mm), "", ""
}

var (
	hPattern  = regexp.MustCompile(`^(\d{1,2})\s*h\s*(\d{2})?$`)
	amPattern = regexp.MustCompile(`(?i)^(\d{1,2})(?::(\d{2}))?\s*([ap])\.?m\.?$`)
)

func clockFix(s string) string {
	if m := hPattern.FindStringSubmatch(strings.ToLower(s)); m != nil {
		h, _ := strconv.Atoi(m[1])
		mm := m[2]
		if mm == "" {
			mm = "00"
		}
		return fmt.Sprintf("write %02d:%s", h, mm)
	}
	if m := amPattern.FindStringSubmatch(s); m != nil {
		h, _ := strconv.Atoi(m[1])
		if strings.EqualFold(m[3], "p") && h < 12 {
			h += 12
		}
		if strings.EqualFold(m[3], "a") && h == 12 {
			h = 0
		}
		mm := m[2]
		if mm == "" {
			mm = "00"
		}
		return fmt.Sprintf("use the 24-hour clock: write %02d:%s", h, mm)
	}
	return "write HH:MM on the 24-hour clock, e.g. 08:30 or 16:30"
}

func (d *decoder) date(n *yaml.Node, path string) (routing.Date, bool) {
	s, ok := d.required(n, path, "write a date as YYYY-MM-DD, e.g. 2026-12-25")
	if !ok {
		return routing.Date{}, false
	}
	dt, err := routing.ParseDate(strings.TrimSpace(s))
	if err != nil {
		d.add(n, path, fmt.Sprintf("%q is not a date", s), "write YYYY-MM-DD with a day that exists, e.g. 2026-12-25")
		return routing.Date{}, false
	}
	return dt, true
}

// seasonAt keeps where a season was written, to report overlaps.
type seasonAt struct {
	s    routing.Season
	line int
	path string
	node *yaml.Node
}

func (d *decoder) seasons(n *yaml.Node, path string) []routing.Season {
	var read []seasonAt
	d.list(n, path, func(i int, v *yaml.Node) {
		p := item(path, i)
		v = resolve(v)
		if v.Kind != yaml.MappingNode {
			d.add(v, p, "expected { name: …, from: …, to: …, weekly: { … } }, found "+kindName(v),
				"write - { name: Inscriptions, from: 2027-01-11, to: 2027-02-12, weekly: { mon-fri: 08:30-20:00 } }")
			return
		}
		var s routing.Season
		var toNode *yaml.Node
		valid := true
		got := map[string]bool{}
		d.fields(v, "hours.seasons[]", p, func(key string, k, fv *yaml.Node) {
			got[key] = true
			kp := p + "." + key
			var ok bool
			switch key {
			case "name":
				s.Name, ok = d.required(fv, kp, "write the season's name")
			case "from":
				s.From, ok = d.date(fv, kp)
			case "to":
				toNode = fv
				s.To, ok = d.date(fv, kp)
			case "weekly":
				s.Weekly, ok = d.weekly(fv, kp)
			}
			valid = valid && ok
		})
		for _, req := range []struct{ key, fix string }{
			{"name", "add name: Inscriptions hiver"}, {"from", "add from: 2027-01-11"},
			{"to", "add to: 2027-02-12"}, {"weekly", "add the season's hours, e.g. weekly: { mon-fri: 08:30-20:00 }; for days closed, use closures"},
		} {
			if !got[req.key] && !hasKey(v, req.key) {
				d.add(v, p+"."+req.key, "missing", req.fix)
				valid = false
			}
		}
		if valid && s.To.Before(s.From) {
			d.add(toNode, p+".to", fmt.Sprintf("the season ends (%s) before it starts (%s)", s.To, s.From), "swap from and to")
			valid = false
		}
		if valid {
			read = append(read, seasonAt{s, v.Line, p, v})
		}
	})
	var out []routing.Season
	for j, b := range read {
		overlap := false
		for _, a := range read[:j] {
			if !b.s.From.After(a.s.To) && !a.s.From.After(b.s.To) {
				first := b.s.From
				if a.s.From.After(first) {
					first = a.s.From
				}
				d.add(b.node, b.path, fmt.Sprintf("season %q overlaps season %q (line %d): %s is in both", b.s.Name, a.s.Name, a.line, first),
					"seasons cannot share days: end one before the other starts")
				overlap = true
				break
			}
		}
		if !overlap {
			out = append(out, b.s)
		}
	}
	return out
}

func (d *decoder) closures(n *yaml.Node, path string, refs *[]PromptRef) []routing.Closure {
	var out []routing.Closure
	d.list(n, path, func(i int, v *yaml.Node) {
		p := item(path, i)
		v = resolve(v)
		if v.Kind != yaml.MappingNode {
			d.add(v, p, "expected { date: …, name: … } or { from: …, to: …, name: … }, found "+kindName(v),
				"write - { date: 2026-12-25, name: Noël }")
			return
		}
		var c routing.Closure
		var date, from, to routing.Date
		var toNode *yaml.Node
		valid := true
		got := map[string]bool{}
		d.fields(v, "hours.closures[]", p, func(key string, k, fv *yaml.Node) {
			got[key] = true
			kp := p + "." + key
			ok := true
			switch key {
			case "date":
				date, ok = d.date(fv, kp)
			case "from":
				from, ok = d.date(fv, kp)
			case "to":
				toNode = fv
				to, ok = d.date(fv, kp)
			case "name":
				c.Name, ok = d.required(fv, kp, "write the closure's name, e.g. Noël")
			case "prompt":
				c.Key, ok = d.name(fv, kp, "prompt name")
				if ok {
					*refs = append(*refs, PromptRef{Name: c.Key, Key: kp, Line: fv.Line})
				}
			}
			valid = valid && ok
		})
		switch {
		case got["date"] && (got["from"] || got["to"]):
			d.add(v, p, "has both date and from/to", "write date: for one day, or from: and to: for a period")
			valid = false
		case got["date"]:
			c.From, c.To = date, date
		case got["from"] && got["to"]:
			c.From, c.To = from, to
			if valid && to.Before(from) {
				d.add(toNode, p+".to", fmt.Sprintf("the closure ends (%s) before it starts (%s)", to, from), "swap from and to")
				valid = false
			}
		case got["from"]:
			d.add(v, p+".to", "missing", "add to: with the last day closed, or write date: for a single day")
			valid = false
		case got["to"]:
			d.add(v, p+".from", "missing", "add from: with the first day closed, or write date: for a single day")
			valid = false
		default:
			d.add(v, p+".date", "missing", "add date: 2026-12-25 for one day, or from: and to: for a period")
			valid = false
		}
		if !got["name"] {
			d.add(v, p+".name", "missing", "add name: with what callers should hear it is, e.g. Noël")
			valid = false
		}
		if valid {
			out = append(out, c)
		}
	})
	return out
}
