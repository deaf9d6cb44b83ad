package platform_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/hoist-jit/hoist/platform"
	"github.com/hoist-jit/hoist/testenv"
)

// TestEndReportsUnkillable: a session's process blocked in uninterruptible
// sleep (a write to a frozen file system, as on a hung NFS mount) survives
// SIGKILL. The end does not hang on it: it returns when its deadline
// passes, names the process with its state, and keeps the group; once the
// file system thaws, ending again kills it and removes the group.
func TestEndReportsUnkillable(t *testing.T) {
	for kind, tracker := range trackers(t) {
		t.Run(kind, func(t *testing.T) { testEndReportsUnkillable(t, tracker) })
	}
}

func testEndReportsUnkillable(t *testing.T, tracker platform.Tracker) {
	g, err := tracker.NewGroup("ses_unkillable")
	if err != nil {
		t.Fatal(err)
	}
	fs := testenv.NewFreezableFS(t)
	file := filepath.Join(fs.Dir, "log")
	p := start(t, g, `while :; do echo x >> `+file+`; done`)
	testenv.WaitUntil(t, "the writer to write", func() bool { info, err := os.Stat(file); return err == nil && info.Size() > 0 })
	fs.Freeze(t)
	testenv.WaitUntil(t, "the writer to block in D", func() bool { return procState(p.Pid()) == "D" })

	// The deadline only needs to outlast the grace; how long End takes
	// past it is not measured, only that it comes back (a hang fails the
	// test by its timeout).
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	rep, err := g.End(ctx, 100*time.Millisecond)
	if !errors.Is(err, platform.ErrUnkillable) {
		t.Fatalf("End with an unkillable process: err = %v, want ErrUnkillable", err)
	}
	want := platform.Stuck{Pid: p.Pid(), State: "D", Comm: "sh"}
	if len(rep.Unkillable) != 1 || rep.Unkillable[0] != want {
		t.Fatalf("Unkillable = %+v, want [%+v]", rep.Unkillable, want)
	}
	if pids, _ := g.Pids(); len(pids) != 1 || pids[0] != p.Pid() {
		t.Errorf("after the failed end the group lists %v, want [%d]", pids, p.Pid())
	}
	if cgs, ok := tracker.(platform.Cgroups); ok {
		if _, err := os.Stat(filepath.Join(cgs.Root, "ses_unkillable")); err != nil {
			t.Errorf("the cgroup is gone while a process is still in it: %v", err)
		}
	}

	fs.Thaw(t)
	ctx, cancel = context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rep, err = g.End(ctx, 0)
	if err != nil {
		t.Fatalf("ending again after the thaw: %v", err)
	}
	if len(rep.Unkillable) != 0 {
		t.Errorf("Unkillable after the thaw = %+v", rep.Unkillable)
	}
	if testenv.Alive(p.Pid()) {
		t.Errorf("process %d is alive after the second end", p.Pid())
	}
	if cgs, ok := tracker.(platform.Cgroups); ok {
		if _, err := os.Stat(filepath.Join(cgs.Root, "ses_unkillable")); !os.IsNotExist(err) {
			t.Errorf("cgroup still exists after the second end: %v", err)
		}
	}
	if pids, _ := g.Pids(); len(pids) != 0 {
		t.Errorf("the group still lists %v", pids)
	}
	// Once gone, ending again is a no-op that succeeds.
	if _, err := g.End(ctx, 0); err != nil {
		t.Errorf("a third end: %v", err)
	}
}

// TestEndReportsTheSIGTERMPhase: the report tells the SIGTERM phase from
// the whole end, for a program that ignores SIGTERM and is killed after
// the grace.
func TestEndReportsTheSIGTERMPhase(t *testing.T) {
	for kind, tracker := range trackers(t) {
		t.Run(kind, func(t *testing.T) {
			g, err := tracker.NewGroup("ses_phases")
			if err != nil {
				t.Fatal(err)
			}
			p := start(t, g, `trap '' TERM; while :; do sleep 1; done`)
			testenv.WaitUntil(t, "the program to ignore SIGTERM", func() bool {
				ign, ok := statusField(p.Pid(), "SigIgn:")
				mask, err := strconv.ParseUint(ign, 16, 64)
				return ok && err == nil && mask&(1<<(syscall.SIGTERM-1)) != 0
			})
			const grace = 200 * time.Millisecond
			rep, err := g.End(context.Background(), grace)
			if err != nil {
				t.Fatal(err)
			}
			if rep.TermPhase < grace {
				t.Errorf("TermPhase = %v, want at least the grace %v", rep.TermPhase, grace)
			}
			if rep.Took < rep.TermPhase {
				t.Errorf("Took = %v is shorter than TermPhase = %v", rep.Took, rep.TermPhase)
			}
			if rep.Killed == 0 {
				t.Errorf("Killed = 0 for a program that ignores SIGTERM")
			}
		})
	}
}
