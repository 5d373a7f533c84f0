package ivr

import (
	"cmp"
	"time"
)

// The post-call survey (Options.Survey, off by default): when the staff
// member hangs up first and the caller is still on the line, the caller
// hears one question and answers with a key from 1 to 5. The answer goes
// in the call's record and clubline_survey_score, by group: never tied to
// a number in the metrics. A caller who hangs up or presses nothing is
// simply not counted.

// SurveyOptions turn the survey on.
type SurveyOptions struct {
	Enabled bool
}

// surveyWait is how long the caller has to answer once the question ends.
const surveyWait = 6 * time.Second

func surveyKeys(k rune) bool { return k >= '1' && k <= '5' }

// survey asks the question; it returns when the caller answered, hung up
// or let it pass.
func (c *call) survey() error {
	if !c.s.o.Survey.Enabled || c.gone() {
		return nil
	}
	key, err := c.play(c.clips("survey_question"), surveyKeys)
	if err == nil && key == 0 {
		key, err = c.waitKey(surveyWait, surveyKeys)
	}
	if err != nil || key == 0 {
		if err == nil {
			c.trace("survey: no answer")
		}
		return err
	}
	score := int(key - '0')
	c.rec.Survey = score
	c.trace("survey: %d", score)
	if m := c.s.metrics; m != nil {
		m.SurveyAnswered(cmp.Or(c.rec.Group, c.rec.Route), score)
	}
	return c.bye(nil, "survey_thanks")
}
