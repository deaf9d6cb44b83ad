package agent_test

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/agent"
	"github.com/hoist-jit/hoist/testenv"
)

func openFDs(t *testing.T) int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

// TestLoad runs 1,000 "hoist run -- true", 250 at a time, from three users, two
// with a session and one without: every one is answered right, and
// afterwards hoistd holds no more descriptors or goroutines than before.
func TestLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	r := newRig(t)
	users := []testenv.User{r.user, testenv.NewUser(t), testenv.NewUser(t)}
	now := time.Now()
	for _, u := range users[:2] {
		if err := r.agent.Activate(agent.Grant{SessionID: hoist.NewID(hoist.SessionIDPrefix), User: u.Name, NotBefore: now, NotAfter: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	settle := func() (int, int) {
		runtime.GC()
		return runtime.NumGoroutine(), openFDs(t)
	}
	// Warm up once so that lazily started runtime goroutines are counted.
	if got := r.sh("", "hoist run -- true"); got.code != 0 {
		t.Fatalf("warm-up: %d %s", got.code, got.stderr)
	}
	g0, fd0 := settle()

	const total = 1000
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		wrong    []string
		sem      = make(chan struct{}, 250) // 250 clients at once: each is a process of its own on a 2-core machine
		hoistBin = r.hoist
	)
	for i := range total {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			u := users[i%len(users)]
			cmd := exec.Command(hoistBin, "run", "--", "true")
			cmd.Env = []string{"HOIST_SOCKET=" + r.socket, "PATH=/usr/bin:/bin"}
			cmd.Dir = "/tmp"
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: u.UID, Gid: u.GID}}
			err := cmd.Run()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				code = -1
			}
			want := 0
			if i%len(users) == 2 {
				want = 126 // no session: refused
			}
			if code != want {
				mu.Lock()
				wrong = append(wrong, fmt.Sprintf("run %d as %s: exit %d, want %d", i, u.Name, code, want))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(wrong) > 0 {
		t.Fatalf("%d of %d answered wrong, e.g. %s", len(wrong), total, wrong[0])
	}
	// The daemon's goroutines and descriptors return to where they were.
	var g1, fd1 int
	testenv.WaitUntil(t, "goroutines and descriptors to settle", func() bool {
		g1, fd1 = settle()
		return g1 <= g0 && fd1 <= fd0
	})
	started := r.events("command.started")
	if len(started) < total*2/3 {
		t.Fatalf("%d runs audited, want at least %d", len(started), total*2/3)
	}
}
