package web

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/clubline/clubline"
	"github.com/clubline/clubline/audit"
)

// maxUpload bounds an uploaded recording: 30 s of studio-quality stereo
// WAV (96 kHz, 24-bit) is 17 MB; an MP3 of a greeting far less.
const maxUpload = 64 << 20

func (s *Server) recordings(w http.ResponseWriter, r *http.Request, a *access) {
	if s.o.Recordings == nil {
		writeJSON(w, http.StatusOK, map[string]any{"prompts": []Prompt{}})
		return
	}
	list, err := s.o.Recordings.List(r.Context())
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"prompts": list})
}

func (s *Server) recordingAudio(w http.ResponseWriter, r *http.Request, a *access) {
	if s.o.Recordings == nil {
		writeError(w, http.StatusNotFound, "no recordings here")
		return
	}
	f, mod, err := s.o.Recordings.Audio(r.Context(), r.PathValue("lang"), r.PathValue("name"), r.URL.Query().Get("version"))
	if err != nil {
		writeError(w, http.StatusNotFound, err.Error())
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", "audio/wav")
	http.ServeContent(w, r, "", mod, f)
}

// upload takes the audio as the body (any content type; a multipart form
// with a "file" field works too, for a plain HTML form).
func (s *Server) upload(w http.ResponseWriter, r *http.Request, a *access) {
	if s.o.Recordings == nil {
		writeError(w, http.StatusNotFound, "no recordings here")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxUpload)
	var body io.Reader = r.Body
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		f, _, err := r.FormFile("file")
		if err != nil {
			writeError(w, http.StatusBadRequest, "choose an audio file to send")
			return
		}
		defer f.Close()
		body = f
	}
	lang, name := r.PathValue("lang"), r.PathValue("name")
	if err := s.o.Recordings.Upload(r.Context(), lang, name, a.user.ID, body); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, "the file is over 64 MB: a prompt needs less than 30 seconds of audio")
			return
		}
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.audit(a, audit.ActionRecording, lang+"/"+name, "uploaded")
	writeJSON(w, http.StatusOK, map[string]any{"ok": true})
}

func (s *Server) restore(w http.ResponseWriter, r *http.Request, a *access) {
	if s.o.Recordings == nil {
		writeError(w, http.StatusNotFound, "no recordings here")
		return
	}
	var req struct {
		Version string `json:"version"`
	}
	if err := readJSON(r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	lang, name := r.PathValue("lang"), r.PathValue("name")
	if err := s.o.Recordings.Restore(r.Context(), lang, name, req.Version, a.user.ID); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.audit(a, audit.ActionRecording, lang+"/"+name, "restored "+req.Version)
	writeJSON(w, http.StatusOK, map[string]any{"ok": true})
}

type numberRequest struct {
	Number string `json:"number"`
}

func (s *Server) privacyNumber(w http.ResponseWriter, r *http.Request) (string, bool) {
	if s.o.Privacy == nil {
		writeError(w, http.StatusNotFound, "privacy requests are not available here")
		return "", false
	}
	var req numberRequest
	if err := readJSON(r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return "", false
	}
	if len(clubline.Digits(req.Number)) < 4 {
		writeError(w, http.StatusBadRequest, `number: the caller's phone number, e.g. "+15145550101"`)
		return "", false
	}
	return req.Number, true
}

// privacyExport answers a caller's request for their data (Law 25): a zip
// of every record, message and audit entry about their number.
func (s *Server) privacyExport(w http.ResponseWriter, r *http.Request, a *access) {
	number, ok := s.privacyNumber(w, r)
	if !ok {
		return
	}
	var buf bytes.Buffer
	if err := s.o.Privacy.Export(r.Context(), number, &buf); err != nil {
		writeError(w, http.StatusServiceUnavailable, "export failed: "+err.Error())
		return
	}
	s.audit(a, audit.ActionPrivacyExport, "", "exported one caller's data")
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("Content-Disposition", `attachment; filename="clubline-export.zip"`)
	_, _ = w.Write(buf.Bytes())
}

func (s *Server) privacyErase(w http.ResponseWriter, r *http.Request, a *access) {
	number, ok := s.privacyNumber(w, r)
	if !ok {
		return
	}
	summary, err := s.o.Privacy.Erase(r.Context(), number)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "erasure not complete: "+err.Error()+"; run it again once the cause is fixed")
		return
	}
	s.audit(a, audit.ActionPrivacyErase, "", summary)
	writeJSON(w, http.StatusOK, map[string]any{"erased": summary})
}
