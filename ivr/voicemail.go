package ivr

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/prompts"
	"github.com/clubline/clubline/vmdir"
)

// voicemail asks for a message, beeps and records it. skip goes straight
// to the beep (the closed message, whose last sentence is the
// instruction, or # or 0 during it). A #
// during the instruction skips to the beep too; while the office is closed
// the urgency key still reaches the urgent line.
func (c *call) voicemail(skip bool) error {
	c.stage(clubline.StageVoicemail)
	if !skip {
		key, err := c.play(c.instruction(), func(k rune) bool { return k == '#' || c.isUrgencyKey(k) })
		if err != nil {
			return err
		}
		if c.isUrgencyKey(key) {
			return c.urgencyKey()
		}
	}
	if _, err := c.play(c.clips("beep"), noKeys); err != nil {
		return err
	}
	return c.record()
}

// fullInstruction is the clip an admin records to replace the whole
// instruction, callback delay included.
const fullInstruction = "voicemail_full"

// instruction is what the caller hears before the beep: the admin's own
// whole instruction when the prompts have one (voicemail_full), otherwise
// the built-in one with the callback delay the club keeps for this
// message, said from the configuration ("… nous vous rappellerons dans
// les" + 48 + "heures" + "Appuyez sur le carré pour terminer.").
func (c *call) instruction() phrase {
	if c.s.prompts.Has(c.lang, fullInstruction) {
		return c.clips(fullInstruction)
	}
	return c.clips(prompts.VoicemailInstruction(c.lang, c.followUpWithin())...)
}

// followUpWithin is the callback delay of this call's message: the urgent
// one once the call was routed to the urgent line.
func (c *call) followUpWithin() time.Duration {
	if c.urgent {
		return c.s.o.Voicemail.UrgentFollowUpWithin
	}
	return c.s.o.Voicemail.FollowUpWithin
}

// Why a recording stopped, in the trace's words.
const (
	stopPound   = "#"
	stopSilence = "silence"
	stopMax     = "max length"
	stopHangup  = "hang-up"
	stopEnded   = "call ended"
	stopFailed  = "recording failed"
)

// record writes the caller's message to a WAV file in the voicemail
// directory: under a temporary name (name + ".part") while it is
// recorded, renamed when done. Less than MinLength of audio is no message:
// the file is deleted. A message is saved even when the caller hangs up
// while recording.
//
// When the disk does not take the message (the directory cannot be made,
// the file cannot be created, a write fails: a full disk), what reached
// the file is kept if it is at least MinLength long, with the length the
// file holds; the caller is told the message could not be recorded, or
// only its beginning, then to call back later; the write error is counted
// for the admin's alert, and no empty file is left.
func (c *call) record() error {
	c.recorded = true
	vo := c.s.o.Voicemail
	dir := vo.Dir
	if dir == "" {
		return failf("no voicemail directory configured")
	}
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return c.notRecorded(fmt.Errorf("creating voicemail directory: %w", err))
	}
	id := c.s.newID()
	at := c.s.now()
	files := vmdir.Name(dir, at, id)
	final, tmp := files.WAV, files.Part
	// The note lets the next start recover the message if clubline dies
	// while recording it. Without it the message is still recorded.
	due := at.Add(c.followUpWithin())
	if err := vmdir.WriteMeta(files.Meta, vmdir.MetaFor(id, &c.rec, c.urgent, at, due)); err != nil {
		c.log.Warn("voicemail: no recovery note (a crash while recording would lose the caller's details)", "err", err)
	}
	w, err := c.s.create(tmp)
	if err != nil {
		c.removeFile(tmp) // a full disk may have let the file be made, empty
		c.removeFile(files.Meta)
		return c.notRecorded(fmt.Errorf("creating voicemail file: %w", err))
	}
	sink := newMessageSink(w, vo)
	why, recErr := c.capture(sink, vo)
	writeErr := sink.err() // capture returns it too when it stopped the sink
	if closeErr := w.Close(); closeErr != nil && writeErr == nil {
		writeErr = closeErr
	}
	length := w.Duration() // after a write error, what the file holds

	if recErr != nil && writeErr == nil { // the leg failed, not the disk
		c.failed = true
		c.trace("voicemail: %s: %v", stopFailed, recErr)
		c.log.Error("recording voicemail", "err", recErr)
	}
	if writeErr != nil {
		c.failed = true
		why = stopFailed
		c.trace("voicemail: %s: %v", stopFailed, writeErr)
		c.log.Error("writing voicemail file: the caller is told it was not recorded",
			"voicemail", id, "kept", length.Round(10*time.Millisecond), "err", writeErr)
		if m := c.s.metrics; m != nil {
			m.VoicemailWriteFailed()
		}
	}
	if length < vo.MinLength {
		c.removeFile(tmp)
		c.removeFile(files.Meta)
		if writeErr != nil {
			c.trace("voicemail: nothing kept")
			return c.tellNotRecorded("voicemail_failed")
		}
		c.trace("voicemail: under %s, no message", vo.MinLength)
		return c.bye(c.closedGoodbye(false), "no_message")
	}
	path := final
	if err := os.Rename(tmp, final); err != nil {
		c.log.Error("renaming voicemail file; keeping the temporary name", "err", err)
		path = tmp
	}
	vm := &clubline.Voicemail{
		ID: id, CallID: c.rec.ID, From: c.rec.From, Category: c.rec.Category, Urgent: c.urgent,
		RecordedAt: at, Duration: length, Path: path, FollowUpDue: due,
		Status: clubline.VoicemailNew, Group: c.messageGroup(), Language: c.lang,
	}
	c.rec.VoicemailID = id
	c.trace("voicemail: %.1fs saved (%s)", length.Seconds(), why)
	c.log.Info("voicemail saved", "voicemail", id, "urgent", c.urgent, "duration", length.Round(10*time.Millisecond))
	if m := c.s.metrics; m != nil {
		m.VoicemailSaved(c.urgent)
		m.FollowUpsOpen.Inc()
	}
	c.saveVoicemail(vm, files.Meta)
	if writeErr != nil {
		return c.tellNotRecorded("voicemail_partial")
	}
	return c.bye(c.closedGoodbye(true), "voicemail_saved")
}

// notRecorded handles a message the disk did not take before any audio:
// it counts and logs the error and tells the caller.
func (c *call) notRecorded(err error) error {
	c.failed = true
	c.trace("voicemail: %s: %v", stopFailed, err)
	c.log.Error("voicemail not recorded: the caller is told", "err", err)
	if m := c.s.metrics; m != nil {
		m.VoicemailWriteFailed()
	}
	return c.tellNotRecorded("voicemail_failed")
}

// tellNotRecorded tells a caller still there that their message could not
// be recorded (voicemail_failed), or only its beginning
// (voicemail_partial), then to call back later, and says goodbye.
func (c *call) tellNotRecorded(clip string) error {
	if c.gone() {
		return errEnded
	}
	_, err := c.play(c.clips(clip, "technical_difficulty", "goodbye"), noKeys)
	return err
}

// removeFile deletes a message file that holds no message.
func (c *call) removeFile(path string) {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		c.log.Error("removing voicemail file", "err", err)
	}
}

// bye says before (what the closed message left for after the message),
// then a last clip, if the caller is still there.
func (c *call) bye(before phrase, name string) error {
	if c.gone() {
		return errEnded
	}
	_, err := c.play(append(before, c.clips(name)...), noKeys)
	return err
}

// capture runs the leg's Record into sink until # is pressed, the sink
// says stop (silence, max length, write error), the caller hangs up or
// the call ends; vo are the limits the sink was made with. It returns why
// it stopped, and an error when the leg or the disk failed. Record has
// returned when capture does.
func (c *call) capture(sink *messageSink, vo VoicemailOptions) (string, error) {
	rctx, cancel := context.WithCancel(c.ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.leg.Record(rctx, sink) }()
	// The sink counts frames; quiet ends a silence in which no frame comes
	// (a phone with voice activity detection, comfort noise); guard ends a
	// recording whose leg stopped sending frames.
	quiet := time.NewTimer(vo.SilenceTimeout)
	defer quiet.Stop()
	guard := time.NewTimer(vo.MaxLength + vo.SilenceTimeout + time.Second)
	defer guard.Stop()
	stop := func(why string) (string, error) {
		cancel()
		<-done
		return why, sink.err()
	}
	for {
		select {
		case err := <-done:
			if why, ok := sink.stopped(); ok {
				return why, sink.err()
			}
			if c.gone() {
				return stopHangup, nil
			}
			if err != nil {
				return stopFailed, err
			}
			return stopEnded, nil
		case <-sink.stop:
			why, _ := sink.stopped()
			return stop(why)
		case k, ok := <-c.digits:
			if !ok {
				c.digits = nil
				continue
			}
			if k == '#' {
				return stop(stopPound)
			}
		case <-c.leg.Done():
			return stop(stopHangup)
		case <-c.ctx.Done():
			return stop(stopEnded)
		case <-quiet.C:
			q := sink.quietFor(time.Now())
			if q < vo.SilenceTimeout {
				quiet.Reset(vo.SilenceTimeout - q)
				continue
			}
			sink.end(stopSilence)
			why, _ := sink.stopped()
			return stop(why)
		case <-guard.C:
			return stop(stopMax)
		}
	}
}
