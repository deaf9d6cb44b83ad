package link_test

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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
)

func TestMain(m *testing.M) {
	code := pgtest.Main(m)
	testenv.Cleanup()
	os.Exit(code)
}

var ctx = context.Background()

var adminActor = control.Actor{Name: "admin", Role: hoist.RoleAdmin}

func startServer(t testing.TB) *server.Main {
	t.Helper()
	m, err := server.Start(ctx, server.Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0",
		AdminPassword: "correct horse battery staple", Settings: hoist.DefaultApprovalSettings()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func token(t testing.TB, m *server.Main, uses int) string {
	t.Helper()
	tok, _, err := m.Service().CreateEnrollToken(ctx, adminActor, "", time.Hour, uses)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestEnrolmentRefusals(t *testing.T) {
	a, b := startServer(t), startServer(t)
	facts := link.Facts(hoist.Version)
	tok := token(t, a, 1)
	if _, err := link.Enroll(ctx, "", tok, t.TempDir(), facts); err != nil {
		t.Fatalf("first use: %v", err)
	}
	cases := []struct {
		name, server, token, want string
	}{
		{"used up", "", tok, "unknown, used up or expired"},
		{"unknown", "", token(t, b, 1)[:20] + "x", "not a Hoist enrolment token"},
		// b's token pins b's CA: a server with another CA is refused before
		// the secret is sent.
		{"another server's CA", a.URL(), token(t, b, 1), "does not match the fingerprint"},
		{"not https", "http://127.0.0.1:1", token(t, a, 1), "https://"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := link.Enroll(ctx, tc.server, tc.token, t.TempDir(), facts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("enrol: %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
	agents, _ := a.Service().Agents(ctx, adminActor)
	if len(agents) != 1 {
		t.Fatalf("%d agents enrolled, want 1", len(agents))
	}
}

// fleet is a real server, and an enrolled in-process hoistd with a real
// socket, real cgroups and a real non-root user.
type fleet struct {
	t        *testing.T
	srv      *server.Main
	agent    *agent.Agent
	link     *link.Link
	state    string
	stopLink context.CancelFunc
	linkDone chan struct{}
	socket   string
	cgs      platform.Cgroups
	user     testenv.User
	bin      string
	desktop  string
}

func newFleet(t *testing.T) *fleet {
	return newFleetOn(t, startServer(t))
}

// newFleetOn is newFleet on srv; opts change the agent's configuration.
func newFleetOn(t *testing.T, srv *server.Main, opts ...func(*agent.Config)) *fleet {
	t.Helper()
	testenv.RequireRoot(t)
	mount, err := platform.FindCgroup2()
	testenv.Require(t, err == nil, "needs cgroup v2")
	f := &fleet{t: t, srv: srv, user: testenv.NewUser(t), bin: testenv.Binaries(t)}
	state := t.TempDir()
	if _, err := link.Enroll(ctx, "", token(t, f.srv, 1), state, link.Facts(hoist.Version)); err != nil {
		t.Fatal(err)
	}
	pub := testenv.PublicDir(t)
	f.socket = filepath.Join(pub, "hoistd.sock")
	f.cgs = platform.Cgroups{Root: filepath.Join(mount, "hoist-test-"+filepath.Base(pub))}
	f.desktop = t.TempDir()
	cfg := agent.Config{StateDir: state, Tracker: f.cgs, Grace: 300 * time.Millisecond, DesktopDir: f.desktop}
	for _, o := range opts {
		o(&cfg)
	}
	a, err := agent.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.agent, f.state = a, state
	f.startLink()
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: f.socket, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	_ = os.Chmod(f.socket, 0o666)
	done := make(chan struct{})
	go func() { _ = a.Serve(l); close(done) }()
	t.Cleanup(func() {
		f.stopLink()
		<-f.linkDone
		l.Close()
		<-done
		a.Close()
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

func (f *fleet) auditActions() map[string]int {
	out := map[string]int{}
	_ = f.srv.Service().Audit(ctx, adminActor, hoist.AuditFilter{}, func(r hoist.AuditRecord) error {
		out[r.Action]++
		return nil
	})
	return out
}

// TestTheWholePath: request on the machine, approve on the server, root on
// the machine for the window, and nothing left after it.
func TestTheWholePath(t *testing.T) {
	f := newFleet(t)
	id := f.request("--for 5s --reason 'install the printer driver'")
	pending, err := f.srv.Service().Requests(ctx, adminActor, hoist.RequestFilter{State: hoist.RequestPending})
	if err != nil || len(pending) != 1 || pending[0].ID != id || pending[0].User != f.user.Name || pending[0].RequestedDuration != 5*time.Second {
		t.Fatalf("pending on the server = %+v, %v", pending, err)
	}
	if _, out, _ := f.sh("hoist status --json"); !strings.Contains(out, `"state": "pending"`) {
		t.Fatalf("status while pending: %s", out)
	}
	results, err := f.srv.Service().Approve(ctx, control.Actor{Name: "carol", Role: hoist.RoleApprover}, []string{id}, 5*time.Second, "")
	if err != nil || !results[0].OK {
		t.Fatalf("approve: %+v %v", results, err)
	}
	approvedAt := time.Now()
	testenv.WaitUntil(t, "the agent to hear of the approval", func() bool { return f.agent.Status(f.user.Name).State == "active" })
	t.Logf("approval reached the agent in %s", time.Since(approvedAt))

	// The escapes start at once, alongside id -u: the window is 5 seconds
	// on a machine that may be busy.
	sid := f.agent.Status(f.user.Name).SessionID
	escape := f.command(`hoist run -- sh -c 'setsid sh -c "sleep 1000 &"; (sleep 1000 &); nohup sleep 1000 >/dev/null 2>&1 &'; exec hoist run -- sleep 1000`)
	if err := escape.Start(); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := f.sh("hoist run -- id -u")
	if code != 0 || out != "0\n" {
		t.Fatalf("hoist run -- id -u: exit %d, %q %q", code, out, errOut)
	}
	g, err := f.cgs.OpenGroup(sid)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	var pids []int
	testenv.WaitUntil(t, "4 elevated sleeps", func() bool {
		now, _ := g.Pids()
		for _, pid := range now {
			if comm, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm"); string(comm) == "sleep\n" && !seen[pid] {
				seen[pid] = true
				pids = append(pids, pid)
			}
		}
		return len(pids) >= 4
	})
	_ = escape.Wait() // returns when the window closes and the sleep is ended
	testenv.WaitUntil(t, "the session to end", func() bool { return f.agent.Status(f.user.Name).State == "ended" })
	testenv.WaitUntil(t, "the cgroup to go", func() bool { _, err := os.Stat(filepath.Join(f.cgs.Root, sid)); return os.IsNotExist(err) })
	for _, pid := range pids {
		if testenv.Alive(pid) {
			t.Errorf("process %d survived the window", pid)
		}
	}
	// The machine's audit events reach the server's log.
	testenv.WaitUntil(t, "the agent's audit events on the server", func() bool {
		a := f.auditActions()
		return a["agent.command.started"] >= 3 && a["agent.command.ended"] >= 3 && a["agent.session.ended"] == 1
	})
	var argvs []string
	_ = f.srv.Service().Audit(ctx, adminActor, hoist.AuditFilter{Action: "agent.command.started"}, func(r hoist.AuditRecord) error {
		argvs = append(argvs, string(r.Detail))
		return nil
	})
	if !strings.Contains(strings.Join(argvs, "\n"), `"argv":["id","-u"]`) {
		t.Fatalf("the server's audit lacks the elevated id -u:\n%s", strings.Join(argvs, "\n"))
	}
	rep, err := f.srv.Service().VerifyAudit(ctx, adminActor)
	if err != nil || !rep.OK {
		t.Fatalf("audit chain: %+v %v", rep, err)
	}
}

func TestRevokeReachesTheMachine(t *testing.T) {
	f := newFleet(t)
	id := f.request("--for 1h")
	if res, _ := f.srv.Service().Approve(ctx, adminActor, []string{id}, time.Hour, ""); !res[0].OK {
		t.Fatalf("approve: %+v", res)
	}
	testenv.WaitUntil(t, "the session", func() bool { return f.agent.Status(f.user.Name).State == "active" })
	blocking := f.command("exec hoist run -- sleep 1000")
	if err := blocking.Start(); err != nil {
		t.Fatal(err)
	}
	sid := f.agent.Status(f.user.Name).SessionID
	g, _ := f.cgs.OpenGroup(sid)
	testenv.WaitUntil(t, "the elevated sleep", func() bool { pids, _ := g.Pids(); return len(pids) == 1 })
	if res, _ := f.srv.Service().Revoke(ctx, adminActor, []string{id}, "incident over"); !res[0].OK {
		t.Fatalf("revoke: %+v", res)
	}
	err := blocking.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 143 {
		t.Fatalf("the elevated program ended with %v, want 143", err)
	}
	st := f.agent.Status(f.user.Name)
	if st.State != "ended" || st.EndReason != "revoked" {
		t.Fatalf("status after revoke: %+v", st)
	}
	if code, _, _ := f.sh("hoist run -- id -u"); code != 126 {
		t.Fatalf("run after revoke: exit %d, want 126", code)
	}
}

func TestDeniedRequestEndsTheWait(t *testing.T) {
	f := newFleet(t)
	waiter := f.command("hoist request --for 10m --reason games --wait")
	var out, errOut bytes.Buffer
	waiter.Stdout, waiter.Stderr = &out, &errOut
	if err := waiter.Start(); err != nil {
		t.Fatal(err)
	}
	var pending []hoist.Request
	testenv.WaitUntil(t, "the request on the server", func() bool {
		pending, _ = f.srv.Service().Requests(ctx, adminActor, hoist.RequestFilter{State: hoist.RequestPending})
		return len(pending) == 1
	})
	if res, _ := f.srv.Service().Deny(ctx, adminActor, []string{pending[0].ID}, "not for games"); !res[0].OK {
		t.Fatalf("deny: %+v", res)
	}
	err := waiter.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() == 0 || !strings.Contains(errOut.String(), "denied") {
		t.Fatalf("hoist request --wait after a denial: %v, stderr %q", err, errOut.String())
	}
	if !strings.HasSuffix(strings.TrimSpace(out.String()), pending[0].ID) {
		t.Fatalf("the request id is not on the last line: %q", out.String())
	}
	if _, st, _ := f.sh("hoist status"); !strings.Contains(st, "was denied") {
		t.Fatalf("status after a denial does not say so: %q", st)
	}
}

// TestReplicasOnPostgreSQL runs two servers on one database: the agent
// long-polls one, the approval is made on the other, and it still arrives
// at once (PostgreSQL NOTIFY), with the shared CA and grant key.
func TestReplicasOnPostgreSQL(t *testing.T) {
	url := pgtest.URL(t)
	dir := t.TempDir() // the replicas share the CA and the grant key
	start := func() *server.Main {
		m, err := server.Start(ctx, server.Config{DataDir: dir, DatabaseURL: url, Listen: "127.0.0.1:0",
			AdminPassword: "correct horse battery staple", Settings: hoist.DefaultApprovalSettings()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		return m
	}
	a, b := start(), start()
	f := newFleetOn(t, a) // enrolled with a, polling a
	id := f.request("--for 1h")
	approved := time.Now()
	if res, err := b.Service().Approve(ctx, adminActor, []string{id}, time.Hour, ""); err != nil || !res[0].OK {
		t.Fatalf("approve on the other replica: %+v %v", res, err)
	}
	testenv.WaitUntil(t, "the approval made on replica b to reach the agent on replica a", func() bool {
		return f.agent.Status(f.user.Name).State == "active"
	})
	took := time.Since(approved)
	t.Logf("approval on b reached the agent polling a in %s", took)
	if took > link.PollWait/2 {
		t.Fatalf("the approval took %s: it waited for a poll to time out instead of being pushed", took)
	}
	if code, out, _ := f.sh("hoist run -- id -u"); code != 0 || out != "0\n" {
		t.Fatalf("hoist run after a cross-replica approval: %d %q", code, out)
	}
}

// TestServerOutageMidSession stops the server in the middle of a session:
// the agent goes on by its own clock — programs run, the window ends on
// time — and when the server is back, everything the agent recorded
// arrives, once.
func TestServerOutageMidSession(t *testing.T) {
	dir := t.TempDir()
	first := startServerAt(t, dir, "127.0.0.1:0")
	addr := strings.TrimPrefix(first.URL(), "https://")
	f := newFleetOn(t, first)
	id := f.request("--for 4s")
	if res, _ := first.Service().Approve(ctx, adminActor, []string{id}, 4*time.Second, ""); !res[0].OK {
		t.Fatalf("approve: %+v", res)
	}
	testenv.WaitUntil(t, "the session", func() bool { return f.agent.Status(f.user.Name).State == "active" })
	// Let what happened so far arrive, so that the counts below are the
	// outage's own.
	testenv.WaitUntil(t, "the session start on the server", func() bool { return countActions(first)["agent.session.started"] == 1 })
	before := countActions(first)
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	// The server is gone: elevation still works until the window's end…
	if code, out, errOut := f.sh("hoist run -- id -u; hoist run -- true"); code != 0 || out != "0\n" {
		t.Fatalf("hoist run during the outage: %d %q %q", code, out, errOut)
	}
	// …and the window still ends on time, by the agent's clock.
	testenv.WaitUntil(t, "the session to end by the agent's clock", func() bool { return f.agent.Status(f.user.Name).State == "ended" })
	if st := f.agent.Status(f.user.Name); st.EndReason != "expired" {
		t.Fatalf("end reason %q, want expired", st.EndReason)
	}

	second := startServerAt(t, dir, addr) // same data, same address
	want := map[string]int{"agent.command.started": 2, "agent.command.ended": 2, "agent.session.ended": 1}
	got := map[string]int{}
	testenv.WaitUntil(t, "the queued events on the restarted server", func() bool {
		got = countActions(second)
		for k, n := range want {
			if got[k]-before[k] < n {
				return false
			}
		}
		return true
	})
	// Deliver again and again: nothing is recorded twice.
	for range 3 {
		if err := f.link.Deliver(ctx); err != nil {
			t.Fatal(err)
		}
	}
	after := countActions(second)
	for k, n := range want {
		if after[k]-before[k] != n {
			t.Errorf("%s: %d records for this outage, want exactly %d", k, after[k]-before[k], n)
		}
	}
	rep, err := second.Service().VerifyAudit(ctx, adminActor)
	if err != nil || !rep.OK {
		t.Fatalf("audit chain after the outage: %+v %v", rep, err)
	}
}

// TestRevokeWhileOffline revokes a session while its agent is cut off: the
// revoke takes effect the moment the agent is back.
func TestRevokeWhileOffline(t *testing.T) {
	f := newFleet(t)
	id := f.request("--for 1h")
	if res, _ := f.srv.Service().Approve(ctx, adminActor, []string{id}, time.Hour, ""); !res[0].OK {
		t.Fatalf("approve: %+v", res)
	}
	testenv.WaitUntil(t, "the session", func() bool { return f.agent.Status(f.user.Name).State == "active" })
	f.stopLink()
	<-f.linkDone
	if res, _ := f.srv.Service().Revoke(ctx, adminActor, []string{id}, "while offline"); !res[0].OK {
		t.Fatalf("revoke: %+v", res)
	}
	if st := f.agent.Status(f.user.Name); st.State != "active" {
		t.Fatalf("an offline agent cannot know yet, but its session is %s", st.State)
	}
	f.startLink()
	testenv.WaitUntil(t, "the revoke to reach the returning agent", func() bool {
		st := f.agent.Status(f.user.Name)
		return st.State == "ended" && st.EndReason == "revoked"
	})
	if code, _, _ := f.sh("hoist run -- id -u"); code != 126 {
		t.Fatalf("run after the revoke: exit %d, want 126", code)
	}
}

func startServerAt(t *testing.T, dir, listen string) *server.Main {
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

// TestUserWithdrawsARequest: hoist request --cancel withdraws the waiting
// request; the server shows it cancelled and refuses to approve it, a
// waiting `hoist request --wait` ends, and the user may ask again.
func TestUserWithdrawsARequest(t *testing.T) {
	f := newFleet(t)
	if code, _, errOut := f.sh("hoist request --cancel"); code == 0 || !strings.Contains(errOut, "no request waiting") {
		t.Fatalf("cancel with nothing waiting: exit %d, %q", code, errOut)
	}
	waiter := f.command("hoist request --for 10m --reason 'changed my mind' --wait")
	var out bytes.Buffer
	waiter.Stdout, waiter.Stderr = &out, &out
	if err := waiter.Start(); err != nil {
		t.Fatal(err)
	}
	var id string
	testenv.WaitUntil(t, "the request", func() bool {
		id = f.agent.Status(f.user.Name).RequestID
		return id != ""
	})
	code, stdout, errOut := f.sh("hoist request --cancel")
	if code != 0 || !strings.Contains(stdout, id) {
		t.Fatalf("hoist request --cancel: exit %d, %q %q", code, stdout, errOut)
	}
	if r, _ := f.srv.Service().Request(ctx, adminActor, id); r.State != hoist.RequestCancelled {
		t.Fatalf("on the server: %+v", r)
	}
	if res, _ := f.srv.Service().Approve(ctx, adminActor, []string{id}, time.Hour, ""); res[0].OK {
		t.Fatal("a withdrawn request was approved")
	}
	if err := waiter.Wait(); err == nil || !strings.Contains(out.String(), "cancelled") {
		t.Fatalf("the waiting hoist request: %v, %q", err, out.String())
	}
	if _, status, _ := f.sh("hoist status"); !strings.Contains(status, "was cancelled") {
		t.Errorf("hoist status after withdrawing:\n%s", status)
	}
	if again := f.request("--for 10m"); again == id {
		t.Fatal("asking again returned the withdrawn request")
	}
	if f.auditActions()[hoist.AuditRequestCancelled] != 1 {
		t.Errorf("audit: %v", f.auditActions())
	}
}
