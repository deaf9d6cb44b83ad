package e2e_test

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/agent"
	"github.com/hoist-jit/hoist/localapi"
	"github.com/hoist-jit/hoist/pgtest"
	"github.com/hoist-jit/hoist/platform"
	"github.com/hoist-jit/hoist/testenv"
	"github.com/hoist-jit/hoist/wire"
)

// The fault suite's rig: the real binaries (hoist-server, hoistd, hoist) as
// processes of their own, a PostgreSQL the test owns and may restart, and
// an administrator talking HTTP to the server's API. Everything here is
// started by the test, stopped by pid and removed in its cleanup.

// faultsLong reports whether the long form runs (make faults sets
// HOIST_FAULTS=long): more rounds, more users, longer soaks.
func faultsLong() bool { return os.Getenv("HOIST_FAULTS") == "long" }

// scale picks the CI count or the long one.
func scale(ci, long int) int {
	if faultsLong() {
		return long
	}
	return ci
}

// figure logs a measured figure in one greppable form; docs/reliability.md
// quotes them. Figures are reported, never asserted.
func figure(t testing.TB, name string, format string, args ...any) {
	t.Helper()
	t.Logf("FIGURE %s: %s", name, fmt.Sprintf(format, args...))
}

const faultAdminPassword = "correct horse battery staple"

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// proc is one process the test started, with its output in a log file.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

// startProc starts cmd with its output going to a log in dir; the cleanup
// stops it by pid (SIGTERM, then SIGKILL) if it is still running.
func startProc(t testing.TB, name, dir string, cmd *exec.Cmd) *proc {
	t.Helper()
	p := &proc{name: name, cmd: cmd, log: filepath.Join(dir, name+".log"), done: make(chan struct{})}
	f, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait(); f.Close(); close(p.done) }()
	t.Cleanup(func() {
		p.stop(10 * time.Second)
		if t.Failed() {
			t.Logf("last lines of %s:\n%s", name, tail(p.log, 40))
		}
	})
	return p
}

// stop sends SIGTERM and waits up to limit, then SIGKILL.
func (p *proc) stop(limit time.Duration) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(limit):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// kill9 kills the process with SIGKILL and reaps it.
func (p *proc) kill9() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// tail is the last n lines of the file at path.
func tail(path string, n int) string {
	data, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// pgCluster is a PostgreSQL of the test's own, started with pg_ctl so that
// the test can restart it (pgtest's shared cluster must stay up for the
// other tests).
type pgCluster struct {
	t    testing.TB
	bin  string
	dir  string
	data string
	port int
	pw   string
	opts string // postgres's options, for every start
	cred *syscall.Credential
}

func newPGCluster(t testing.TB) *pgCluster {
	t.Helper()
	testenv.RequireRoot(t)
	bin, err := pgtest.BinDir()
	testenv.Require(t, err == nil, fmt.Sprintf("needs PostgreSQL's server binaries: %v", err))
	dir, err := os.MkdirTemp("", "hoist-faults-pg-")
	if err != nil {
		t.Fatal(err)
	}
	u, err := user.Lookup("nobody")
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		t.Fatal(err)
	}
	c := &pgCluster{t: t, bin: bin, dir: dir, data: filepath.Join(dir, "data"), pw: "faults-" + strconv.Itoa(os.Getpid()),
		cred: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	t.Cleanup(func() {
		_ = c.pgctl("stop", "-m", "immediate", "-w", "-t", "30")
		os.RemoveAll(dir)
	})
	pwfile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwfile, []byte(c.pw+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = os.Chown(pwfile, uid, gid)
	if out, err := c.as(filepath.Join(bin, "initdb"), "-D", c.data, "-U", "hoist", "--pwfile", pwfile,
		"--auth=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v: %s", err, out)
	}
	_, port, _ := net.SplitHostPort(freeAddr(t))
	c.port, _ = strconv.Atoi(port)
	// Durable settings: an immediate stop is a crash, and recovery from it
	// is part of what is tested.
	c.opts = fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c max_connections=100", c.port, dir)
	if err := c.pgctl("start", "-w", "-t", "60", "-l", filepath.Join(dir, "postgres.log"), "-o", c.opts); err != nil {
		t.Fatalf("pg_ctl start: %v\n%s", err, tail(filepath.Join(dir, "postgres.log"), 20))
	}
	return c
}

func (c *pgCluster) as(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Dir = c.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	return cmd
}

func (c *pgCluster) pgctl(args ...string) error {
	out, err := c.as(filepath.Join(c.bin, "pg_ctl"), append([]string{"-D", c.data}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

// restart is pg_ctl restart -m mode; it returns once PostgreSQL accepts
// connections again.
func (c *pgCluster) restart(mode string) {
	c.t.Helper()
	if err := c.pgctl("restart", "-m", mode, "-w", "-t", "60", "-l", filepath.Join(c.dir, "postgres.log")); err != nil {
		c.t.Fatal(err)
	}
}

// stopFor stops PostgreSQL (-m mode), keeps it down for d, and starts it
// again: pg_ctl restart alone is over in well under a second.
func (c *pgCluster) stopFor(mode string, d time.Duration) {
	c.t.Helper()
	if err := c.pgctl("stop", "-m", mode, "-w", "-t", "60"); err != nil {
		c.t.Fatal(err)
	}
	time.Sleep(d) // the outage itself: the fault, not a wait for an event
	if err := c.pgctl("start", "-w", "-t", "60", "-l", filepath.Join(c.dir, "postgres.log"), "-o", c.opts); err != nil {
		c.t.Fatal(err)
	}
}

// url is the database URL of a new database on the cluster.
func (c *pgCluster) url(db string) string {
	c.t.Helper()
	url := fmt.Sprintf("postgres://hoist:%s@127.0.0.1:%d/%%s?sslmode=disable", c.pw, c.port)
	conn, err := sql.Open("pgx", fmt.Sprintf(url, "postgres"))
	if err != nil {
		c.t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Exec("CREATE DATABASE " + db); err != nil {
		c.t.Fatalf("create database: %v", err)
	}
	return fmt.Sprintf(url, db)
}

// serverProc is a hoist-server process.
type serverProc struct {
	*proc
	t      testing.TB
	bin    string
	dir    string // data directory (CA, keys; SQLite when no database)
	addr   string
	dbURL  string
	extra  []string
	logDir string
	n      int
}

// startServerProc starts hoist-server serve on dir (and dbURL when not
// empty) at addr, and waits for /healthz.
func startServerProc(t testing.TB, dir, addr, dbURL string, extra ...string) *serverProc {
	t.Helper()
	s := &serverProc{t: t, bin: testenv.Binaries(t), dir: dir, addr: addr, dbURL: dbURL, extra: extra, logDir: t.TempDir()}
	s.start()
	return s
}

// start starts (or starts again) the process.
func (s *serverProc) start() {
	s.t.Helper()
	args := []string{"serve", "--data", s.dir, "--listen", s.addr}
	if s.dbURL != "" {
		args = append(args, "--database", s.dbURL)
	}
	args = append(args, s.extra...)
	cmd := exec.Command(filepath.Join(s.bin, "hoist-server"), args...)
	cmd.Env = append(os.Environ(), "HOIST_ADMIN_PASSWORD="+faultAdminPassword)
	s.n++
	s.proc = startProc(s.t, fmt.Sprintf("hoist-server-%s-%d", strings.ReplaceAll(s.addr, ":", "_"), s.n), s.logDir, cmd)
	testenv.WaitUntil(s.t, "hoist-server to answer /healthz", func() bool {
		if s.exited() {
			s.t.Fatalf("hoist-server exited:\n%s", tail(s.log, 30))
		}
		c := s.client()
		resp, err := c.Get(s.url() + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
}

func (s *serverProc) url() string { return "https://" + s.addr }

// client trusts the server's CA (DIR/ca.pem).
func (s *serverProc) client() *http.Client {
	pool := x509.NewCertPool()
	pemData, _ := os.ReadFile(filepath.Join(s.dir, "ca.pem"))
	pool.AppendCertsFromPEM(pemData)
	return &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

// admin is an administrator signed in to one server over HTTP.
type admin struct {
	t     testing.TB
	s     *serverProc
	c     *http.Client
	token string
}

func (s *serverProc) admin() *admin {
	s.t.Helper()
	a := &admin{t: s.t, s: s, c: s.client()}
	var ans wire.LoginAnswer
	a.must("POST", "/api/v1/login", wire.LoginBody{User: "admin", Password: faultAdminPassword}, &ans)
	a.token = ans.Token
	return a
}

// reply is one answer of the API: the status, Retry-After, the body.
type reply struct {
	status     int
	retryAfter string
	body       []byte
	err        error // the request could not be made at all
}

// do sends one request and returns whatever came back.
func (a *admin) do(method, path string, in any) reply {
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, a.s.url()+path, body)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	resp, err := a.c.Do(req)
	if err != nil {
		return reply{err: err}
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	return reply{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), body: data}
}

// must is do that fails the test unless the answer is 2xx, and decodes it
// into out.
func (a *admin) must(method, path string, in, out any) {
	a.t.Helper()
	r := a.do(method, path, in)
	if r.err != nil || r.status/100 != 2 {
		a.t.Fatalf("%s %s: %d %v %s", method, path, r.status, r.err, r.body)
	}
	if out != nil {
		if err := json.Unmarshal(r.body, out); err != nil {
			a.t.Fatalf("%s %s: %v: %s", method, path, err, r.body)
		}
	}
}

// enableJIT activates the three shipped JIT policies.
func (a *admin) enableJIT() {
	a.t.Helper()
	for _, name := range []string{"JIT Mode (Startup and Approval)", "JIT Mode", "JIT Mode (Child Processes)"} {
		a.must("POST", "/api/v1/policies/"+escapePath(name)+"/activate", nil, nil)
	}
}

func escapePath(s string) string { return strings.ReplaceAll(s, " ", "%20") }

func (a *admin) enrollToken() string {
	a.t.Helper()
	var ans wire.EnrollTokenAnswer
	a.must("POST", "/api/v1/enroll-tokens", wire.EnrollTokenBody{}, &ans)
	return ans.Token
}

// audit is the whole audit log, through the export endpoint.
func (a *admin) audit() []hoist.AuditRecord {
	a.t.Helper()
	r := a.do("GET", "/api/v1/audit/export", nil)
	if r.err != nil || r.status != 200 {
		a.t.Fatalf("audit export: %d %v %s", r.status, r.err, r.body)
	}
	var out []hoist.AuditRecord
	sc := bufio.NewScanner(bytes.NewReader(r.body))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var rec hoist.AuditRecord
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			a.t.Fatalf("audit export line %q: %v", sc.Text(), err)
		}
		out = append(out, rec)
	}
	return out
}

// verifyAudit fails the test unless the server says the chain verifies.
func (a *admin) verifyAudit() {
	a.t.Helper()
	var rep struct {
		OK      bool   `json:"ok"`
		Records int64  `json:"records"`
		Problem string `json:"problem"`
	}
	r := a.do("GET", "/api/v1/audit/verify", nil)
	if r.err != nil || r.status != 200 || json.Unmarshal(r.body, &rep) != nil || !rep.OK {
		a.t.Fatalf("audit verify: %d %v %s", r.status, r.err, r.body)
	}
}

// hoistdProc is a hoistd process enrolled with a server, with its own
// state directory, socket and cgroup root.
type hoistdProc struct {
	*proc
	t      testing.TB
	bin    string
	state  string
	socket string
	cgs    platform.Cgroups
	logDir string
	desk   string
	n      int
	// wrap, when set, is put before hoistd's argv (ip netns exec …,
	// faketime …).
	wrap []string
	// sudo, when set, is the instance name of hoistd's sudo integration
	// (its sudoers drop-ins, PAM lines and hook copy); else it is off.
	sudo string
}

// newHoistd enrols a hoistd with s (state in stateDir, or a new temporary
// directory when empty) and starts it.
func newHoistd(t testing.TB, s *serverProc, token, stateDir string, wrap ...string) *hoistdProc {
	t.Helper()
	d := enrolHoistd(t, s, token, stateDir, wrap...)
	d.start()
	return d
}

// newHoistdSudo is newHoistd with hoistd's sudo integration on, under an
// instance name of its own (no polkit rule: polkitd is not the test's):
// sudo elevates the users of its sessions as it would on a real machine.
// What the integration put in /etc (its sudoers drop-ins, the PAM lines of
// the instance, its hook copy) is removed once hoistd has stopped.
func newHoistdSudo(t testing.TB, s *serverProc, token string) *hoistdProc {
	t.Helper()
	_, err := exec.LookPath("sudo")
	testenv.Require(t, err == nil, "needs sudo (scripts/test installs it)")
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	instance := "f" + hex.EncodeToString(b)
	var d *hoistdProc
	t.Cleanup(func() { // registered first: runs after hoistd has stopped
		if d == nil {
			return
		}
		c := agent.SudoConfig{Instance: instance, Hook: filepath.Join(d.bin, "hoistd"), Socket: d.socket}
		if err := agent.UninstallSudo(c); err != nil {
			t.Errorf("removing the sudo integration of instance %s: %v", instance, err)
		}
	})
	d = enrolHoistd(t, s, token, "")
	d.sudo = instance
	d.start()
	return d
}

// enrolHoistd enrols a hoistd as newHoistd does, without starting it.
func enrolHoistd(t testing.TB, s *serverProc, token, stateDir string, wrap ...string) *hoistdProc {
	t.Helper()
	mount, err := platform.FindCgroup2()
	testenv.Require(t, err == nil, "needs cgroup v2")
	if stateDir == "" {
		stateDir = t.TempDir()
	}
	pub := testenv.PublicDir(t)
	d := &hoistdProc{t: t, bin: testenv.Binaries(t), state: stateDir, socket: filepath.Join(pub, "hoistd.sock"),
		cgs: platform.Cgroups{Root: filepath.Join(mount, "hoist-faults-"+filepath.Base(pub))}, logDir: t.TempDir(), desk: t.TempDir(), wrap: wrap}
	t.Cleanup(d.endCgroups)
	enroll := exec.Command(filepath.Join(d.bin, "hoistd"), "enroll", "--server", s.url(), "--token", token, "--state", d.state)
	if len(wrap) > 0 {
		enroll = exec.Command(wrap[0], append(wrap[1:], enroll.Args...)...)
	}
	if out, err := enroll.CombinedOutput(); err != nil {
		t.Fatalf("hoistd enroll: %v: %s", err, out)
	}
	return d
}

// start starts (or starts again) hoistd run on the same state.
func (d *hoistdProc) start() {
	d.t.Helper()
	argv := append(append([]string{}, d.wrap...), filepath.Join(d.bin, "hoistd"), "run", "--state", d.state, "--socket", d.socket,
		"--cgroup-root", d.cgs.Root, "--tracker", platform.TrackCgroup, "--grace", "300ms", "--autostart-dir=",
		"--applications-dir", d.desk)
	if d.sudo != "" {
		argv = append(argv, "--sudo", "--sudo-instance", d.sudo, "--polkit-rules=")
	} else {
		argv = append(argv, "--sudo=false")
	}
	d.n++
	d.proc = startProc(d.t, fmt.Sprintf("hoistd-%d", d.n), d.logDir, exec.Command(argv[0], argv[1:]...))
	testenv.WaitUntil(d.t, "hoistd to listen", func() bool {
		if d.exited() {
			d.t.Fatalf("hoistd exited:\n%s", tail(d.log, 30))
		}
		c, err := net.Dial("unix", d.socket)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

// endCgroups ends what is left in the hoistd's cgroups and removes its
// root: only the tree this test made.
func (d *hoistdProc) endCgroups() {
	if d.proc != nil {
		d.stop(10 * time.Second)
	}
	entries, _ := os.ReadDir(d.cgs.Root)
	for _, e := range entries {
		if g, err := d.cgs.OpenGroup(e.Name()); err == nil {
			_, _ = g.End(ctx, 0)
		}
	}
	_ = os.Remove(d.cgs.Root)
}

// sh runs script as u against this hoistd: exit code, stdout, stderr.
func (d *hoistdProc) sh(u testenv.User, script string) (int, string, string) {
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.Env = []string{"PATH=" + d.bin + ":/usr/bin:/bin", "HOIST_SOCKET=" + d.socket, "HOME=/tmp"}
	cmd.Dir = "/tmp"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: u.UID, Gid: u.GID}}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		code = -1
		errOut.WriteString(err.Error())
	}
	return code, out.String(), errOut.String()
}

// status is hoist status --json for u.
func (d *hoistdProc) status(u testenv.User) localapi.Status {
	var st localapi.Status
	_, out, _ := d.sh(u, "hoist status --json")
	_ = json.Unmarshal([]byte(out), &st)
	return st
}

// request runs hoist request as u until hoistd takes it (the server may
// be down a while) and returns the request id.
func (d *hoistdProc) request(u testenv.User, args string) string {
	d.t.Helper()
	var last string
	for deadline := time.Now().Add(3 * time.Minute); time.Now().Before(deadline); {
		code, out, errOut := d.sh(u, "hoist request "+args)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if id := lines[len(lines)-1]; code == 0 && hoist.ValidID(hoist.RequestIDPrefix, id) {
			return id
		}
		pause := 200 * time.Millisecond
		if strings.Contains(errOut, "too many requests") {
			pause = 5 * time.Second // hoistd's 20 asks a minute per user: the long soak meets it
		}
		time.Sleep(pause)
		if last == "" {
			d.t.Logf("hoist request (asking again): exit %d, %q %q", code, out, errOut)
		}
		last = fmt.Sprintf("exit %d, %q %q", code, out, errOut)
	}
	d.t.Fatalf("hoist request never taken: %s", last)
	return ""
}

// byAction counts records by action, and by action and subject.
func byAction(recs []hoist.AuditRecord) (map[string]int, map[string]int) {
	n, ns := map[string]int{}, map[string]int{}
	for _, r := range recs {
		n[r.Action]++
		ns[r.Action+" "+r.Subject]++
	}
	return n, ns
}

// userAttr runs a command as u.
func userAttr(u testenv.User) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: u.UID, Gid: u.GID}}
}
