package config

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Error is one thing wrong in a config file, with where it is and what to
// write instead.
type Error struct {
	File string
	Line int    // 1-based; 0 when the problem has no line (a missing key)
	Key  string // dotted path of the key, "hours.weekly.mon-fri", "menu.options[2].key" (counting from 1)
	Msg  string // what is wrong
	Fix  string // what to write instead; may be empty
}

// Error reads "file:line: key: what is wrong (what to write instead)".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":" + strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Key != "" {
		b.WriteString(e.Key + ": ")
	}
	b.WriteString(e.Msg)
	if e.Fix != "" {
		b.WriteString(" (" + e.Fix + ")")
	}
	return b.String()
}

// Errors is every problem found in one file, in line order.
type Errors []*Error

// Error prints one problem a line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap lets errors.As find each *Error.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

func (es Errors) sort() {
	slices.SortStableFunc(es, func(a, b *Error) int { return a.Line - b.Line })
}

// yamlLine finds the line in a YAML syntax error: "yaml: line 3: …".
var yamlLine = regexp.MustCompile(`^yaml: (?:line (\d+): )?(.*)$`)

// yamlHints explains the parser's messages. Parser errors (as opposed to
// scanner errors) come with a line one short of the 1-based line: shift
// says so.
var yamlHints = map[string]struct {
	shift    bool
	msg, fix string
}{
	"did not find expected ',' or ']'":                      {true, "a list opened with [ on this line is not closed", "close it with ], and quote items that contain a comma or ': '"},
	"did not find expected ',' or '}'":                      {true, "a { … } opened on this line is not closed", "close it with }, and quote values that contain a comma or ': '"},
	"did not find expected key":                             {true, "the lines of the section that starts here are not lined up", "indent every key of a section by the same number of spaces"},
	"did not find expected '-' indicator":                   {true, "the items of the list that starts here are not lined up", "line up every - of the list"},
	"did not find expected node content":                    {true, "a value is missing", "write a value after the colon, or quote it"},
	"mapping values are not allowed in this context":        {false, "a value contains ': ' or the indentation is off", "put the value in quotes, or fix the indentation"},
	"found character that cannot start any token":           {false, "a character here cannot start a value (a tab, or @ or `)", "indent with spaces, not tabs, and quote values that start with @ or `"},
	"did not find expected alphabetic or numeric character": {false, "a value starts with * or &, which YAML reads as a reference", "quote it: key: \"*\""},
}

// syntaxError turns a YAML parser error into an Error. When the parser
// may have given up on another line than the mistake's, the lines of data
// name it (culprit, syntax.go).
func syntaxError(file string, data []byte, err error) *Error {
	e := &Error{File: file, Msg: err.Error(), Fix: "check the indentation and the quoting on this line"}
	m := yamlLine.FindStringSubmatch(err.Error())
	if m == nil {
		return e
	}
	if culpritMessages[m[2]] {
		if line, msg, fix, ok := culprit(data); ok {
			return &Error{File: file, Line: line, Msg: "not valid YAML: " + msg, Fix: fix}
		}
	}
	e.Line, _ = strconv.Atoi(m[1])
	e.Msg = "not valid YAML: " + m[2]
	if h, ok := yamlHints[m[2]]; ok {
		if h.shift && e.Line > 0 {
			e.Line++
		}
		e.Msg = "not valid YAML: " + h.msg
		e.Fix = h.fix
	}
	return e
}

// closest is the candidate nearest to s, if near enough to be a likely
// typo.
func closest(s string, candidates []string) (string, bool) {
	best, bestDist, bestPrefix := "", -1, 0
	lower := strings.ToLower(s)
	for _, c := range candidates {
		d, p := distance(lower, strings.ToLower(c)), commonPrefix(lower, strings.ToLower(c))
		if bestDist < 0 || d < bestDist || (d == bestDist && p > bestPrefix) {
			best, bestDist, bestPrefix = c, d, p
		}
	}
	limit := max(2, len(s)/3)
	if bestDist < 0 || bestDist > limit || (bestDist == len(s) && len(s) <= 2) {
		return "", false
	}
	return best, true
}

// distance is the Levenshtein distance between a and b.
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// quoteList renders ["a", "b", "c"] as "a, b or c".
func quoteList(items []string) string {
	switch len(items) {
	case 0:
		return ""
	case 1:
		return items[0]
	}
	return strings.Join(items[:len(items)-1], ", ") + " or " + items[len(items)-1]
}

func itoa(n int) string { return strconv.Itoa(n) }

func commonPrefix(a, b string) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}
