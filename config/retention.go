package config

import (
	"fmt"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// RetentionOff is what the file says for no limit.
const RetentionOff = "off"

func (d *decoder) retention(n *yaml.Node, r *Retention, x *crossRefs) {
	d.fields(n, "retention", "retention", func(key string, k, v *yaml.Node) {
		p := "retention." + key
		switch key {
		case "calls":
			d.retentionLimit(v, p, "365d", &r.Calls)
		case "voicemail":
			x.retentionVoicemail = resolve(v)
			if !d.retentionLimit(v, p, "90d", &r.Voicemail) {
				x.retentionVoicemailBad = true // reported: the check below would repeat it
			}
		}
	})
}

// retentionLimit reads how long records are kept: a length of at least a
// day, or off (no limit, stored as 0). Zero is refused: "keep nothing" and
// "keep forever" are both plausible readings of it. It reports whether the
// value was valid.
func (d *decoder) retentionLimit(n *yaml.Node, path, example string, dst *time.Duration) bool {
	s, ok := d.required(n, path, "write how long to keep them, e.g. "+example+", or off for no limit")
	if !ok {
		return false
	}
	if strings.EqualFold(strings.TrimSpace(s), RetentionOff) {
		*dst = 0
		return true
	}
	var v time.Duration
	if !d.duration(n, path, true, &v) {
		return false
	}
	switch {
	case v == 0:
		d.add(n, path, "cannot be zero", "write how long to keep them, e.g. "+example+", or off for no limit")
	case v < Day:
		msg := fmt.Sprintf("%s is less than a day", FormatDuration(v))
		if strings.HasSuffix(strings.TrimSpace(s), "m") {
			msg += " (m is minutes, not months)"
		}
		d.add(n, path, msg, "write days, e.g. "+example)
	default:
		*dst = v
		return true
	}
	return false
}

// checkRetention checks that a message outlives its follow-up: one deleted
// before it is due could never be answered.
func (d *decoder) checkRetention(c *Config, x *crossRefs) {
	keep := c.Retention.Voicemail
	if keep == 0 || x.retentionVoicemailBad {
		return
	}
	within, key, node := c.Voicemail.FollowUpWithin, "follow_up_within", x.followUpWithin
	if c.Voicemail.UrgentFollowUpWithin > within {
		within, key, node = c.Voicemail.UrgentFollowUpWithin, "urgent_follow_up_within", x.urgentFollowUpWithin
	}
	if keep >= within {
		return
	}
	why := "a message would be deleted before its follow-up is due"
	if x.retentionVoicemail != nil || node == nil {
		d.add(x.retentionVoicemail, "retention.voicemail",
			fmt.Sprintf("%s is shorter than voicemail.%s %s: %s", FormatDuration(keep), key, FormatDuration(within), why),
			fmt.Sprintf("write at least %s, or shorten voicemail.%s", FormatDuration(within), key))
		return
	}
	d.add(node, "voicemail."+key,
		fmt.Sprintf("%s is longer than retention.voicemail %s: %s", FormatDuration(within), FormatDuration(keep), why),
		fmt.Sprintf("write at most %s, or add retention.voicemail: %s or longer", FormatDuration(keep), FormatDuration(within)))
}

// FormatDuration writes a length of time as the file would: whole days as
// "90d", other lengths in Go's form without its trailing zero units
// ("48h", "1h30m", "30s").
func FormatDuration(v time.Duration) string {
	if v >= Day && v%Day == 0 {
		return fmt.Sprintf("%dd", v/Day)
	}
	s := v.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
