package e2e_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/agent"
	"github.com/hoist-jit/hoist/testenv"
)

// sessionBus is a private D-Bus session bus started by the test, with a
// notification server and a StatusNotifierWatcher on it that record what
// they are told.
type sessionBus struct {
	t    *testing.T
	addr string
	conn *dbus.Conn

	mu       sync.Mutex
	notes    []note
	items    []string // senders that registered a tray item
	changed  chan struct{}
	nextNote uint32
}

type note struct {
	at      time.Time
	summary string
	body    string
	urgency byte
}

func startSessionBus(t *testing.T) *sessionBus {
	t.Helper()
	daemonPath, err := exec.LookPath("dbus-daemon")
	testenv.Require(t, err == nil, "needs dbus-daemon (dbus-daemon package)")
	dir := testenv.PublicDir(t)
	sock := filepath.Join(dir, "bus")
	// Any local user may connect: the test (root) serves, the user's helper
	// connects.
	config := fmt.Sprintf(`<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=%s</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
`, sock)
	cfgPath := filepath.Join(dir, "bus.conf")
	if err := os.WriteFile(cfgPath, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(daemonPath, "--config-file="+cfgPath, "--nofork", "--nopidfile", "--print-address")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("dbus-daemon: %v", err)
	}
	b := &sessionBus{t: t, addr: strings.TrimSpace(addr), changed: make(chan struct{}, 100)}
	conn, err := dbus.Connect(b.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	b.conn = conn
	if err := conn.Export(notifications{b}, "/org/freedesktop/Notifications", "org.freedesktop.Notifications"); err != nil {
		t.Fatal(err)
	}
	if err := conn.Export(watcher{b}, "/StatusNotifierWatcher", "org.kde.StatusNotifierWatcher"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"org.freedesktop.Notifications", "org.kde.StatusNotifierWatcher"} {
		if reply, err := conn.RequestName(name, dbus.NameFlagDoNotQueue); err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
			t.Fatalf("own %s: %v %v", name, reply, err)
		}
	}
	return b
}

// notifications is the test's notification server.
type notifications struct{ b *sessionBus }

func (n notifications) Notify(app string, replaces uint32, icon, summary, body string, actions []string, hints map[string]dbus.Variant, timeout int32) (uint32, *dbus.Error) {
	urgency, _ := hints["urgency"].Value().(byte)
	n.b.mu.Lock()
	n.b.notes = append(n.b.notes, note{at: time.Now(), summary: summary, body: body, urgency: urgency})
	n.b.nextNote++
	id := n.b.nextNote
	n.b.mu.Unlock()
	n.b.changed <- struct{}{}
	return id, nil
}

func (notifications) GetCapabilities() ([]string, *dbus.Error) { return []string{"body"}, nil }

func (notifications) CloseNotification(id uint32) *dbus.Error { return nil }

func (notifications) GetServerInformation() (string, string, string, string, *dbus.Error) {
	return "hoist-test", "hoist", "1", "1.2", nil
}

// watcher is the test's StatusNotifierWatcher.
type watcher struct{ b *sessionBus }

func (w watcher) RegisterStatusNotifierItem(service string, sender dbus.Sender) *dbus.Error {
	w.b.mu.Lock()
	w.b.items = append(w.b.items, string(sender))
	w.b.mu.Unlock()
	return nil
}

func (b *sessionBus) notesNow() []note {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]note(nil), b.notes...)
}

func (b *sessionBus) waitNote(contains string) note {
	b.t.Helper()
	var found note
	testenv.WaitUntil(b.t, "a notification with "+contains, func() bool {
		for _, n := range b.notesNow() {
			if strings.Contains(n.summary+" "+n.body, contains) {
				found = n
				return true
			}
		}
		return false
	})
	return found
}

// setReminders makes the JIT Mode (Child Processes) policy remind at these
// times before the end.
func (f *fleet) setReminders(ds ...time.Duration) {
	f.t.Helper()
	svc := f.srv.Service()
	p, err := svc.Policy(ctx, adminActor, "JIT Mode (Child Processes)")
	if err != nil {
		f.t.Fatal(err)
	}
	p.Children.Reminders = nil
	for _, d := range ds {
		p.Children.Reminders = append(p.Children.Reminders, hoist.Duration(d))
	}
	if _, err := svc.UpdatePolicy(ctx, adminActor, p.ID, p); err != nil {
		f.t.Fatal(err)
	}
	f.settled()
}

// TestQuietHelperNotifiesAndOffersExit: the autostart helper, started
// before any request, announces the session on the user's bus, reminds on
// the policy's schedule with the last reminder warning of lost work, and
// its tray item's Exit ends JIT mode with every elevated process.
func TestQuietHelperNotifiesAndOffersExit(t *testing.T) {
	// The machine's clock is the test's: the window's reminders and end come
	// when the test moves it, not after seconds of waiting that a loaded
	// machine may stretch.
	clk := testenv.NewClock(time.Now())
	f := newFleetOn(t, startServerAt(t, t.TempDir(), "127.0.0.1:0"), func(c *agent.Config) { c.Clock = clk })
	bus := startSessionBus(t)
	f.setReminders(6*time.Second, 3*time.Second)
	helper := f.command("exec hoist jit --quiet")
	helper.Env = append(helper.Env, "DBUS_SESSION_BUS_ADDRESS="+bus.addr)
	var helperOut bytes.Buffer
	helper.Stdout, helper.Stderr = &helperOut, &helperOut
	names := func() int {
		var ns []string
		_ = bus.conn.BusObject().Call("org.freedesktop.DBus.ListNames", 0).Store(&ns)
		return len(ns)
	}
	before := names()
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = helper.Process.Kill(); _ = helper.Wait() })
	// The helper is up once it is on the bus; a session that started before
	// it would (rightly) not be announced as new.
	testenv.WaitUntil(t, "the helper on the bus", func() bool { return names() > before })
	time.Sleep(500 * time.Millisecond)

	// First window: expiry, with the reminders.
	f.approve(f.request("--for 1h"), time.Hour)
	testenv.WaitUntil(t, "the session on the machine", func() bool { return f.agent.Status(f.user.Name).State == "active" })
	end := f.agent.Status(f.user.Name).ExpiresAt
	started := bus.waitNote("JIT elevated access has started")
	if strings.Contains(started.summary+started.body, "ends in") {
		t.Errorf("a reminder came with the start: %+v", started)
	}
	clk.Add(end.Sub(clk.Now()) - 5500*time.Millisecond) // 6 s left, as the helper rounds
	first := bus.waitNote("ends in 6 seconds")
	clk.Add(3 * time.Second) // 3 s left
	last := bus.waitNote("ends in 3 seconds")
	clk.Add(3 * time.Second) // over
	ended := bus.waitNote("has ended (expired)")
	for _, c := range []struct {
		name     string
		n, after note
	}{{"6s reminder", first, started}, {"3s reminder", last, first}, {"end", ended, last}} {
		if c.n.at.Before(c.after.at) {
			t.Errorf("the %s came before the notification it follows", c.name)
		}
	}
	if !strings.Contains(last.body, "unsaved work in them will be lost") || last.urgency != 2 {
		t.Errorf("the last reminder does not warn plainly: %+v", last)
	}
	if strings.Contains(first.body, "unsaved") {
		t.Errorf("an early reminder speaks of lost work: %+v", first)
	}

	// Second window: the tray's Exit ends it.
	bus.mu.Lock()
	registered := len(bus.items)
	bus.mu.Unlock()
	// Two hours: the machine's clock is an hour ahead of the server's now.
	f.approve(f.request("--for 2h"), 2*time.Hour)
	testenv.WaitUntil(t, "the session on the machine", func() bool { return f.agent.Status(f.user.Name).State == "active" })
	testenv.WaitUntil(t, "the tray item of the new session", func() bool {
		bus.mu.Lock()
		defer bus.mu.Unlock()
		return len(bus.items) > registered
	})
	blocking := f.command("exec hoist run -- sh -c 'sleep 1000 & sleep 1000'")
	if err := blocking.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = blocking.Process.Kill(); _ = blocking.Wait() })
	sid := f.agent.Status(f.user.Name).SessionID
	g, err := f.cgs.OpenGroup(sid)
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	testenv.WaitUntil(t, "the elevated sleeps", func() bool { pids, _ = g.Pids(); return len(pids) >= 3 })

	bus.mu.Lock()
	item := bus.items[len(bus.items)-1]
	bus.mu.Unlock()
	menu := bus.conn.Object(item, "/MenuBar")
	var (
		rev    uint32
		layout struct {
			ID       int32
			Props    map[string]dbus.Variant
			Children []dbus.Variant
		}
	)
	if err := menu.Call("com.canonical.dbusmenu.GetLayout", 0, int32(0), int32(-1), []string{}).Store(&rev, &layout); err != nil {
		t.Fatal(err)
	}
	exitID, labels := int32(-1), []string{}
	for _, c := range layout.Children {
		fields, _ := c.Value().([]any)
		if len(fields) != 3 {
			continue
		}
		id, _ := fields[0].(int32)
		props, _ := fields[1].(map[string]dbus.Variant)
		label, _ := props["label"].Value().(string)
		labels = append(labels, label)
		if label == "Exit JIT Access" {
			exitID = id
		}
	}
	if exitID < 0 || !strings.HasPrefix(labels[0], "Time left: ") {
		t.Fatalf("tray menu = %q; want the time left and Exit JIT Access", labels)
	}
	if err := menu.Call("com.canonical.dbusmenu.Event", 0, exitID, "clicked", dbus.MakeVariant(""), uint32(0)).Err; err != nil {
		t.Fatal(err)
	}
	// Exit asks first, as the terminal's q does: nothing ends until the
	// user says End now (here in the menu: this notification server has no
	// buttons).
	bus.waitNote("End JIT elevated access now?")
	if st := f.agent.Status(f.user.Name); st.State != "active" {
		t.Fatalf("Exit ended JIT mode before the user confirmed: %+v", st)
	}
	confirmID := int32(-1)
	testenv.WaitUntil(t, "End now in the tray menu", func() bool {
		if err := menu.Call("com.canonical.dbusmenu.GetLayout", 0, int32(0), int32(-1), []string{}).Store(&rev, &layout); err != nil {
			return false
		}
		for _, c := range layout.Children {
			fields, _ := c.Value().([]any)
			if len(fields) == 3 {
				props, _ := fields[1].(map[string]dbus.Variant)
				if label, _ := props["label"].Value().(string); strings.HasPrefix(label, "End now") {
					confirmID, _ = fields[0].(int32)
				}
			}
		}
		return confirmID >= 0
	})
	if err := menu.Call("com.canonical.dbusmenu.Event", 0, confirmID, "clicked", dbus.MakeVariant(""), uint32(0)).Err; err != nil {
		t.Fatal(err)
	}
	testenv.WaitUntil(t, "Exit to end every elevated process", func() bool {
		for _, pid := range pids {
			if testenv.Alive(pid) {
				return false
			}
		}
		return true
	})
	bus.waitNote("has ended (exited)")
	if st := f.agent.Status(f.user.Name); st.EndReason != string(hoist.EndExited) {
		t.Fatalf("end reason %q, want exited", st.EndReason)
	}
}

// terminal runs "hoist jit ARGS" as the user under script(1), so that it
// has a terminal, and lets the test type into it.
type terminal struct {
	t    *testing.T
	cmd  *exec.Cmd
	in   io.WriteCloser
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
	code int
}

func (f *fleet) jitInTerminal(args string) *terminal {
	f.t.Helper()
	_, err := exec.LookPath("script")
	testenv.Require(f.t, err == nil, "needs script(1) (bsdutils)")
	tm := &terminal{t: f.t, done: make(chan struct{})}
	tm.cmd = f.command(`exec script -qfec "$JIT_COMMAND" /dev/null`)
	tm.cmd.Env = append(tm.cmd.Env, "TERM=xterm", "JIT_COMMAND=hoist jit "+args)
	tm.in, err = tm.cmd.StdinPipe()
	if err != nil {
		f.t.Fatal(err)
	}
	pr, pw := io.Pipe()
	tm.cmd.Stdout, tm.cmd.Stderr = pw, pw
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := pr.Read(buf)
			tm.mu.Lock()
			tm.out.Write(buf[:n])
			tm.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	if err := tm.cmd.Start(); err != nil {
		f.t.Fatal(err)
	}
	go func() {
		err := tm.cmd.Wait()
		if ee, ok := err.(*exec.ExitError); ok {
			tm.code = ee.ExitCode()
		}
		pw.Close()
		close(tm.done)
	}()
	f.t.Cleanup(func() { _ = tm.cmd.Process.Kill(); <-tm.done })
	return tm
}

func (tm *terminal) output() string {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	return tm.out.String()
}

func (tm *terminal) waitFor(s string) {
	tm.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(tm.output(), s) {
		if time.Now().After(deadline) {
			tm.t.Fatalf("no %q on the terminal; it shows:\n%s", s, tm.output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (tm *terminal) exit() int {
	tm.t.Helper()
	select {
	case <-tm.done:
		return tm.code
	case <-time.After(20 * time.Second):
		tm.t.Fatalf("hoist jit did not end; terminal:\n%s", tm.output())
		return -1
	}
}

// TestHelperInTheTerminal: the countdown, and Ctrl-C asking before it ends
// JIT mode.
func TestHelperInTheTerminal(t *testing.T) {
	f := newFleet(t)
	tm := f.jitInTerminal("--for 10m --reason 'fix the printer'")
	tm.waitFor("waiting for an administrator to approve it")
	reqs, err := f.srv.Service().Requests(ctx, adminActor, hoist.RequestFilter{State: hoist.RequestPending})
	if err != nil || len(reqs) != 1 || reqs[0].Reason != "fix the printer" {
		t.Fatalf("pending requests: %+v, %v", reqs, err)
	}
	f.approve(reqs[0].ID, 10*time.Minute)
	tm.waitFor("JIT elevated access has started")
	tm.waitFor(" left  ·  q or Ctrl-C: end it now")
	tm.waitFor("JIT elevated access: 9:5") // counting down from 10 minutes
	// Ctrl-C, then "n": JIT mode goes on.
	_, _ = tm.in.Write([]byte{3})
	tm.waitFor("End JIT elevated access now? Elevated programs will be closed. [y/N]")
	_, _ = tm.in.Write([]byte("n"))
	tm.waitFor("JIT elevated access continues.")
	if st := f.agent.Status(f.user.Name); st.State != "active" {
		t.Fatalf("answering no ended JIT mode: %+v", st)
	}
	// Ctrl-C, then "y": it ends, and the helper says so and exits.
	_, _ = tm.in.Write([]byte{3})
	testenv.WaitUntil(t, "the second question", func() bool {
		return strings.Count(tm.output(), "End JIT elevated access now?") == 2
	})
	_, _ = tm.in.Write([]byte("y"))
	tm.waitFor("JIT elevated access has ended (exited)")
	if code := tm.exit(); code != 0 {
		t.Fatalf("exit %d after ending JIT mode; terminal:\n%s", code, tm.output())
	}
}

// TestHelperSaysDeniedAndRevoked: a denied request and a revoked session
// end the helper with the right message and a non-zero status.
func TestHelperSaysDeniedAndRevoked(t *testing.T) {
	f := newFleet(t)
	// No --reason: the helper asks for one, optional under this policy.
	tm := f.jitInTerminal("--for 10m")
	tm.waitFor("Why do you need it? (optional; shown to the approver): ")
	_, _ = tm.in.Write([]byte("disk full\r"))
	tm.waitFor("waiting for an administrator")
	reqs, _ := f.srv.Service().Requests(ctx, adminActor, hoist.RequestFilter{State: hoist.RequestPending})
	if len(reqs) != 1 || reqs[0].Reason != "disk full" {
		t.Fatalf("pending requests: %+v", reqs)
	}
	if _, err := f.srv.Service().Deny(ctx, adminActor, []string{reqs[0].ID}, "use the ticket queue"); err != nil {
		t.Fatal(err)
	}
	tm.waitFor("Your request for JIT elevated access was denied. Reason: use the ticket queue")
	if code := tm.exit(); code != 1 {
		t.Fatalf("exit %d after a denial, want 1", code)
	}

	tm = f.jitInTerminal("--for 10m --reason y")
	tm.waitFor("waiting for an administrator")
	reqs, _ = f.srv.Service().Requests(ctx, adminActor, hoist.RequestFilter{State: hoist.RequestPending})
	f.approve(reqs[0].ID, 10*time.Minute)
	tm.waitFor("JIT elevated access has started")
	if _, err := f.srv.Service().Revoke(ctx, adminActor, []string{f.agent.Status(f.user.Name).SessionID}, "done"); err != nil {
		t.Fatal(err)
	}
	tm.waitFor("JIT elevated access has ended (revoked). It ended because an administrator revoked it.")
	if code := tm.exit(); code != 1 {
		t.Fatalf("exit %d after a revoke, want 1", code)
	}
}

// TestHelperAsksTheDurationOnce: with no --for, the helper's question shows
// the default once, in brackets, and Enter takes it.
func TestHelperAsksTheDurationOnce(t *testing.T) {
	f := newFleet(t)
	tm := f.jitInTerminal("--reason 'a printer driver'")
	tm.waitFor("For how long do you need JIT elevated access? [30m]: ")
	if strings.Count(tm.output(), "30m") != 1 {
		t.Fatalf("the question names the default more than once:\n%s", tm.output())
	}
	_, _ = tm.in.Write([]byte("\r"))
	tm.waitFor("waiting for an administrator")
	reqs, _ := f.srv.Service().Requests(ctx, adminActor, hoist.RequestFilter{State: hoist.RequestPending})
	if len(reqs) != 1 || reqs[0].RequestedDuration != 30*time.Minute {
		t.Fatalf("pending requests: %+v, want one for the default 30m", reqs)
	}
	_, _ = tm.in.Write([]byte{3})
}
