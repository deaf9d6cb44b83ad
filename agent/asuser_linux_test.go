package agent

import (
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/hoist-jit/hoist/testenv"
)

// TestLookupsLeaveHoistdRoot: the threads that take a caller's identity
// for a lookup end with it; hoistd itself — its main thread, which Go
// cannot end, included — stays root, however the scheduler places them.
func TestLookupsLeaveHoistdRoot(t *testing.T) {
	testenv.RequireRoot(t)
	u := testenv.NewUser(t)
	p := Peer{UID: int(u.UID), GID: int(u.GID), User: u.Name, cwd: "/"}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				if path, err := resolveAs(p, "true", "/"); err != nil || path == "" {
					t.Errorf("resolveAs(true) = %q, %v", path, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(line, "Uid:") || strings.HasPrefix(line, "Gid:") {
			if f := strings.Fields(line); len(f) != 5 || f[1] != "0" || f[2] != "0" || f[3] != "0" || f[4] != "0" {
				t.Fatalf("hoistd's main thread is no longer root: %q", line)
			}
		}
	}
	if os.Geteuid() != 0 {
		t.Fatal("this goroutine's thread is no longer root")
	}
}
