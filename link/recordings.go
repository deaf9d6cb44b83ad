package link

import (
	"context"
	"errors"
	"io"
	"os"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/agent"
	"github.com/hoist-jit/hoist/wire"
)

// UploadRecordings sends the agent's finished terminal recordings to the
// server, a piece of at most hoist.MaxRecordingChunk at a time, and
// removes each once the server has all of it. An upload goes on from
// where the server says it stands, so one cut off (by a restart of either
// side) resumes rather than starting over. A recording the server refuses
// outright is logged and left on disk for an operator: retrying the same
// bytes cannot help (it is tried again when hoistd restarts).
func (l *Link) UploadRecordings(ctx context.Context) error {
	recs, err := l.a.PendingRecordings()
	if err != nil {
		return err
	}
	for _, m := range recs {
		if l.refusedRecs[m.ID] {
			continue
		}
		if err := l.uploadRecording(ctx, m); err != nil {
			if refused(err) || hoist.ErrorCode(err) == hoist.ENotFound || hoist.ErrorCode(err) == hoist.EForbidden {
				l.log.Error("the server refused a terminal recording; leaving it in the state directory", "recording", m.ID, "err", err)
				l.refusedRecs[m.ID] = true // until hoistd restarts
				continue
			}
			return err
		}
		if err := l.a.RecordingUploaded(m.ID); err != nil {
			l.log.Warn("cannot remove an uploaded recording", "recording", m.ID, "err", err)
		}
	}
	return nil
}

func (l *Link) uploadRecording(ctx context.Context, m agent.RecordingMeta) error {
	f, err := os.Open(l.a.RecordingPath(m.ID))
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	size := min(st.Size(), hoist.MaxRecordingSize) // the agent's own limit is far below
	chunk := wire.RecordingChunk{Session: m.Session, User: m.User, Argv: m.Argv, Started: m.Started, Ended: m.Ended, Truncated: m.Truncated, Input: m.Input}
	buf := make([]byte, hoist.MaxRecordingChunk)
	var at int64
	for steps := 0; steps < 2*int(size/hoist.MaxRecordingChunk)+4; steps++ {
		n, err := f.ReadAt(buf[:min(int64(len(buf)), size-at)], at)
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		chunk.Offset, chunk.Data, chunk.Final = at, buf[:n], at+int64(n) >= size
		ans, err := l.c.Recording(ctx, m.ID, chunk)
		if err != nil {
			return err
		}
		if ans.Complete {
			return nil
		}
		at = min(ans.Size, size)
	}
	return errors.New("the server's answers do not move the upload on")
}
