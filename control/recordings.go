package control

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/wire"
)

// Terminal recordings: agents upload them in pieces (AgentRecording);
// admins, auditors and the approvers of a session read them (Recordings,
// RecordingData); PruneRecordings removes them after the retention.

// AgentRecording stores one piece of a recording agent a uploads, and
// returns how much of it the server has. A piece that does not start where
// the stored bytes end is not stored: the answer tells the agent where to
// go on from. A recording belongs to a session of this agent (or to the id
// of a program a policy elevated, run_…).
func (s *Service) AgentRecording(ctx context.Context, a hoist.AgentRecord, id string, c wire.RecordingChunk) (wire.RecordingAnswer, error) {
	if err := checkChunk(id, c); err != nil {
		return wire.RecordingAnswer{}, err
	}
	var ans wire.RecordingAnswer
	err := s.store.Update(ctx, func(tx hoist.Tx) error {
		now := s.now()
		rec, err := tx.Recording(ctx, id)
		if hoist.ErrorCode(err) == hoist.ENotFound {
			if rec, err = s.newRecording(ctx, tx, a, id, c, now); err != nil {
				return err
			}
		} else if err != nil {
			return err
		}
		if rec.Agent != a.ID {
			return hoist.Errorf(hoist.ENotFound, "no recording %q of this agent", id)
		}
		ans = wire.RecordingAnswer{Size: rec.Size, Complete: rec.Complete}
		if rec.Complete || c.Offset != rec.Size {
			return nil // a retry of what is stored, or a gap: the agent goes on from Size
		}
		if err := tx.AppendRecording(ctx, id, c.Offset, c.Data, c.Final); err != nil {
			return err
		}
		ans = wire.RecordingAnswer{Size: rec.Size + int64(len(c.Data)), Complete: c.Final}
		if !c.Final {
			return nil
		}
		detail := map[string]any{"recording": id, "host": a.Name(), "bytes": ans.Size, "user": rec.User}
		if rec.Truncated {
			detail["truncated"] = true
		}
		return audit(ctx, tx, now, a.Name(), "recording.stored", rec.Session, detail)
	})
	var bound errRecordingBound
	if errors.As(err, &bound) {
		s.auditRecordingRefused(ctx, a, c.Session, bound.err)
		return ans, bound.err
	}
	return ans, err
}

// checkChunk bounds what an agent sends before anything is read.
func checkChunk(id string, c wire.RecordingChunk) error {
	f := hoist.FieldErrors{}
	if !hoist.ValidID(hoist.RecordingIDPrefix, id) {
		f["id"] = "a recording id (rec_…)"
	}
	if !hoist.ValidID(hoist.SessionIDPrefix, c.Session) && !strings.HasPrefix(c.Session, "run_") || len(c.Session) > 64 || !hoist.Printable(c.Session) {
		f["session_id"] = "the id of a session of this agent, or of a run"
	}
	if c.User == "" || len(c.User) > 256 || !hoist.Printable(c.User) {
		f["user"] = "a user name of 1 to 256 printable characters"
	}
	if len(c.Argv) > 64 || argvBytes(c.Argv) > 8<<10 {
		f["argv"] = "at most 64 arguments and 8 KiB"
	}
	if len(c.Data) > hoist.MaxRecordingChunk {
		f["data"] = "at most 32 KiB a piece"
	}
	if c.Offset < 0 || c.Offset+int64(len(c.Data)) > hoist.MaxRecordingSize {
		f["offset"] = "within the 256 MiB a recording may hold"
	}
	return f.Err("the recording")
}

func argvBytes(argv []string) int {
	n := 0
	for _, a := range argv {
		n += len(a)
	}
	return n
}

// newRecording stores the description of a recording's first piece.
func (s *Service) newRecording(ctx context.Context, tx hoist.Tx, a hoist.AgentRecord, id string, c wire.RecordingChunk, now time.Time) (hoist.Recording, error) {
	if strings.HasPrefix(c.Session, hoist.SessionIDPrefix) {
		sess, err := tx.Session(ctx, c.Session)
		if err != nil || sess.Agent != a.ID {
			return hoist.Recording{}, hoist.Errorf(hoist.ENotFound, "no session %q on this agent", c.Session)
		}
	}
	if err := checkRecordingBounds(ctx, tx, a, c.Session, now); err != nil {
		return hoist.Recording{}, err
	}
	rec := hoist.Recording{ID: id, Session: c.Session, Agent: a.ID, User: c.User, Argv: c.Argv, Started: c.Started.UTC(), Ended: c.Ended.UTC(),
		Truncated: c.Truncated, Input: c.Input, Stored: now}
	if err := tx.InsertRecording(ctx, rec); err != nil {
		return rec, err
	}
	// The record the per-agent bound counts.
	return rec, audit(ctx, tx, now, a.Name(), AuditRecordingStarted, a.ID, map[string]any{"recording": id, "session": c.Session, "user": c.User})
}

// Bounds on what one agent may store: each recording is capped at
// hoist.MaxRecordingSize, and these bound how many there are, so that root
// on one machine (its agent's key; a run_ id needs no server record)
// cannot fill the server's disk.
const (
	MaxRecordingsPerSession       = 200 // per session or run id
	MaxRecordingsPerAgentPerHour  = 200 // new recordings one agent starts in an hour
	AuditRecordingStarted         = "recording.started"
	AuditRecordingRefused         = "recording.refused"
	recordingRefusalAuditInterval = time.Hour
)

// errRecordingBound marks a refusal at a bound, audited by AgentRecording
// outside the refused transaction.
type errRecordingBound struct{ err error }

func (e errRecordingBound) Error() string { return e.err.Error() }
func (e errRecordingBound) Unwrap() error { return e.err }

// checkRecordingBounds refuses a new recording of agent a under session
// past MaxRecordingsPerSession or MaxRecordingsPerAgentPerHour (ERateLimited).
func checkRecordingBounds(ctx context.Context, tx hoist.Tx, a hoist.AgentRecord, session string, now time.Time) error {
	recs, err := tx.Recordings(ctx, session)
	if err != nil {
		return err
	}
	if len(recs) >= MaxRecordingsPerSession {
		return errRecordingBound{hoist.Errorf(hoist.ERateLimited, "session %s has %d recordings, the most one session or run keeps: no more are stored", session, MaxRecordingsPerSession)}
	}
	n := 0
	err = tx.Audit(ctx, hoist.AuditFilter{Action: AuditRecordingStarted, Subject: a.ID, Since: now.Add(-time.Hour), Limit: MaxRecordingsPerAgentPerHour}, func(hoist.AuditRecord) error {
		n++
		return nil
	})
	if err != nil {
		return err
	}
	if n >= MaxRecordingsPerAgentPerHour {
		return errRecordingBound{hoist.Errorf(hoist.ERateLimited, "this machine started %d recordings in the last hour, the most the server takes: try again later", MaxRecordingsPerAgentPerHour)}
	}
	return nil
}

// auditRecordingRefused records, at most once an hour for each agent, that
// a's recording was refused at a bound (a refused flood must not become
// a flood of audit records).
func (s *Service) auditRecordingRefused(ctx context.Context, a hoist.AgentRecord, session string, why error) {
	now := s.now()
	err := s.store.Update(ctx, func(tx hoist.Tx) error {
		seen := false
		err := tx.Audit(ctx, hoist.AuditFilter{Action: AuditRecordingRefused, Subject: a.ID, Since: now.Add(-recordingRefusalAuditInterval), Limit: 1}, func(hoist.AuditRecord) error {
			seen = true
			return nil
		})
		if err != nil || seen {
			return err
		}
		return audit(ctx, tx, now, a.Name(), AuditRecordingRefused, a.ID, map[string]any{"session": session, "why": hoist.ErrorMessage(why)})
	})
	if err != nil {
		s.log.Warn("cannot audit a refused recording", "agent", a.ID, "err", err)
	}
}

// Recordings lists a session's complete recordings, oldest first, for an
// admin or auditor (within their scope), or an approver of the session.
func (s *Service) Recordings(ctx context.Context, a Actor, sessionID string) (recs []hoist.Recording, err error) {
	err = s.store.View(ctx, func(tx hoist.Tx) error {
		sess, err := s.recordingSession(ctx, tx, a, sessionID)
		if err != nil {
			return err
		}
		all, err := tx.Recordings(ctx, sess.ID)
		recs = slices.DeleteFunc(all, func(r hoist.Recording) bool { return !r.Complete })
		return err
	})
	if recs == nil {
		recs = []hoist.Recording{}
	}
	return recs, err
}

// RecordingData writes recording id's bytes (asciicast v2) to w, for whoever
// may list its session's recordings; it returns the recording.
func (s *Service) RecordingData(ctx context.Context, a Actor, id string, w io.Writer) (rec hoist.Recording, err error) {
	if !hoist.ValidID(hoist.RecordingIDPrefix, id) {
		return rec, hoist.Errorf(hoist.ENotFound, "no recording %q", id)
	}
	err = s.store.View(ctx, func(tx hoist.Tx) error {
		if rec, err = tx.Recording(ctx, id); err != nil {
			return err
		}
		if !rec.Complete {
			return hoist.Errorf(hoist.ENotFound, "recording %s is still being uploaded", id)
		}
		if _, err := s.recordingSession(ctx, tx, a, rec.Session); err != nil {
			return err
		}
		return tx.RecordingData(ctx, id, func(b []byte) error { _, err := w.Write(b); return err })
	})
	return rec, err
}

// recordingSession is the session whose recordings a may read: an admin
// or auditor within their scope, or one of the session's approvers.
func (s *Service) recordingSession(ctx context.Context, tx hoist.Tx, a Actor, id string) (hoist.Session, error) {
	if !hoist.ValidID(hoist.SessionIDPrefix, id) {
		return hoist.Session{}, hoist.Errorf(hoist.ENotFound, "no session %q", id)
	}
	sess, err := tx.Session(ctx, id)
	if err != nil {
		return sess, err
	}
	if ApprovedBy(sess, a.Name) {
		return sess, nil
	}
	if err := a.require(hoist.PermitReadAudit); err != nil {
		return sess, hoist.Errorf(hoist.EForbidden, "only admins, auditors and the approvers of session %s may read its recordings", id)
	}
	adm, err := accountOf(ctx, tx, a)
	if err != nil {
		return sess, err
	}
	return sess, checkScope(ctx, tx, &groupCache{}, adm, sess.Agent, sess.Host, "see sessions")
}

// ApprovedBy reports whether name is among the approvers of sess.
func ApprovedBy(sess hoist.Session, name string) bool {
	return name != "" && slices.Contains(strings.Split(sess.ApprovedBy, ", "), name)
}

// PruneRecordings removes the recordings stored longer than retention ago,
// a batch at a time, and audits how many went.
func (s *Service) PruneRecordings(ctx context.Context, retention time.Duration) (int, error) {
	if retention <= 0 {
		return 0, nil
	}
	total := 0
	for ctx.Err() == nil {
		var n int
		err := s.store.Update(ctx, func(tx hoist.Tx) (err error) {
			now := s.now()
			if n, err = tx.DeleteRecordings(ctx, now.Add(-retention), 100); err != nil || n == 0 {
				return err
			}
			return audit(ctx, tx, now, "hoist-server", "recording.pruned", "", map[string]any{"removed": n, "retention": hoist.FormatDuration(retention)})
		})
		total += n
		if err != nil || n < 100 {
			return total, err
		}
	}
	return total, ctx.Err()
}
