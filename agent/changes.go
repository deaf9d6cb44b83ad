package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/hoist-jit/hoist"
)

// Snapshotter takes the machine's snapshot for a session's change report,
// comparing the checksums of files (paths under /etc) besides what it
// always compares. It returns when ctx ends at the latest.
type Snapshotter func(ctx context.Context, files []string) (*hoist.Snapshot, error)

// DefaultChangesTimeout bounds each snapshot of a change report.
const DefaultChangesTimeout = 10 * time.Second

// maxBaselineFile bounds a stored start snapshot read back at the end.
const maxBaselineFile = 64 << 20

// baseline is the snapshot at a session's start, kept on disk until the
// report is made, so that a restart of hoistd in between loses nothing.
// Files are the paths compared at the start: the end compares the same,
// whatever the configuration says by then.
type baseline struct {
	Files    []string        `json:"files"`
	Snapshot *hoist.Snapshot `json:"snapshot"`
}

func (a *Agent) baselinePath(id string) string {
	return filepath.Join(a.cfg.StateDir, "changes", id+".json")
}

// changesConfig returns whether the configuration in force asks for
// change reports, and the files they compare.
func (a *Agent) changesConfig() (bool, []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.pol.bundle.Config
	return a.cfg.Changes != nil && c.ChangeReportOn(), c.ChangeReportPaths()
}

// snapshot takes one snapshot within the agent's bound, one at a time
// (a session's start and another's end do not read the disk at once). It
// gives up when hoistd stops.
func (a *Agent) snapshot(files []string) (*hoist.Snapshot, error) {
	timeout := a.cfg.ChangesTimeout
	if timeout <= 0 {
		timeout = DefaultChangesTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	go func() {
		select {
		case <-a.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	select {
	case a.snapshots <- struct{}{}:
		defer func() { <-a.snapshots }()
	case <-ctx.Done():
		return nil, fmt.Errorf("another snapshot did not finish within %s", timeout)
	}
	s, err := a.cfg.Changes(ctx, files)
	if errors.Is(err, context.DeadlineExceeded) {
		return nil, fmt.Errorf("the snapshot took longer than %s", timeout)
	}
	if err == nil && s == nil {
		err = errors.New("the snapshot is empty")
	}
	return s, err
}

// startChanges takes the snapshot at the start of session id, before its
// first elevated program: nil when reports are off, with the reason when
// the snapshot failed (the caller audits it once the session is started).
func (a *Agent) startChanges(id string) (*baseline, string) {
	on, files := a.changesConfig()
	if !on {
		return nil, ""
	}
	s, err := a.snapshot(files)
	if err != nil {
		return nil, "the snapshot at the start failed: " + err.Error()
	}
	return &baseline{Files: files, Snapshot: s}, ""
}

// saveBaseline keeps b on disk for the end of session id. A failure is
// logged: the end still has the copy in memory, unless hoistd restarts.
func (a *Agent) saveBaseline(id string, b *baseline) {
	data, err := json.Marshal(b)
	if err == nil {
		err = os.MkdirAll(filepath.Dir(a.baselinePath(id)), 0o700)
	}
	if err == nil {
		err = writeFileAtomic(a.baselinePath(id), data)
	}
	if err != nil {
		a.cfg.Logger.Warn("cannot keep the session's start snapshot on disk", "session", id, "err", err)
	}
}

// loadBaseline reads the start snapshot of session id back; nil when
// there is none (reports were off at the start, or it failed and said so).
func (a *Agent) loadBaseline(id string) (*baseline, error) {
	data, err := readFileLimit(a.baselinePath(id), maxBaselineFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	b := &baseline{Snapshot: hoist.NewSnapshot()}
	if err := json.Unmarshal(data, b); err != nil {
		return nil, err
	}
	return b, nil
}

// reportChanges makes the change report of rec, a session whose every
// process has ended: it takes the snapshot at the end, compares it with
// the one at the start (b, or the one on disk when b is nil) and records
// session.changes, or session.changes_failed with the reason. It is
// called after the end, never before: the kill does not wait on it.
func (a *Agent) reportChanges(rec record, b *baseline) {
	if a.cfg.Changes == nil {
		return
	}
	if b == nil {
		var err error
		if b, err = a.loadBaseline(rec.ID); err != nil {
			a.changesFailed(rec, "the snapshot at the start cannot be read back: "+err.Error())
			return
		}
		if b == nil {
			return
		}
	}
	after, err := a.snapshot(b.Files)
	if err != nil {
		select {
		case <-a.stop:
			return // hoistd is stopping: the next one makes the report from the file
		default:
		}
		a.changesFailed(rec, "the snapshot at the end failed: "+err.Error())
		return
	}
	r := hoist.DiffSnapshots(b.Snapshot, after, 0)
	detail := r.AuditDetail()
	detail["user"] = rec.User
	_ = a.auditOnce(reportKey(rec.ID), "session.changes", "hoistd", rec.ID, detail)
	a.cfg.Logger.Info("session change report", "session", rec.ID, "changes", len(r.Changes)+r.Omitted)
	a.dropBaseline(rec.ID)
}

// changesFailed records that rec's change report could not be made.
func (a *Agent) changesFailed(rec record, reason string) {
	a.cfg.Logger.Warn("no change report for the session", "session", rec.ID, "reason", reason)
	_ = a.auditOnce(reportKey(rec.ID), "session.changes_failed", "hoistd", rec.ID, map[string]any{"user": rec.User, "reason": reason})
	a.dropBaseline(rec.ID)
}

// reportKey is the key of a session's change report, made or failed (see
// Agent.auditOnce): a session has one, however many times it is tried.
func reportKey(sessionID string) string { return "session.changes/" + sessionID }

func (a *Agent) dropBaseline(id string) {
	if err := os.Remove(a.baselinePath(id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		a.cfg.Logger.Warn("cannot remove the session's start snapshot", "session", id, "err", err)
	}
}

// reportLater makes rec's change report in the background, counted in
// a.wg so that Close waits for it (it stops early when Close begins). The
// caller is inside an end, whose own count keeps a.wg above zero.
func (a *Agent) reportLater(rec record, b *baseline) {
	if a.cfg.Changes == nil {
		return
	}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		a.reportChanges(rec, b)
	}()
}
