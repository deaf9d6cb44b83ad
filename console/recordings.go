package console

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/hoist-jit/hoist"
)

// The recording pages play a session's terminal recordings with the
// vendored asciinema-player (static/vendor/asciinema-player, see
// scripts/vendor-asciinema-player): one page per recording,
// /sessions/{id}/recordings/{n}, n from 1, oldest first, as hoist admin
// sessions recording --index counts them. Admins and auditors (within
// their scope) and the session's approvers may open them.

// recordingCSP is the page's content security policy: the console's, with
// WebAssembly allowed, which the player's terminal emulator is compiled to.
// It allows no script from anywhere but the console, and no eval.
const recordingCSP = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

type recordingData struct {
	Session    hoist.Session
	Recordings []hoist.Recording
	// N is the recording shown, from 1; 0 when the session has none.
	N       int
	Current hoist.Recording
	CastURL string
}

// recordingPage shows recording n of a session ("/sessions/{id}/recordings"
// shows the first).
func (h *Handler) recordingPage(w http.ResponseWriter, r *http.Request, v *visit) error {
	d, err := h.recordingData(r, v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Security-Policy", recordingCSP)
	h.render(w, r, http.StatusOK, "recording", v, d)
	return nil
}

// recordingCast answers recording n's asciicast file, for the player.
func (h *Handler) recordingCast(w http.ResponseWriter, r *http.Request, v *visit) error {
	d, err := h.recordingData(r, v)
	if err != nil {
		return err
	}
	if d.N == 0 {
		return hoist.Errorf(hoist.ENotFound, "session %s has no terminal recording", d.Session.ID)
	}
	started := false
	_, err = h.svc.RecordingData(r.Context(), v.actor, d.Current.ID, writerFunc(func(p []byte) (int, error) {
		if !started {
			started = true
			w.Header().Set("Content-Type", "application/x-asciicast")
			w.Header().Set("Cache-Control", "private, no-store")
		}
		return w.Write(p)
	}))
	if err != nil && started {
		panic(http.ErrAbortHandler) // a cut-off file must not play as whole
	}
	return err
}

func (h *Handler) recordingData(r *http.Request, v *visit) (recordingData, error) {
	var d recordingData
	recs, err := h.svc.Recordings(r.Context(), v.actor, r.PathValue("id"))
	if err != nil {
		return d, err
	}
	if d.Session, err = h.svc.Session(r.Context(), v.actor, r.PathValue("id")); err != nil && hoist.ErrorCode(err) != hoist.EForbidden {
		return d, err
	}
	d.Session.ID = r.PathValue("id") // an approver outside the session's scope still sees the recordings
	d.Recordings = recs
	n := 1
	if s := r.PathValue("n"); s != "" {
		if n, err = strconv.Atoi(s); err != nil || n < 1 || n > max(len(recs), 1) {
			return d, hoist.Errorf(hoist.ENotFound, "session %s has no recording %s", d.Session.ID, s)
		}
	}
	if len(recs) > 0 {
		d.N, d.Current = n, recs[n-1]
		d.CastURL = fmt.Sprintf("/sessions/%s/recordings/%d/cast", d.Session.ID, n)
	}
	return d, nil
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
