package platform_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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
