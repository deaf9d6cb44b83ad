package agent_test

import (
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/hoist-jit/hoist/platform"
	"github.com/hoist-jit/hoist/testenv"
)

// daemon is a real hoistd process.
type daemon struct {
	t                      *testing.T
	bin, state, socket, cg string
	tracker                string
	wrap                   []string // what hoistd is started through (argv before hoistd's), if anything
	cmd                    *exec.Cmd
}

func (d *daemon) start() {
	d.t.Helper()
	argv := append(append([]string{}, d.wrap...), filepath.Join(d.bin, "hoistd"), "run", "--state", d.state, "--socket", d.socket, "--cgroup-root", d.cg, "--tracker", d.tracker, "--grace", "300ms", "--autostart-dir=",
		"--sudo=false") // the machine's sudo is not this test's: a hoistd killed with -9 would leave instance main's step
	d.cmd = exec.Command(argv[0], argv[1:]...)
	d.cmd.Stdout, d.cmd.Stderr = os.Stderr, os.Stderr
	if err := d.cmd.Start(); err != nil {
		d.t.Fatal(err)
	}
	testenv.WaitUntil(d.t, "hoistd to listen", func() bool {
		c, err := net.Dial("unix", d.socket)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

// kill9 kills hoistd the hard way: no chance to clean up.
func (d *daemon) kill9() {
	_ = d.cmd.Process.Kill()
	_ = d.cmd.Wait()
}

func TestKill9AndRestart(t *testing.T) {
	for _, tracker := range []string{platform.TrackCgroup, platform.TrackProc} {
		t.Run(tracker, func(t *testing.T) { testKill9AndRestart(t, tracker) })
	}
}

func testKill9AndRestart(t *testing.T, tracker string) {
	for _, restartAfterEnd := range []bool{false, true} {
		name := "restarted before the end"
		if restartAfterEnd {
			name = "restarted after the end"
		}
		t.Run(name, func(t *testing.T) {
			r := newRig(t) // for the user, the binaries and a cgroup root; its in-process agent stays idle
			d := &daemon{t: t, bin: filepath.Dir(r.hoist), state: t.TempDir(), socket: filepath.Join(filepath.Dir(r.socket), "real.sock"),
				cg: r.cgs.Root + "-real", tracker: tracker}
			t.Cleanup(func() {
				if d.cmd.ProcessState == nil {
					d.kill9()
				}
				removeCgroups(d.cg)
			})
			d.start()
			// Taken before the grant, so that the window's end cannot come
			// before granted+window.
			granted := time.Now()
			// Long enough for a loaded machine to start the programs and
			// read the status inside it.
			const window = 5 * time.Second
			out, err := exec.Command(filepath.Join(d.bin, "hoistd"), "grant", r.user.Name, "--for", window.String(), "--socket", d.socket).CombinedOutput()
			if err != nil {
				t.Fatalf("grant: %v: %s", err, out)
			}
			sid := regexp.MustCompile(`ses_[a-z0-9]+`).FindString(string(out))
			user := r.command("exec hoist run -- sh -c 'sleep 1000 & sleep 1000 & wait'")
			user.Env = append(user.Env, "HOIST_SOCKET="+d.socket)
			if err := user.Start(); err != nil {
				t.Fatal(err)
			}
			defer user.Wait()
			var pids []int
			if tracker == platform.TrackCgroup {
				g, err := platform.Cgroups{Root: d.cg}.OpenGroup(sid)
				if err != nil {
					t.Fatal(err)
				}
				testenv.WaitUntil(t, "the elevated processes", func() bool { pids, _ = g.Pids(); return len(pids) >= 3 })
			} else {
				testenv.WaitUntil(t, "the elevated processes", func() bool { pids = markedPids(sid); return len(pids) >= 3 })
			}

			// The window's end as the user sees it, to the second.
			status := r.sh("", "HOIST_SOCKET="+d.socket+" hoist status --json")
			var st struct {
				ExpiresAt time.Time `json:"expires_at"`
			}
			if err := json.Unmarshal([]byte(status.stdout), &st); err != nil || st.ExpiresAt.IsZero() {
				t.Fatalf("hoist status --json: exit %d, %q: %v", status.code, status.stdout, err)
			}
			d.kill9()
			for _, pid := range pids {
				if !testenv.Alive(pid) {
					t.Fatalf("process %d died with hoistd; elevated programs must run on", pid)
				}
			}
			if restartAfterEnd {
				// No hoistd runs, so nothing but the clock can say the
				// window is over: one wait until just past its end
				// (expires_at is rounded down to the second).
				<-time.After(time.Until(st.ExpiresAt.Add(time.Second)))
				for _, pid := range pids {
					if !testenv.Alive(pid) {
						t.Fatalf("process %d ended without hoistd", pid)
					}
				}
			}
			d.start()
			if !restartAfterEnd && time.Since(granted) < window-time.Second {
				for _, pid := range pids {
					if !testenv.Alive(pid) {
						t.Fatalf("the restarted hoistd ended process %d before the window closed", pid)
					}
				}
			}
			testenv.WaitUntil(t, "the adopted session to end", func() bool {
				for _, pid := range pids {
					if testenv.Alive(pid) {
						return false
					}
				}
				_, err := os.Stat(filepath.Join(d.cg, sid))
				return os.IsNotExist(err)
			})
			// The window ends 5s after hoistd took the grant, which is after
			// granted; allow for the clock read of the wait's last poll.
			ended := time.Since(granted)
			if ended < window-50*time.Millisecond {
				t.Fatalf("ended %s after the grant, before the %s window closed", ended, window)
			}
		})
	}
}
