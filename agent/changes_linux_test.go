package agent_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/agent"
	"github.com/hoist-jit/hoist/snapshot"
	"github.com/hoist-jit/hoist/testenv"
)

// machineSnapshot is hoistd's snapshot of this machine.
func machineSnapshot(ctx context.Context, files []string) (*hoist.Snapshot, error) {
	return snapshot.Take(ctx, snapshot.Options{Root: "/", Files: files})
}

// newChangesRig is a rig whose hoistd makes change reports with snap.
func newChangesRig(t *testing.T, snap agent.Snapshotter) *rig {
	r := newRig(t)
	r.stop()
	r.changes = snap
	r.start()
	return r
}

// changeReport waits for the session.changes (or changes_failed) record
// of session sid and returns it.
func (r *rig) changeReport(sid string) agent.Event {
	r.t.Helper()
	var found agent.Event
	testenv.WaitUntil(r.t, "the session's change report", func() bool {
		for _, action := range []string{"session.changes", "session.changes_failed"} {
			for _, ev := range r.events(action) {
				if ev.Subject == sid {
					found = ev
					return true
				}
			}
		}
		return false
	})
	return found
}

// reportedChanges returns the changes of a session.changes record as
// "kind name" → change.
func reportedChanges(t *testing.T, ev agent.Event) map[string]string {
	t.Helper()
	if ev.Action != "session.changes" {
		t.Fatalf("got %s %v, want session.changes", ev.Action, ev.Detail)
	}
	list, ok := ev.Detail["changes"].([]any)
	if !ok {
		t.Fatalf("detail has no changes list: %v", ev.Detail)
	}
	if _, ok := ev.Detail["omitted"].(float64); !ok {
		t.Fatalf("detail has no omitted count: %v", ev.Detail)
	}
	out := map[string]string{}
	for _, c := range list {
		m := c.(map[string]any)
		out[fmt.Sprint(m["kind"], " ", m["name"])] = fmt.Sprint(m["change"])
	}
	return out
}

func uniqueName(t *testing.T) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return "hoist-c-" + hex.EncodeToString(b)
}

// TestChangeReportOfARealSession: root, in a real session of a real user,
// adds an account, a sudoers drop-in, a setuid program, a cron table and
// an ssh key; the report hoistd records at the end lists all five.
func TestChangeReportOfARealSession(t *testing.T) {
	_, err := exec.LookPath("useradd")
	testenv.Require(t, err == nil, "needs useradd")
	r := newChangesRig(t, machineSnapshot)
	name := uniqueName(t)
	u, err := user.Lookup(r.user.Name)
	if err != nil {
		t.Fatal(err)
	}
	home := u.HomeDir
	if _, err := os.Lstat(home); err == nil {
		t.Fatalf("the test user's home %s exists already", home)
	}
	sudoers, setuid, cron := "/etc/sudoers.d/"+name, "/usr/local/bin/"+name, "/etc/cron.d/"+name
	t.Cleanup(func() {
		_ = exec.Command("userdel", name).Run()
		for _, p := range []string{sudoers, setuid, cron} {
			_ = os.Remove(p)
		}
		_ = os.RemoveAll(home)
	})
	sid := r.grant(time.Hour)
	// A comment-only drop-in: a broken one would stop sudo for everyone.
	script := fmt.Sprintf(`set -e
useradd --no-create-home --shell /usr/sbin/nologin %[1]s
printf '# hoist change report test\n' > %[2]s
chmod 0440 %[2]s
install -m 4755 /bin/true %[3]s
printf '# hoist change report test\n17 3 * * * root true\n' > %[4]s
mkdir -p %[5]s/.ssh
printf 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHoistChangeReportTestKey0000000000000000000 test\n' >> %[5]s/.ssh/authorized_keys
`, name, sudoers, setuid, cron, home)
	file := filepath.Join(testenv.PublicDir(t), "changes.sh")
	if err := os.WriteFile(file, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := r.sh("", "hoist run -- /bin/sh "+file); got.code != 0 {
		t.Fatalf("the session's changes: exit %d, %s%s", got.code, got.stdout, got.stderr)
	}
	if got := r.sh("", "hoist exit"); got.code != 0 {
		t.Fatalf("hoist exit: %d %s", got.code, got.stderr)
	}
	ev := r.changeReport(sid)
	t.Logf("the report: %v", ev.Detail)
	got := reportedChanges(t, ev)
	for _, want := range []string{
		"user " + name, "sudoers " + sudoers, "setuid " + setuid, "cron " + cron,
		"authorized_keys " + filepath.Join(home, ".ssh/authorized_keys"),
	} {
		if got[want] != hoist.ChangeAdded {
			t.Errorf("%s: %q in the report, want added; the report: %v", want, got[want], got)
		}
	}
}

// TestChangeReportOfAnIdleSession: a session that changes nothing has an
// empty report. Other tests run on this machine at the same time and make
// their own users, groups and drop-ins (all named hoist-…); those are not
// this session's, and nothing else may be in its report. (The files
// compared are /etc/hosts alone: the sudo tests edit /etc/pam.d.)
func TestChangeReportOfAnIdleSession(t *testing.T) {
	r := newChangesRig(t, machineSnapshot)
	r.applyConfig(hoist.AgentConfig{ChangeReportFiles: []string{"/etc/hosts"}})
	sid := r.grant(time.Hour)
	if got := r.sh("", "hoist run -- /bin/sh -c 'id -u; ls /etc > /dev/null'"); got.code != 0 || strings.TrimSpace(got.stdout) != "0" {
		t.Fatalf("hoist run: %d %q %q", got.code, got.stdout, got.stderr)
	}
	if got := r.sh("", "hoist exit"); got.code != 0 {
		t.Fatalf("hoist exit: %d %s", got.code, got.stderr)
	}
	ev := r.changeReport(sid)
	for change := range reportedChanges(t, ev) {
		if !strings.Contains(change, "hoist") {
			t.Errorf("an idle session's report lists %s", change)
		}
	}
	if ev.Detail["user"] != r.user.Name {
		t.Errorf("report of user %v, want %s", ev.Detail["user"], r.user.Name)
	}
}

// TestChangeReportComesAfterTheKill: a snapshot that hangs does not hold
// the end of a session's processes: they are killed, the session is
// ended, and the report records the failure once its bound is over.
func TestChangeReportComesAfterTheKill(t *testing.T) {
	var calls atomic.Int32
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	hung := func(ctx context.Context, files []string) (*hoist.Snapshot, error) {
		if calls.Add(1) == 1 {
			return hoist.NewSnapshot(), nil // the start
		}
		select { // the end: stuck, as a read of a hung mount would be
		case <-release:
		case <-ctx.Done():
		}
		return nil, ctx.Err()
	}
	r := newRig(t)
	r.stop()
	r.changes, r.changesTimeout = hung, 2*time.Second
	r.start()
	sid := r.grant(time.Hour)
	blocking, pids := r.escapes(sid, 6)
	if got := r.sh("", "hoist exit"); got.code != 0 {
		t.Fatalf("hoist exit: %d %s", got.code, got.stderr)
	}
	_ = blocking.Wait()
	assertAllGone(t, r.cgs, sid, pids)
	if n := len(r.events("session.ended")); n != 1 {
		t.Fatalf("%d session.ended records, want 1", n)
	}
	// The failure comes once the bound is over.
	ev := r.changeReport(sid)
	if ev.Action != "session.changes_failed" || !strings.Contains(fmt.Sprint(ev.Detail["reason"]), "longer than") {
		t.Fatalf("got %s %v, want session.changes_failed saying it took too long", ev.Action, ev.Detail)
	}
}

// TestChangeReportSurvivesARestart: the start snapshot is kept on disk;
// a hoistd restarted during the session still reports at its end.
func TestChangeReportSurvivesARestart(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc/cron.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	fake := func(ctx context.Context, files []string) (*hoist.Snapshot, error) {
		return snapshot.Take(ctx, snapshot.Options{Root: root, Files: files})
	}
	r := newChangesRig(t, fake)
	sid := r.grant(time.Hour)
	r.stop()
	if err := os.WriteFile(filepath.Join(root, "etc/cron.d/added"), []byte("* * * * * root true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r.start()
	if got := r.sh("", "hoist exit"); got.code != 0 {
		t.Fatalf("hoist exit: %d %s", got.code, got.stderr)
	}
	got := reportedChanges(t, r.changeReport(sid))
	if len(got) != 1 || got["cron /etc/cron.d/added"] != hoist.ChangeAdded {
		t.Fatalf("report = %v, want the cron file added", got)
	}
	if _, err := os.Stat(filepath.Join(r.state, "changes", sid+".json")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the start snapshot is still on disk after the report: %v", err)
	}
}

// applyConfig gives the rig's agent cfg, as a server's bundle would.
func (r *rig) applyConfig(cfg hoist.AgentConfig) {
	r.t.Helper()
	pub, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		r.t.Fatal(err)
	}
	r.agent.SetBundleKey(pub)
	data, sig, err := hoist.SignBundle(key, hoist.Bundle{Revision: "rev-" + hoist.NewID("t_"), Groups: []string{"Default"}, Config: cfg})
	if err != nil {
		r.t.Fatal(err)
	}
	if err := r.agent.ApplyBundle(data, sig); err != nil {
		r.t.Fatal(err)
	}
}

// TestChangeReportConfiguration: a group's change_report=no means no
// snapshot and no record; change_report_files reach the snapshot; a
// snapshot that fails at the start is recorded as such, and the session
// works all the same.
func TestChangeReportConfiguration(t *testing.T) {
	var calls atomic.Int32
	var gotFiles atomic.Value
	fail := atomic.Bool{}
	snap := func(ctx context.Context, files []string) (*hoist.Snapshot, error) {
		calls.Add(1)
		gotFiles.Store(strings.Join(files, ","))
		if fail.Load() {
			return nil, errors.New("disk on fire")
		}
		return hoist.NewSnapshot(), nil
	}
	r := newChangesRig(t, snap)

	off := false
	r.applyConfig(hoist.AgentConfig{ChangeReport: &off})
	r.grant(time.Hour)
	if got := r.sh("", "hoist exit"); got.code != 0 {
		t.Fatalf("hoist exit: %d %s", got.code, got.stderr)
	}
	testenv.WaitUntil(t, "the end of the session", func() bool { return len(r.events("session.ended")) == 1 })
	if n := calls.Load(); n != 0 {
		t.Fatalf("%d snapshots with change_report=no", n)
	}

	r.applyConfig(hoist.AgentConfig{ChangeReportFiles: []string{"/etc/hosts", "/root/not-etc"}})
	fail.Store(true)
	sid := r.grant(time.Hour)
	ev := r.changeReport(sid)
	if ev.Action != "session.changes_failed" || !strings.Contains(fmt.Sprint(ev.Detail["reason"]), "disk on fire") {
		t.Fatalf("got %s %v, want session.changes_failed with the cause", ev.Action, ev.Detail)
	}
	if got := gotFiles.Load(); got != "/etc/hosts" {
		t.Errorf("the snapshot compared %q, want only /etc/hosts", got)
	}
	if got := r.sh("", "hoist run -- id -u"); got.code != 0 || strings.TrimSpace(got.stdout) != "0" {
		t.Fatalf("the session after a failed snapshot: %d %q %q", got.code, got.stdout, got.stderr)
	}
	if got := r.sh("", "hoist exit"); got.code != 0 {
		t.Fatalf("hoist exit: %d %s", got.code, got.stderr)
	}
	testenv.WaitUntil(t, "the end of the second session", func() bool { return len(r.events("session.ended")) == 2 })
	if n := calls.Load(); n != 1 {
		t.Errorf("%d snapshots, want only the failed start (no end snapshot without a start)", n)
	}
	if n := len(r.events("session.changes_failed")) + len(r.events("session.changes")); n != 1 {
		t.Errorf("%d change records, want the one failure", n)
	}
}
