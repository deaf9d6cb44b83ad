package agent_test

import (
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
	d := &daemon{t: t, bin: filepath.Dir(r.hoist), state: t.TempDir(), socket: filepath.Join(filepath.Dir(r.socket), "real.sock"),
		cg: r.cgs.Root + "-real", tracker: platform.TrackCgroup,
		wrap: []string{"env", "--ignore-signal=HUP", "--block-signal=HUP", "--block-signal=USR1"}}
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
	run := func(script string) outcome {
		t.Helper()
		return r.sh("", "HOIST_SOCKET="+d.socket+" "+script)
	}

	got := run(`hoist run -- grep -E '^Sig(Blk|Ign):' /proc/self/status`)
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

	got = run(`hoist run -- sh -c 'trap "echo caught; exit 3" HUP; kill -HUP $$; sleep 1; echo missed'`)
	if got.code != 3 || got.stdout != "caught\n" {
		t.Errorf("a trapped SIGHUP: exit %d, output %q; want 3 and caught", got.code, got.stdout)
	}
}
