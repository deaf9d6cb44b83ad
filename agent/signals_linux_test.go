package agent_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hoist-jit/hoist/platform"
)

// TestElevatedProgramsGetDefaultSignals starts a real hoistd the way nohup
// and a careless supervisor would (SIGHUP ignored, SIGHUP and SIGUSR1
// blocked) and checks that an elevated program inherits none of it: a shell
// cannot trap a signal that was ignored when it started, and a blocked one
// never arrives.
func TestElevatedProgramsGetDefaultSignals(t *testing.T) {
	r := newRig(t) // for the user, the binaries and a cgroup root; its in-process agent stays idle
	d := startWrapped(t, r, "env", "--ignore-signal=HUP", "--block-signal=HUP", "--block-signal=USR1")
	checkDefaultSignals(t, r, d)
	got := r.sh("", "HOIST_SOCKET="+d.socket+" "+`hoist run -- sh -c 'trap "echo caught; exit 3" HUP; kill -HUP $$; sleep 1; echo missed'`)
	if got.code != 3 || got.stdout != "caught\n" {
		t.Errorf("a trapped SIGHUP: exit %d, output %q; want 3 and caught", got.code, got.stdout)
	}
}

// TestSignalsGoUnblocksNeedNoSecondStart: signals blocked at start that the
// Go runtime unblocks in every thread it runs (SIGHUP, SIGTERM) are not
// blocked in what Go's fork starts either, so hoistd does not execute
// itself again for them, and the elevated program still starts with none
// blocked. (This holds the check in cleanSignals to what Go's fork does.)
func TestSignalsGoUnblocksNeedNoSecondStart(t *testing.T) {
	r := newRig(t)
	d := startWrapped(t, r, "env", "--default-signal", "--block-signal=HUP", "--block-signal=TERM")
	if executedAgain(t, d) {
		t.Errorf("hoistd executed itself again for signals Go unblocks")
	}
	checkDefaultSignals(t, r, d)
}

// startWrapped starts a real hoistd through wrap, with a local grant for
// the rig's user.
func startWrapped(t *testing.T, r *rig, wrap ...string) *daemon {
	t.Helper()
	d := &daemon{t: t, bin: filepath.Dir(r.hoist), state: t.TempDir(), socket: filepath.Join(filepath.Dir(r.socket), "real.sock"),
		cg: r.cgs.Root + "-real", tracker: platform.TrackCgroup, wrap: wrap}
	t.Cleanup(func() {
		if d.cmd.ProcessState == nil {
			d.kill9()
		}
		removeCgroups(d.cg)
	})
	d.start()
	if out, err := exec.Command(filepath.Join(d.bin, "hoistd"), "grant", r.user.Name, "--for", "1m", "--socket", d.socket).CombinedOutput(); err != nil {
		t.Fatalf("grant: %v: %s", err, out)
	}
	return d
}

// checkDefaultSignals runs an elevated program through d and checks that
// it started with no signal blocked or ignored.
func checkDefaultSignals(t *testing.T, r *rig, d *daemon) {
	t.Helper()
	got := r.sh("", "HOIST_SOCKET="+d.socket+" "+`hoist run -- grep -E '^Sig(Blk|Ign):' /proc/self/status`)
	if got.code != 0 {
		t.Fatalf("hoist run grep: exit %d, stderr %q", got.code, got.stderr)
	}
	for _, field := range []string{"SigBlk", "SigIgn"} {
		m := regexp.MustCompile(field + `:\s*([0-9a-f]+)`).FindStringSubmatch(got.stdout)
		if m == nil {
			t.Fatalf("no %s in %q", field, got.stdout)
		}
		if strings.Trim(m[1], "0") != "" {
			t.Errorf("the elevated program started with %s %s, want none", field, m[1])
		}
	}
}

// TestCleanStartIsNotExecutedAgain: hoistd executes itself again only when it
// started with a signal ignored or blocked. The second start carries
// HOIST_SIGNALS_CLEANED in the environment it was executed with, which
// /proc/PID/environ shows for as long as it runs.
func TestCleanStartIsNotExecutedAgain(t *testing.T) {
	r := newRig(t)
	for _, tc := range []struct {
		name string
		wrap []string
		want bool
	}{
		// --default-signal: clean even when the test itself runs under nohup.
		{"clean start", []string{"env", "--default-signal"}, false},
		{"SIGHUP ignored", []string{"env", "--default-signal", "--ignore-signal=HUP"}, true},
		{"SIGUSR1 blocked", []string{"env", "--default-signal", "--block-signal=USR1"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := startWrapped(t, r, tc.wrap...)
			if got := executedAgain(t, d); got != tc.want {
				t.Errorf("hoistd executed itself again: %v, want %v", got, tc.want)
			}
		})
	}
}

// executedAgain reports whether d's hoistd is a second start: its
// environment, as it was executed with, has HOIST_SIGNALS_CLEANED.
func executedAgain(t *testing.T, d *daemon) bool {
	t.Helper()
	environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", d.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range strings.Split(string(environ), "\x00") {
		if strings.HasPrefix(kv, "HOIST_SIGNALS_CLEANED=") {
			return true
		}
	}
	return false
}
