package api

import (
	"net/http"
	"time"

	"github.com/hoist-jit/hoist/wire"
)

// agentRecording stores one piece of a terminal recording an agent
// uploads, and answers how much of it the server has.
func (h *Handler) agentRecording(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	var in wire.RecordingChunk
	if err := decodeStrict(body, &in); err != nil {
		return err
	}
	ans, err := h.svc.AgentRecording(r.Context(), agentFrom(r.Context()), r.PathValue("id"), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ans)
	return nil
}

// listRecordings lists a session's terminal recordings, oldest first.
func (h *Handler) listRecordings(w http.ResponseWriter, r *http.Request) error {
	recs, err := h.svc.Recordings(r.Context(), actorFrom(r.Context()), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"recordings": recs})
	return nil
}

// recordingWriteTimeout bounds each write of a recording to a client.
const recordingWriteTimeout = 30 * time.Second

// getRecording answers a recording's asciicast v2 file.
func (h *Handler) getRecording(w http.ResponseWriter, r *http.Request) error {
	rc := http.NewResponseController(w)
	started := false
	out := writerFunc(func(p []byte) (int, error) {
		if !started {
			started = true
			w.Header().Set("Content-Type", "application/x-asciicast")
			w.Header().Set("Content-Disposition", `attachment; filename="`+r.PathValue("id")+`.cast"`)
		}
		_ = rc.SetWriteDeadline(time.Now().Add(recordingWriteTimeout))
		return w.Write(p)
	})
	_, err := h.svc.RecordingData(r.Context(), actorFrom(r.Context()), r.PathValue("id"), out)
	if err != nil && started {
		h.log.Warn("recording download cut off", "err", err)
		panic(http.ErrAbortHandler) // a short file must not look whole
	}
	return err
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
