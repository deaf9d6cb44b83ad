package platform_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hoist-jit/hoist/platform"
	"github.com/hoist-jit/hoist/testenv"
)

// execWatchers returns both exec sources, each for its own subtest.
func execWatchers(t *testing.T) map[string]platform.ExecWatcher {
	t.Helper()
	testenv.RequireRoot(t)
	b, err := platform.NewBPFExecWatcher()
	testenv.Require(t, err == nil, "needs BPF (CAP_BPF, BTF): "+errString(err))
	t.Cleanup(func() { b.Close() })
	p, err := platform.NewProcExecWatcher()
	testenv.Require(t, err == nil, "needs the process-events connector: "+errString(err))
	t.Cleanup(func() { p.Close() })
	return map[string]platform.ExecWatcher{platform.ExecSourceBPF: b, platform.ExecSourceProc: p}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// collect reads w's events of group until stop says it has enough, or a
// generous deadline passes.
func collect(t *testing.T, w platform.ExecWatcher, group string, stop func([]platform.ExecEvent) bool) []platform.ExecEvent {
	t.Helper()
	var got []platform.ExecEvent
	deadline := time.After(60 * time.Second)
	for !stop(got) {
		select {
		case ev := <-w.Events():
			if ev.Group == group {
				got = append(got, ev)
			}
		case <-deadline:
			t.Fatalf("gave up waiting; got %d events: %+v", len(got), got)
		}
	}
	return got
}

func hasExec(evs []platform.ExecEvent, argv ...string) bool {
	return slices.ContainsFunc(evs, func(e platform.ExecEvent) bool { return !e.Exit && slices.Equal(e.Argv, argv) })
}

// TestBPFExecWatcherSeesShortLivedPrograms is why BPF is the primary source:
// a static program that exits at once is recorded with its argv, from a
// sub-cgroup too, and nothing outside the watched cgroup is.
func TestBPFExecWatcherSeesShortLivedPrograms(t *testing.T) {
	w := execWatchers(t)[platform.ExecSourceBPF]
	busybox, err := exec.LookPath("busybox")
	testenv.Require(t, err == nil, "needs busybox (busybox-static)")
	g, err := testCgroups(t).NewGroup("sess_execwatch")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Watch("sess_execwatch", g); err != nil {
		t.Fatal(err)
	}
	// A sub-cgroup the program makes does not take it out of the record.
	script := `mkdir -p "$CG/sub" && echo $$ > "$CG/sub/cgroup.procs" && ` + busybox + ` true a-short-one; /usr/bin/uname -a >/dev/null; exit 3`
	p, err := g.Start(platform.Spec{Path: "/bin/sh", Argv: []string{"sh", "-c", script}, Env: []string{"PATH=/usr/bin:/bin", "CG=" + cgDir(t, g)}})
	if err != nil {
		t.Fatal(err)
	}
	// A program outside the cgroup is no business of this group.
	if err := exec.Command(busybox, "true", "outside-the-session").Run(); err != nil {
		t.Fatal(err)
	}
	status := p.Wait()
	evs := collect(t, w, "sess_execwatch", func(evs []platform.ExecEvent) bool {
		return slices.ContainsFunc(evs, func(e platform.ExecEvent) bool { return e.Exit && e.Pid == p.Pid() })
	})
	for _, want := range [][]string{{"sh", "-c", script}, {busybox, "true", "a-short-one"}, {"/usr/bin/uname", "-a"}} {
		if !hasExec(evs, want...) {
			t.Errorf("no exec of %q in %+v", want, evs)
		}
	}
	if hasExec(evs, busybox, "true", "outside-the-session") {
		t.Errorf("a program outside the cgroup was recorded")
	}
	for _, e := range evs {
		if e.Exit && e.Pid == p.Pid() && platform.ExitCode(e.ExitStatus) != 3 {
			t.Errorf("exit status of the shell = %d, want 3 (Wait said %d)", platform.ExitCode(e.ExitStatus), status)
		}
		if !e.Exit && e.Argv[0] == busybox && e.Ppid == 0 {
			t.Errorf("exec without its parent: %+v", e)
		}
	}
	w.Unwatch("sess_execwatch")
	end(t, g)
}

// TestBPFExecWatcherCountsWhatTheRingCannotHold: while the consumer does
// not read, records queue in the kernel's ring; a storm that overflows it
// is counted by Lost, event for event, never lost silently, and what the
// ring held is still delivered whole.
func TestBPFExecWatcherCountsWhatTheRingCannotHold(t *testing.T) {
	w := execWatchers(t)[platform.ExecSourceBPF]
	g, err := testCgroups(t).NewGroup("sess_execstorm")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Watch("sess_execstorm", g); err != nil {
		t.Fatal(err)
	}
	// Each exec carries 2,000 bytes of arguments, so that fewer than 1,000
	// fit in the ring.
	const execs = 1000
	long := strings.Repeat("x", 2000)
	storm := `i=0; while [ $i -lt ` + strconv.Itoa(execs) + ` ]; do /bin/true "$LONG"; i=$((i+1)); done`
	p, err := g.Start(platform.Spec{Path: "/bin/sh", Argv: []string{"sh", "-c", storm}, Env: []string{"PATH=/usr/bin:/bin", "LONG=" + long}})
	if err != nil {
		t.Fatal(err)
	}
	p.Wait() // the shell's exit is in the ring, or counted, once it is reaped
	lost := int(w.Lost())
	if lost == 0 {
		t.Fatalf("nothing lost with %d execs of 2 KiB queued and none read: the ring is larger than this test assumes", execs)
	}
	// The shell's exec and exit, and each /bin/true's.
	want := 2 + 2*execs
	delivered := 0
	for deadline := time.After(60 * time.Second); delivered+lost < want; {
		select {
		case e := <-w.Events():
			if e.Group != "sess_execstorm" {
				continue
			}
			delivered++
			if !e.Exit && e.Path == "/bin/true" && (len(e.Argv) != 2 || e.Argv[1] != long || e.Truncated) {
				t.Fatalf("a queued exec was not delivered whole: %d arguments, truncated %v", len(e.Argv), e.Truncated)
			}
		case <-deadline:
			t.Fatalf("delivered %d + lost %d events, want %d: the rest were lost without a count", delivered, lost, want)
		}
	}
	t.Logf("%d events delivered, %d counted as lost", delivered, lost)
	if delivered+lost != want {
		t.Errorf("delivered %d + lost %d events, want %d", delivered, lost, want)
	}
	w.Unwatch("sess_execstorm")
	end(t, g)
}

// TestExecWatcherFallback: the connector still sees a program that lives
// long enough to be read, with its argv.
func TestExecWatcherFallback(t *testing.T) {
	w := execWatchers(t)[platform.ExecSourceProc]
	g, err := testCgroups(t).NewGroup("sess_execproc")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Watch("sess_execproc", g); err != nil {
		t.Fatal(err)
	}
	p, err := g.Start(platform.Spec{Path: "/bin/sh", Argv: []string{"sh", "-c", "/bin/sleep 2.5; exit 4"}, Env: []string{"PATH=/usr/bin:/bin"}})
	if err != nil {
		t.Fatal(err)
	}
	p.Wait()
	evs := collect(t, w, "sess_execproc", func(evs []platform.ExecEvent) bool {
		return slices.ContainsFunc(evs, func(e platform.ExecEvent) bool { return e.Exit && e.Pid == p.Pid() })
	})
	if !hasExec(evs, "/bin/sleep", "2.5") {
		t.Errorf("no exec of sleep in %+v", evs)
	}
	end(t, g)
}

// TestExecObjectUpToDate: the committed BPF object is the build of the
// committed source (make bpf).
func TestExecObjectUpToDate(t *testing.T) {
	_, err := exec.LookPath("clang")
	testenv.Require(t, err == nil, "clang rebuilds the committed BPF object (apt-get install clang llvm)")
	out := filepath.Join(t.TempDir(), "exec.bpf.o")
	cmd := exec.Command("make", "-s", "-C", "..", "bpf", "BPF_OUT="+out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make bpf: %v\n%s", err, b)
	}
	got, _ := os.ReadFile(out)
	want, err := os.ReadFile("bpf/exec.bpf.o")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("platform/bpf/exec.bpf.o is not the build of exec.bpf.c: run make bpf and commit it")
	}
}

func cgDir(t *testing.T, g platform.Group) string {
	t.Helper()
	d, ok := platform.GroupCgroupDir(g)
	if !ok {
		t.Fatal("not a cgroup group")
	}
	return d
}

func end(t *testing.T, g platform.Group) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := g.End(ctx, time.Second); err != nil && !strings.Contains(err.Error(), "no such") {
		t.Fatal(err)
	}
}
