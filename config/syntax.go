package config

import (
	"fmt"
	"regexp"
	"strings"
)

// Decisions: where a YAML syntax error really is.
//
//   - The YAML parser (go.yaml.in/yaml/v3) says where it gave up, which is
//     often not where the mistake is: a key missing its colon is read as
//     the start of a text that goes on to the next line, so the error lands
//     on the line after; a tab in the indentation is reported on the line
//     above; a key indented by one space too few closes every section
//     opened so far and the parser blames the first line of the file.
//   - So on such an error clubline reads the lines itself (culprit), the
//     way an admin would: a tab among the leading spaces, a key lined up
//     with no key above it, a line without a colon among keys. The first
//     such line is the error, said in words with the fix. When the lines
//     show nothing of the kind, the parser's line and message stand
//     (syntaxError's hints).
//   - goccy/go-yaml reports positions better, but a second YAML library
//     for the error path alone is a dependency for one message; reading
//     the lines is a hundred lines of code that the tests pin down.
//   - The reading is deliberately simple: it skips what it does not
//     follow (text blocks after | or >, lists and maps in [ ] or { }
//     spread over lines, quotes left open) rather than guess inside them.

// culpritMessages are the parser's messages after which the mistake may
// be on another line than the one named.
var culpritMessages = map[string]bool{
	"did not find expected key":                                    true,
	"did not find expected '-' indicator":                          true,
	"found a tab character that violates indentation":              true,
	"found character that cannot start any token":                  true,
	"mapping values are not allowed in this context":               true,
	"could not find expected ':'":                                  true,
	"block sequence entries are not allowed in this context":       true,
	"found a tab character where an indentation space is expected": true,
}

// keyLine matches a line that is a "key:" or "key: value", after its
// indentation and any "- ".
var keyLine = regexp.MustCompile(`^(?:"[^"]*"|'[^']*'|[^\s#'"\[\]{},&*!|>%@` + "`" + `-][^#]*?|-[^\s#]*?):(?:\s|$)`)

// blockScalar matches the value that starts a text block: | or >.
var blockScalar = regexp.MustCompile(`^[|>][0-9+-]*$`)

// level is a block of keys or items opened at one indentation.
type level struct {
	indent  int
	key     string // the key that opened it; "" at the top
	keys    bool   // a "key:" line was seen at this level
	pending int    // a line without a colon at this level, before any key
	pendTxt string
}

// culprit reads the lines of a YAML file that failed to parse and returns
// the first one whose indentation or colon is visibly wrong.
func culprit(data []byte) (line int, msg, fix string, ok bool) {
	lines := strings.Split(string(data), "\n")
	stack := []level{{indent: 0}}
	opened := false   // the line before opens a block (ends with ":" or "-")
	prevBare := 0     // the line before is a bare word (a key missing its colon?)
	prevBareTxt := "" // and its text
	blockIndent := -1 // inside a text block: lines indented more than this
	var flow int      // depth of [ and { left open
	var quote rune    // a quote left open at the end of a line
	for i, raw := range lines {
		n := i + 1
		raw = strings.TrimSuffix(raw, "\r")
		lead := len(raw) - len(strings.TrimLeft(raw, " \t"))
		content := raw[lead:]
		if blockIndent >= 0 {
			if content == "" || indentOf(raw) > blockIndent {
				continue
			}
			blockIndent = -1
		}
		if flow > 0 || quote != 0 {
			flow, quote = scan(content, flow, quote)
			continue
		}
		if content == "" || content[0] == '#' || strings.HasPrefix(content, "---") || strings.HasPrefix(content, "...") || content[0] == '%' {
			continue
		}
		if strings.ContainsRune(raw[:lead], '\t') {
			want := stack[len(stack)-1].indent
			if opened {
				want += 2
			}
			return n, "this line is indented with a tab",
				fmt.Sprintf("indent with spaces, not tabs: replace it with %s, lined up with the keys it belongs with", spaces(want)), true
		}
		ind := lead
		item := content == "-" || strings.HasPrefix(content, "- ")
		rest := content
		col := ind
		if item {
			rest = strings.TrimLeft(strings.TrimPrefix(content, "-"), " ")
			col = ind + len(content) - len(rest)
		}
		isKey := keyLine.MatchString(rest)
		top := &stack[len(stack)-1]

		switch {
		case ind > top.indent && opened:
			stack = append(stack, level{indent: ind, key: lastOpened(lines, i)})
		case ind > top.indent:
			if prevBare > 0 {
				return prevBare, fmt.Sprintf("%q has no colon, and the line after it is indented under it", stripComment(prevBareTxt)),
					fmt.Sprintf("write %q", withColon(prevBareTxt)), true
			}
			if isKey || item {
				return n, fmt.Sprintf("%s is indented by %s, the keys above it by %s", what(rest, item), spaces(ind), spaces(top.indent)),
					fmt.Sprintf("line it up with the keys above (%s); a line indented more must follow a key that ends with a colon", spaces(top.indent)), true
			}
			// A text that goes on from the line above: leave it to the parser.
			continue
		default:
			var closed *level
			for len(stack) > 1 && stack[len(stack)-1].indent > ind {
				closed = &stack[len(stack)-1]
				stack = stack[:len(stack)-1]
			}
			top = &stack[len(stack)-1]
			if top.indent != ind {
				return n, fmt.Sprintf("%s is indented by %s, which lines it up with no key above it", what(rest, item), spaces(ind)),
					indentFix(closed, *top), true
			}
		}
		top = &stack[len(stack)-1]
		prevBare, prevBareTxt = 0, ""
		if item && col != ind && rest != "" {
			// "- key: value": the item's keys are a level of their own.
			stack = append(stack, level{indent: col, key: top.key})
			top = &stack[len(stack)-1]
		}
		switch {
		case rest == "":
			opened = true
		case isKey:
			if top.pending > 0 {
				return top.pending, fmt.Sprintf("%q has no colon, unlike the keys around it", stripComment(top.pendTxt)),
					fmt.Sprintf("write %q", withColon(top.pendTxt)), true
			}
			top.keys = true
			value := strings.TrimSpace(stripComment(rest[keyLine.FindStringIndex(rest)[1]:]))
			opened = value == ""
			if blockScalar.MatchString(value) {
				blockIndent = ind
				if item {
					blockIndent = col
				}
				opened = false
			}
			flow, quote = scan(value, 0, 0)
		case !item:
			if top.keys {
				return n, fmt.Sprintf("%q has no colon, unlike the keys around it", stripComment(content)),
					fmt.Sprintf("write %q", withColon(content)), true
			}
			top.pending, top.pendTxt = n, content
			prevBare, prevBareTxt = n, content
			opened = false
			flow, quote = scan(content, 0, 0)
		default:
			opened = false
			flow, quote = scan(rest, 0, 0)
		}
	}
	return 0, "", "", false
}

// scan follows the brackets and quotes of one line, from the state left
// by the line before, up to a comment.
func scan(s string, flow int, quote rune) (int, rune) {
	prev := ' '
	for _, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			}
		case r == '#' && (prev == ' ' || prev == '\t'):
			return flow, quote
		case r == '"' || r == '\'':
			if prev == ' ' || prev == '[' || prev == '{' || prev == ',' || prev == ':' {
				quote = r
			}
		case r == '[' || r == '{':
			flow++
		case r == ']' || r == '}':
			if flow > 0 {
				flow--
			}
		}
		prev = r
	}
	return flow, quote
}

func stripComment(s string) string {
	flow, quote := 0, rune(0)
	for i, r := range s {
		if r == '#' && quote == 0 && (i == 0 || s[i-1] == ' ' || s[i-1] == '\t') {
			return strings.TrimRight(s[:i], " \t")
		}
		flow, quote = scan(string(r), flow, quote)
	}
	return s
}

func indentOf(s string) int { return len(s) - len(strings.TrimLeft(s, " ")) }

// lastOpened is the key of the line before line i that ends with a colon.
func lastOpened(lines []string, i int) string {
	for j := i - 1; j >= 0; j-- {
		s := strings.TrimSpace(lines[j])
		if s == "" || s[0] == '#' {
			continue
		}
		s = strings.TrimLeft(strings.TrimPrefix(s, "-"), " ")
		if k, _, found := strings.Cut(s, ":"); found {
			return strings.TrimSpace(k)
		}
		return ""
	}
	return ""
}

// indentFix says how far to indent a line that lines up with no level:
// closed is the level it fell short of, under the one it went past.
func indentFix(closed *level, under level) string {
	if closed != nil && closed.key != "" {
		other := "by " + spaces(under.indent)
		if under.indent == 0 {
			other = "not at all"
		}
		return fmt.Sprintf("indent it by %s like the other keys of %s, or %s if it is not one of them", spaces(closed.indent), closed.key, other)
	}
	return fmt.Sprintf("indent it by %s, like the keys above it", spaces(under.indent))
}

func spaces(n int) string {
	switch n {
	case 0:
		return "no space"
	case 1:
		return "1 space"
	}
	return itoa(n) + " spaces"
}

func what(rest string, item bool) string {
	if item {
		return "this item"
	}
	if k, _, found := strings.Cut(rest, ":"); found {
		return strings.TrimSpace(k)
	}
	return "this line"
}

// withColon puts the colon a key missed after its first word.
func withColon(s string) string {
	s = strings.TrimSpace(stripComment(s))
	if k, v, found := strings.Cut(s, " "); found {
		return k + ": " + strings.TrimSpace(v)
	}
	return s + ":"
}
