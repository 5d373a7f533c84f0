package prompts

// The layers of what callers hear, lowest first: the built-in clip; the
// admin's prompts folder (Load); the club-naming sentences synthesized
// for the configured club where only the built-in had them (Synth.Apply);
// the club's own recordings (Recordings.Overlay). Each clip of a Set says
// which layer it came from, so `clubline check` can tell whether the
// greeting names the right club.

// Kind is the layer a clip comes from.
type Kind string

// The layers, lowest first.
const (
	FromBuiltin     Kind = "built-in"
	FromDir         Kind = "prompts folder"
	FromSynthesized Kind = "synthesized"
	FromRecorded    Kind = "recorded"
)

// Origin says where one clip of a Set comes from.
type Origin struct {
	Kind Kind
	// Note is what an admin needs to find it: the file of the prompts
	// folder, the sentence synthesized, the recording's version, its
	// author and date. Empty for the built-in.
	Note string
}

func (o Origin) String() string {
	if o.Note == "" {
		return string(o.Kind)
	}
	return string(o.Kind) + " (" + o.Note + ")"
}

// Origin returns where the clip lang/name comes from; false when the set
// has no such clip.
func (s *Set) Origin(lang, name string) (Origin, bool) {
	if !s.Has(lang, name) {
		return Origin{}, false
	}
	if o, ok := s.origins[lang][name]; ok {
		return o, true
	}
	return Origin{Kind: FromBuiltin}, true
}
