package platform_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hoist-jit/hoist/platform"
	"github.com/hoist-jit/hoist/testenv"
)

// testCgroups returns a cgroup root of the test's own, removed at the end.
func testCgroups(t testing.TB) platform.Cgroups {
	t.Helper()
	testenv.Require(t, os.Geteuid() == 0, "needs root")
	mount, err := platform.FindCgroup2()
	testenv.Require(t, err == nil, "needs cgroup v2")
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	root := filepath.Join(mount, "hoist-test-"+hex.EncodeToString(b))
	t.Cleanup(func() {
		entries, _ := os.ReadDir(root)
		for _, e := range entries {
			_ = os.WriteFile(filepath.Join(root, e.Name(), "cgroup.kill"), []byte("1"), 0)
			_ = os.Remove(filepath.Join(root, e.Name()))
		}
		_ = os.Remove(root)
	})
	return platform.Cgroups{Root: root}
}

// trackers returns every tracker there is, each for its own subtest: the
// fallback must pass what the cgroups pass.
func trackers(t testing.TB) map[string]platform.Tracker {
	t.Helper()
	cgs := testCgroups(t)
	proc, err := platform.NewProcTracker()
	testenv.Require(t, err == nil, fmt.Sprint("needs the process-events connector (CONFIG_PROC_EVENTS): ", err))
	t.Cleanup(func() { proc.Close() })
	return map[string]platform.Tracker{platform.TrackCgroup: cgs, platform.TrackProc: proc}
}

func start(t testing.TB, g platform.Group, script string) *platform.Process {
	t.Helper()
	p, _ := startMarked(t, g, script)
	return p
}

// startMarked starts script in g with an environment entry of its own,
// returned, by which its processes can be found whatever the tracker
// recorded (unless they drop their environment).
func startMarked(t testing.TB, g platform.Group, script string) (*platform.Process, string) {
	t.Helper()
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	mark := "HOIST_TEST_MARK=" + hex.EncodeToString(b)
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	p, err := g.Start(platform.Spec{Path: "/bin/sh", Argv: []string{"sh", "-c", script}, Env: []string{"PATH=/usr/bin:/bin", mark}, Dir: "/",
		Stdin: devnull, Stdout: devnull, Stderr: devnull})
	if err != nil {
		t.Fatal(err)
	}
	go p.Wait()
	return p, mark
}

// survivors kills and lists the live processes whose environment holds
// mark: processes of a test's session still there after its end.
func survivors(mark string) []int {
	entries, _ := os.ReadDir("/proc")
	var found []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || !testenv.Alive(pid) {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err == nil && slices.Contains(strings.Split(string(env), "\x00"), mark) {
			found = append(found, pid)
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	return found
}

func TestNothingEscapesTheEnd(t *testing.T) {
	for kind, tracker := range trackers(t) {
		t.Run(kind, func(t *testing.T) { testNothingEscapesTheEnd(t, tracker) })
	}
}

func testNothingEscapesTheEnd(t *testing.T, tracker platform.Tracker) {
	cases := []struct {
		name   string
		script string
		procs  int // how many processes to wait for before ending
		grace  time.Duration
		cgroup bool // only means something with cgroups
	}{
		{"setsid and background", `setsid sh -c 'sleep 1000 &'; sleep 1000`, 3, time.Second, false},
		{"subshell background", `(sleep 1000 &); sleep 1000`, 2, time.Second, false},
		{"nohup", `nohup sleep 1000 >/dev/null 2>&1 & sleep 1000`, 2, time.Second, false},
		{"closed stdio double fork", `sh -c 'exec 0<&- 1>&- 2>&-; sleep 1000 &' ; sleep 1000`, 2, time.Second, false},
		{"ignores SIGTERM", `trap '' TERM; sh -c 'trap "" TERM; sleep 1000 & wait' & sleep 1000`, 4, 300 * time.Millisecond, false},
		{"the parent exits first", `sleep 1000 & sleep 1000 & exit 0`, 2, time.Second, false},
		{"burst of 500 forks", `i=0; while [ $i -lt 500 ]; do sleep 1000 & i=$((i+1)); done; wait`, 501, time.Second, false},
		{"forks during the end", `trap '' TERM; while true; do sleep 1000 & done`, 20, 300 * time.Millisecond, false},
		{"a cgroup of its own below", `d=$(cat /proc/self/cgroup | sed -n 's/^0:://p'); mkdir -p /sys/fs/cgroup/unified$d/inner 2>/dev/null || mkdir -p /sys/fs/cgroup$d/inner; sh -c 'echo $$ > $(ls -d /sys/fs/cgroup/unified'$d'/inner /sys/fs/cgroup'$d'/inner 2>/dev/null | head -1)/cgroup.procs; exec sleep 1000' & sleep 1000`, 2, time.Second, true},
		{"drops its environment and detaches", `setsid env -i /bin/sh -c 'sleep 1000 &'; sleep 1000`, 2, time.Second, false},
	}
	for _, tc := range cases {
		if tc.cgroup && tracker.Kind() != platform.TrackCgroup {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			id := "ses_" + strings.ReplaceAll(tc.name, " ", "_")
			g, err := tracker.NewGroup(id)
			if err != nil {
				t.Fatal(err)
			}
			_, mark := startMarked(t, g, tc.script)
			var pids []int
			testenv.WaitUntil(t, "the processes to start", func() bool {
				pids, _ = g.Pids()
				return len(pids) >= tc.procs
			})
			for _, pid := range pids {
				uid, ok := statusField(pid, "Uid:")
				if !ok {
					continue // a shell that has already gone
				}
				if uid != "0" {
					t.Fatalf("process %d runs as uid %s, want 0", pid, uid)
				}
				break
			}
			rep, err := g.End(context.Background(), tc.grace)
			if err != nil {
				t.Fatal(err)
			}
			// Intermediate shells come and go, so the count at the end may be
			// lower than the peak; it cannot be zero.
			if rep.Terminated == 0 {
				t.Errorf("report counts no processes")
			}
			for _, pid := range append(pids, rep.Pids...) {
				if testenv.Alive(pid) {
					t.Errorf("process %d is still alive after the end", pid)
				}
			}
			// Those the end did not know of too: none may be left.
			if left := survivors(mark); len(left) > 0 {
				t.Errorf("%d processes of the session survived its end: %v", len(left), left)
			}
			if cgs, ok := tracker.(platform.Cgroups); ok {
				if _, err := os.Stat(filepath.Join(cgs.Root, id)); !os.IsNotExist(err) {
					t.Errorf("cgroup %s still exists: %v", id, err)
				}
			}
			if pids, _ := g.Pids(); len(pids) != 0 {
				t.Errorf("the group still lists %v", pids)
			}
		})
	}
}

func statusField(pid int, field string) (string, bool) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return "", false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, field); ok {
			return strings.Fields(v)[0], true
		}
	}
	return "", false
}

func TestExitStatus(t *testing.T) {
	for kind, tracker := range trackers(t) {
		t.Run(kind, func(t *testing.T) { testExitStatus(t, tracker) })
	}
}

func testExitStatus(t *testing.T, tracker platform.Tracker) {
	g, err := tracker.NewGroup("ses_exit")
	if err != nil {
		t.Fatal(err)
	}
	defer g.End(context.Background(), 0)
	cases := []struct {
		script string
		want   int
	}{{"exit 0", 0}, {"exit 3", 3}, {"kill -TERM $$", 128 + 15}, {"kill -KILL $$", 128 + 9}}
	for _, tc := range cases {
		devnull, _ := os.Open(os.DevNull)
		p, err := g.Start(platform.Spec{Path: "/bin/sh", Argv: []string{"sh", "-c", tc.script}, Dir: "/", Stdin: devnull, Stdout: devnull, Stderr: devnull})
		devnull.Close()
		if err != nil {
			t.Fatal(err)
		}
		if got := p.Wait(); got != tc.want {
			t.Errorf("%q: status %d, want %d", tc.script, got, tc.want)
		}
	}
}

func TestGroupNamesCannotEscapeTheRoot(t *testing.T) {
	for kind, tracker := range trackers(t) {
		for _, id := range []string{"", ".", "..", "../x", "a/b", "a\x00b"} {
			if _, err := tracker.NewGroup(id); err == nil {
				t.Errorf("%s: NewGroup(%q) succeeded", kind, id)
			}
		}
	}
}

// TestProcTrackerFindsASessionAgain: a new tracker (hoistd restarted) finds
// the processes of a session by their marker and ancestry, and ends them.
func TestProcTrackerFindsASessionAgain(t *testing.T) {
	testenv.RequireRoot(t)
	first, err := platform.NewProcTracker()
	testenv.Require(t, err == nil, fmt.Sprint("needs the process-events connector: ", err))
	g, err := first.NewGroup("ses_again")
	if err != nil {
		t.Fatal(err)
	}
	devnull, _ := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	defer devnull.Close()
	p, err := g.Start(platform.Spec{Path: "/bin/sh", Argv: []string{"sh", "-c", "(sleep 1000 &); setsid env -u HOIST_SESSION sleep 1000 & sleep 1000"},
		Env: []string{"PATH=/usr/bin:/bin", "HOIST_SESSION=ses_again"}, Dir: "/", Stdin: devnull, Stdout: devnull, Stderr: devnull})
	if err != nil {
		t.Fatal(err)
	}
	go p.Wait()
	var pids []int
	testenv.WaitUntil(t, "the sleeps", func() bool { pids, _ = g.Pids(); return len(pids) >= 4 })
	first.Close()

	second, err := platform.NewProcTracker()
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	g2, err := second.OpenGroup("ses_again")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g2.End(context.Background(), 200*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		if testenv.Alive(pid) {
			t.Errorf("process %d of the session survived the end by a new tracker", pid)
		}
	}
}
