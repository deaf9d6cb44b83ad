package agent_test

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/agent"
	"github.com/hoist-jit/hoist/platform"
	"github.com/hoist-jit/hoist/testenv"
)

// BenchmarkRun is "hoist run -- /bin/true" in a session, the real hoist
// binary run by a real user against an in-process hoistd on a real socket,
// into a real cgroup. Run it with -cpuprofile to see where hoistd's time
// goes (the profile is this process's: hoistd's side only).
func BenchmarkRun(b *testing.B) {
	testenv.RequireRoot(b)
	mount, err := platform.FindCgroup2()
	testenv.Require(b, err == nil, "needs cgroup v2")
	pub := testenv.PublicDir(b)
	cgs := platform.Cgroups{Root: filepath.Join(mount, "hoist-bench-"+filepath.Base(pub))}
	b.Cleanup(func() { removeCgroups(cgs.Root) })
	user := testenv.NewUser(b)
	hoistBin := filepath.Join(testenv.Binaries(b), "hoist")
	a, err := agent.New(agent.Config{StateDir: b.TempDir(), Tracker: cgs, Grace: 500 * time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	socket := filepath.Join(pub, "hoistd.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: socket, Net: "unix"})
	if err != nil {
		b.Fatal(err)
	}
	_ = os.Chmod(socket, 0o666)
	done := make(chan struct{})
	go func() { _ = a.Serve(l); close(done) }()
	b.Cleanup(func() { l.Close(); <-done; a.Close() })
	now := time.Now()
	if err := a.Activate(agent.Grant{SessionID: hoist.NewID(hoist.SessionIDPrefix), User: user.Name, NotBefore: now, NotAfter: now.Add(time.Hour), By: "bench"}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		cmd := exec.Command(hoistBin, "run", "--socket", socket, "--", "/bin/true")
		cmd.Dir = "/tmp"
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: user.UID, Gid: user.GID}}
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("hoist run: %v\n%s", err, out)
		}
	}
}
