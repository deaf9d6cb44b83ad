package e2e_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/agent"
	"github.com/hoist-jit/hoist/control"
	"github.com/hoist-jit/hoist/link"
	"github.com/hoist-jit/hoist/pgtest"
	"github.com/hoist-jit/hoist/platform"
	"github.com/hoist-jit/hoist/server"
	"github.com/hoist-jit/hoist/testenv"
	"github.com/hoist-jit/hoist/wire"
)

// TestMain stops the PostgreSQL cluster the replica tests start on demand,
// and removes the hoist binaries testenv built, once every test is done.
func TestMain(m *testing.M) {
	code := pgtest.Main(m)
	testenv.Cleanup()
	os.Exit(code)
}

var ctx = context.Background()

var adminActor = control.Actor{Name: "admin", Role: hoist.RoleAdmin}

func token(t testing.TB, m *server.Main, uses int) string {
	t.Helper()
	tok, _, err := m.Service().CreateEnrollToken(ctx, adminActor, "", time.Hour, uses)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// startServerAt starts a server on SQLite in dir, listening on listen: the
// same dir and address again is the same server restarted.
func startServerAt(t testing.TB, dir, listen string) *server.Main {
	t.Helper()
	m, err := server.Start(ctx, server.Config{DataDir: dir, Listen: listen,
		AdminPassword: "correct horse battery staple", Settings: hoist.DefaultApprovalSettings()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func countActions(m *server.Main) map[string]int {
	out := map[string]int{}
	_ = m.Service().Audit(ctx, adminActor, hoist.AuditFilter{}, func(r hoist.AuditRecord) error {
		out[r.Action]++
		return nil
	})
	return out
}

// fleet is a real server, and an enrolled in-process hoistd with a real
// socket, real cgroups and a real non-root user.
type fleet struct {
	t   *testing.T
	srv *server.Main
	// opts change the agent's configuration at each start.
	opts []func(*agent.Config)
	// srvDir is the server's data directory, when newFleet started it.
	srvDir   string
	agent    *agent.Agent
	link     *link.Link
	state    string
	stopLink context.CancelFunc
	linkDone chan struct{}
	socket   string
	listener *net.UnixListener
	served   chan struct{} // closed when the agent stops serving
	cgs      platform.Cgroups
	user     testenv.User
	bin      string
	desktop  string
}

func newFleet(t *testing.T) *fleet {
	dir := t.TempDir()
	f := newFleetOn(t, startServerAt(t, dir, "127.0.0.1:0"))
	f.srvDir = dir
	return f
}

// newFleetOn is newFleet on srv; opts change the agent's configuration.
func newFleetOn(t *testing.T, srv *server.Main, opts ...func(*agent.Config)) *fleet {
	t.Helper()
	testenv.RequireRoot(t)
	mount, err := platform.FindCgroup2()
	testenv.Require(t, err == nil, "needs cgroup v2")
	f := &fleet{t: t, srv: srv, user: testenv.NewUser(t), bin: testenv.Binaries(t), opts: opts}
	f.state = t.TempDir()
	if _, err := link.Enroll(ctx, "", token(t, f.srv, 1), f.state, link.Facts(hoist.Version)); err != nil {
		t.Fatal(err)
	}
	pub := testenv.PublicDir(t)
	f.socket = filepath.Join(pub, "hoistd.sock")
	f.cgs = platform.Cgroups{Root: filepath.Join(mount, "hoist-test-"+filepath.Base(pub))}
	f.desktop = t.TempDir()
	f.startAgent()
	t.Cleanup(func() {
		f.stopAgent()
		entries, _ := os.ReadDir(f.cgs.Root)
		for _, e := range entries {
			if g, err := f.cgs.OpenGroup(e.Name()); err == nil {
				_, _ = g.End(ctx, 0)
			}
		}
		_ = os.Remove(f.cgs.Root)
	})
	f.enableJIT()
	return f
}

// startAgent starts hoistd on the fleet's state directory, linked to the
// server and serving the socket, as hoistd run does.
func (f *fleet) startAgent() {
	f.t.Helper()
	cfg := agent.Config{StateDir: f.state, Tracker: f.cgs, Grace: 300 * time.Millisecond, DesktopDir: f.desktop}
	for _, o := range f.opts {
		o(&cfg)
	}
	if cfg.Sudo != nil && cfg.Sudo.Socket == "" { // an option cannot know these
		s := *cfg.Sudo
		s.Hook, s.Socket = filepath.Join(f.bin, "hoistd"), f.socket
		cfg.Sudo = &s
	}
	a, err := agent.New(cfg)
	if err != nil {
		f.t.Fatal(err)
	}
	f.agent = a
	f.startLink()
	_ = os.Remove(f.socket)
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: f.socket, Net: "unix"})
	if err != nil {
		f.t.Fatal(err)
	}
	_ = os.Chmod(f.socket, 0o666)
	f.listener, f.served = l, make(chan struct{})
	go func(done chan struct{}) { _ = a.Serve(l); close(done) }(f.served)
}

// stopAgent stops hoistd: its link, its socket, the agent.
func (f *fleet) stopAgent() {
	if f.agent == nil {
		return
	}
	f.stopLink()
	<-f.linkDone
	f.listener.Close()
	<-f.served
	f.agent.Close()
	f.agent = nil
}

// restartAgent stops hoistd and starts it again on the same state, as a
// restart of the service does.
func (f *fleet) restartAgent() {
	f.t.Helper()
	f.stopAgent()
	f.startAgent()
}

// signBundle signs data with the grant key of the server newFleet started,
// as that server signs the bundles it delivers.
func (f *fleet) signBundle(data []byte) []byte {
	f.t.Helper()
	if f.srvDir == "" {
		f.t.Fatal("signBundle: the fleet did not start its server (use newFleet)")
	}
	pemData, err := os.ReadFile(filepath.Join(f.srvDir, server.GrantKeyFile))
	if err != nil {
		f.t.Fatal(err)
	}
	block, _ := pem.Decode(pemData)
	if block == nil {
		f.t.Fatalf("%s holds no PEM block", server.GrantKeyFile)
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		f.t.Fatal(err)
	}
	// The message as the agent protocol documents it, spelled out here
	// rather than taken from the code under test.
	return ed25519.Sign(key.(ed25519.PrivateKey), append([]byte("hoist-bundle-v1\n"), data...))
}

// enableJIT activates the three JIT policies the server ships for the
// default group, and waits for the agent to hear of it: JIT mode is off
// until then.
func (f *fleet) enableJIT() {
	f.t.Helper()
	for _, name := range []string{"JIT Mode (Startup and Approval)", "JIT Mode", "JIT Mode (Child Processes)"} {
		if _, err := f.srv.Service().SetPolicyActive(ctx, adminActor, name, true); err != nil {
			f.t.Fatal(err)
		}
	}
	testenv.WaitUntil(f.t, "JIT mode on the machine", func() bool { _, ok := f.agent.Bundle().JIT(); return ok })
}

// startLink connects the agent to the server, as hoistd does at start.
func (f *fleet) startLink() {
	c, err := link.Load(f.state)
	if err != nil {
		f.t.Fatal(err)
	}
	f.link = link.New(c, f.agent, f.state, link.Facts(hoist.Version), nil)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { f.link.Run(runCtx); close(done) }()
	f.stopLink, f.linkDone = stop, done
}

func (f *fleet) command(script string) *exec.Cmd { return f.commandAs(f.user, script) }

// commandAs is a shell command run by user u on the fleet's machine.
func (f *fleet) commandAs(u testenv.User, script string) *exec.Cmd {
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.Env = []string{"PATH=" + f.bin + ":/usr/bin:/bin", "HOIST_SOCKET=" + f.socket, "HOME=/tmp"}
	cmd.Dir = "/tmp"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: u.UID, Gid: u.GID}}
	return cmd
}

func (f *fleet) sh(script string) (int, string, string) {
	f.t.Helper()
	return f.shAs(f.user, script)
}

func (f *fleet) shAs(u testenv.User, script string) (int, string, string) {
	f.t.Helper()
	cmd := f.commandAs(u, script)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		f.t.Fatal(err)
	}
	return code, out.String(), errOut.String()
}

// request runs "hoist request" as the user and returns the id it printed on
// its last line.
func (f *fleet) request(args string) string {
	f.t.Helper()
	code, out, errOut := f.sh("hoist request " + args)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	id := lines[len(lines)-1]
	if code != 0 || !hoist.ValidID(hoist.RequestIDPrefix, id) {
		f.t.Fatalf("hoist request: exit %d, %q %q", code, out, errOut)
	}
	return id
}

// auditActions counts the records of the fleet's server by action.
func (f *fleet) auditActions() map[string]int { return countActions(f.srv) }

// view is the fleet's one agent as administrators see it.
func (f *fleet) view() wire.AgentView {
	f.t.Helper()
	views, err := f.srv.Service().AgentViews(ctx, adminActor)
	if err != nil || len(views) != 1 {
		f.t.Fatalf("agent views: %v, %v", views, err)
	}
	return views[0]
}

// createPolicy creates p on the server as the admin.
func (f *fleet) createPolicy(p hoist.Policy) hoist.Policy {
	f.t.Helper()
	got, err := f.srv.Service().CreatePolicy(ctx, adminActor, p)
	if err != nil {
		f.t.Fatal(err)
	}
	return got
}

// settled waits until the agent holds the server's latest bundle. The
// server's view alone is not enough: it shows the revision the agent last
// reported, which right after a server restart predates what the agent now
// holds (after it refused its stored bundle, say), so the agent itself is
// asked too.
func (f *fleet) settled() {
	f.t.Helper()
	testenv.WaitUntil(f.t, "the agent to hold its latest bundle", func() bool {
		v := f.view()
		if !v.Current {
			return false
		}
		if f.agent == nil {
			return true
		}
		held, _ := f.agent.PolicyState()
		return held == v.Revision
	})
}

// approve approves request id for d as the admin.
func (f *fleet) approve(id string, d time.Duration) {
	f.t.Helper()
	res, err := f.srv.Service().Approve(ctx, adminActor, []string{id}, d, "")
	if err != nil || len(res) != 1 || !res[0].OK {
		f.t.Fatalf("approve: %+v, %v", res, err)
	}
}
