package config

import (
	"fmt"
	"slices"

	"github.com/clubline/clubline"
	"go.yaml.in/yaml/v3"
)

// routeRef is a route written in the file, checked once groups are known.
type routeRef struct {
	key   string
	node  *yaml.Node
	route string
}

func (d *decoder) menu(n *yaml.Node, m *Menu, x *crossRefs, refs *[]PromptRef) {
	d.fields(n, "menu", "menu", func(key string, k, v *yaml.Node) {
		p := "menu." + key
		switch key {
		case "timeout":
			d.duration(v, p, false, &m.Timeout)
		case "retries":
			if d.integer(v, p, &m.Retries) && (m.Retries < 0 || m.Retries > 10) {
				d.add(v, p, fmt.Sprintf("%d is not between 0 and 10", m.Retries), "write how many times the menu is repeated, e.g. 2")
			}
		case "default":
			if s, ok := d.required(v, p, "write a route: a group id, voicemail or urgency"); ok {
				m.Default = s
				x.menuDefault = resolve(v)
				x.routes = append(x.routes, routeRef{p, resolve(v), s})
			}
		case "options":
			x.optionsLine = k.Line
			m.Options = d.options(v, p, x, refs)
		}
	})
}

func (d *decoder) options(n *yaml.Node, path string, x *crossRefs, refs *[]PromptRef) []MenuOption {
	opts := []MenuOption{}
	keys := map[string]int{} // key → line
	d.list(n, path, func(i int, v *yaml.Node) {
		p := item(path, i)
		v = resolve(v)
		if v.Kind != yaml.MappingNode {
			d.add(v, p, "expected { key: …, category: …, route: … }, found "+kindName(v),
				"write - { key: \"1\", category: registrations, route: office }")
			return
		}
		o := MenuOption{Line: v.Line}
		valid := true
		var catNode *yaml.Node
		promptLine := 0
		d.fields(v, "menu.options[]", p, func(key string, k, v *yaml.Node) {
			kp := p + "." + key
			switch key {
			case "key":
				s, ok := d.required(v, kp, "write one of 0-9, * or # in quotes, e.g. \"1\"")
				switch {
				case !ok:
				case !validKey(s):
					d.add(v, kp, fmt.Sprintf("%q is not one phone key", s), "write one of 0-9, * or # in quotes, e.g. \"1\"")
				case keys[s] > 0:
					d.add(v, kp, fmt.Sprintf("key %s is already the option on line %d", s, keys[s]), "give each option its own key")
				default:
					keys[s] = v.Line
					o.Key = s
					return
				}
				valid = false
			case "category":
				catNode = v
				if s, ok := d.name(v, kp, "category"); ok {
					o.Category = s
				} else {
					valid = false
				}
			case "route":
				if s, ok := d.required(v, kp, "write a route: a group id, voicemail or urgency"); ok {
					o.Route = s
					x.routes = append(x.routes, routeRef{kp, resolve(v), s})
				} else {
					valid = false
				}
			case "prompt":
				promptLine = v.Line
				if s, ok := d.name(v, kp, "prompt name"); ok {
					o.Prompt = s
				} else {
					valid = false
				}
			}
		})
		for _, req := range []struct{ key, val, fix string }{
			{"key", o.Key, "add key: \"1\""},
			{"category", o.Category, "add category: registrations"},
			{"route", o.Route, "add route: office"},
		} {
			if req.val == "" && !hasKey(v, req.key) {
				d.add(v, p+"."+req.key, "missing", req.fix)
				valid = false
			}
		}
		if o.Category != "" && !IsBuiltinCategory(o.Category) && o.Prompt == "" && !hasKey(v, "prompt") {
			d.add(catNode, p+".category", fmt.Sprintf("%s is not a built-in category, so it needs its own prompt", o.Category),
				fmt.Sprintf("add prompt: menu_%s and put menu_%s.wav in prompts.dir/<lang>/, or use one of %s", o.Category, o.Category, quoteList(Categories)))
			valid = false
		}
		if valid {
			opts = append(opts, o)
			if o.Prompt != "" {
				*refs = append(*refs, PromptRef{Name: o.Prompt, Key: p + ".prompt", Line: promptLine})
			}
		}
	})
	return opts
}

// crossCheck checks what one section says about another: routes name
// groups, the language key is not a menu key.
func (d *decoder) crossCheck(c *Config, x *crossRefs) {
	var ids []string
	for _, g := range c.Groups {
		ids = append(ids, g.ID)
	}
	routes := append([]string{clubline.RouteVoicemail, clubline.RouteUrgency}, ids...)
	checkRoute := func(key string, node *yaml.Node, line int, route string) {
		if slices.Contains(routes, route) {
			return
		}
		fix := "add { id: " + route + " } to groups, or route to " + quoteList(routes)
		if s, near := closest(route, routes); near {
			fix = "did you mean " + s + "?"
		}
		e := &Error{File: d.file, Key: key, Msg: fmt.Sprintf("route %q: no such group", route), Fix: fix}
		if node != nil {
			e.Line = node.Line
		} else {
			e.Line = line
		}
		d.errs = append(d.errs, e)
	}
	for _, r := range x.routes {
		checkRoute(r.key, r.node, 0, r.route)
	}
	// Defaults the file kept must still find their groups.
	if x.optionsLine == 0 {
		for _, o := range c.Menu.Options {
			if !slices.Contains(routes, o.Route) {
				checkRoute("menu.options", nil, x.groupsLine, o.Route)
				break
			}
		}
	}
	if x.menuDefault == nil {
		checkRoute("menu.default", nil, x.groupsLine, c.Menu.Default)
	}

	lk := c.Club.LanguageKey
	lkLine := 0
	if x.languageKey != nil {
		lkLine = x.languageKey.Line
	}
	if x.multiLanguages && lk == "" {
		d.errs = append(d.errs, &Error{File: d.file, Line: lkLine, Key: "club.language_key", Msg: "empty, so callers cannot choose the other language",
			Fix: "write a key no menu option uses, e.g. \"" + freeKey(c.Menu.Options) + "\""})
	}
	if lk == "" {
		return
	}
	for _, o := range c.Menu.Options {
		if o.Key != lk {
			continue
		}
		line, where := lkLine, fmt.Sprintf("menu option %s (%s)", o.Key, o.Category)
		if o.Line > 0 {
			where += fmt.Sprintf(" on line %d", o.Line)
			if line == 0 {
				line = o.Line
			}
		}
		d.errs = append(d.errs, &Error{File: d.file, Line: line, Key: "club.language_key",
			Msg: fmt.Sprintf("key %s both switches language and is %s", lk, where),
			Fix: "write language_key: \"" + freeKey(c.Menu.Options) + "\", or give the option another key"})
	}
}

// freeKey is a key no option uses, to suggest for the language switch.
func freeKey(opts []MenuOption) string {
	for _, k := range []string{"8", "*", "#", "7", "6", "5", "4", "3", "2", "1", "9", "0"} {
		if !slices.ContainsFunc(opts, func(o MenuOption) bool { return o.Key == k }) {
			return k
		}
	}
	return "*"
}
