package sipx_test

import (
	"testing"

	"github.com/clubline/clubline/sip/internal/sipx"
)

func TestMaskNumber(t *testing.T) {
	for in, want := range map[string]string{
		"+15145550101": "+1514***0101",
		"15145550101":  "1514***0101",
		"5145550101":   "5145***0101",
		"+33612345678": "+3361***5678",
		"5550101":      "***01",
		"+4930":        "+***",
		"101":          "***",
		"alice":        "a***",
		"anonymous":    "a***",
		"élodie":       "é***",
		"":             "",
	} {
		if got := sipx.MaskNumber(in); got != want {
			t.Errorf("MaskNumber(%q) = %q, want %q", in, got, want)
		}
	}
}
