package jit_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/hoist-jit/hoist/jit"
	"github.com/hoist-jit/hoist/localapi"
	"github.com/hoist-jit/hoist/testenv"
)

// privateBus starts a D-Bus session bus of the test's own (its own socket,
// ended by its pid) and points DBUS_SESSION_BUS_ADDRESS at it.
func privateBus(t *testing.T) string {
	t.Helper()
	daemon, err := exec.LookPath("dbus-daemon")
	testenv.Require(t, err == nil, "needs dbus-daemon (dbus-daemon package)")
	dir := t.TempDir()
	config := fmt.Sprintf(`<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=%s</listen>
  <auth>EXTERNAL</auth>
  <policy context="default"><allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/><allow own="*"/></policy>
</busconfig>
`, filepath.Join(dir, "bus"))
	cfg := filepath.Join(dir, "bus.conf")
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(daemon, "--config-file="+cfg, "--nofork", "--nopidfile", "--print-address")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("dbus-daemon: %v", err)
	}
	addr = strings.TrimSpace(addr)
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", addr)
	return addr
}

// connect is another client of the bus, closed at the end of the test.
func connect(t *testing.T, addr string) *dbus.Conn {
	t.Helper()
	conn, err := dbus.Connect(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func own(t *testing.T, conn *dbus.Conn, name string) {
	t.Helper()
	if reply, err := conn.RequestName(name, dbus.NameFlagDoNotQueue); err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("own %s: %v %v", name, reply, err)
	}
}

// watcher is a tray host's StatusNotifierWatcher: it records who
// registered an item.
type watcher struct {
	mu    sync.Mutex
	items []string
}

func (w *watcher) RegisterStatusNotifierItem(service string, sender dbus.Sender) *dbus.Error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.items = append(w.items, service)
	return nil
}

func (w *watcher) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.items)
}

// startWatcher starts a tray host on its own connection.
func startWatcher(t *testing.T, addr string) (*watcher, *dbus.Conn) {
	t.Helper()
	conn := connect(t, addr)
	w := &watcher{}
	if err := conn.Export(w, "/StatusNotifierWatcher", "org.kde.StatusNotifierWatcher"); err != nil {
		t.Fatal(err)
	}
	own(t, conn, "org.kde.StatusNotifierWatcher")
	return w, conn
}

// TestTrayAppearsWhenTheTrayHostStartsLate: the helper's item reaches a
// tray host that starts after it, and one that restarts.
func TestTrayAppearsWhenTheTrayHostStartsLate(t *testing.T) {
	addr := privateBus(t)
	d := jit.OpenDesktop(nil, nil)
	defer d.Close()
	d.ShowTray(10 * time.Minute) // no tray host yet

	w, conn := startWatcher(t, addr)
	testenv.WaitUntil(t, "the item registered with the late tray host", func() bool { return w.count() == 1 })
	item := w.items[0]
	// The item the host was told of answers as a tray item does.
	var title dbus.Variant
	if err := conn.Object(item, "/StatusNotifierItem").Call("org.freedesktop.DBus.Properties.Get", 0, "org.kde.StatusNotifierItem", "Title").Store(&title); err != nil || title.Value() != "Hoist JIT elevated access" {
		t.Fatalf("the registered item's title: %v, %v", title, err)
	}

	// The tray host restarts: the item comes back.
	conn.Close()
	w2, _ := startWatcher(t, addr)
	testenv.WaitUntil(t, "the item registered with the restarted tray host", func() bool { return w2.count() == 1 })

}

// notifications is a notification server with action buttons: it records
// what it shows and closes, and lets the test press a button.
type notifications struct {
	conn   *dbus.Conn
	mu     sync.Mutex
	next   uint32
	shown  []shown
	closed []uint32
}

type shown struct {
	id       uint32
	replaces uint32
	summary  string
	actions  []string
	urgency  byte
}

func (n *notifications) Notify(app string, replaces uint32, icon, summary, body string, actions []string, hints map[string]dbus.Variant, timeout int32) (uint32, *dbus.Error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	id := replaces
	if id == 0 {
		n.next++
		id = n.next
	}
	urgency, _ := hints["urgency"].Value().(byte)
	n.shown = append(n.shown, shown{id: id, replaces: replaces, summary: summary, actions: actions, urgency: urgency})
	return id, nil
}

func (n *notifications) CloseNotification(id uint32) *dbus.Error {
	n.mu.Lock()
	n.closed = append(n.closed, id)
	n.mu.Unlock()
	_ = n.conn.Emit("/org/freedesktop/Notifications", "org.freedesktop.Notifications.NotificationClosed", id, uint32(3))
	return nil
}

func (n *notifications) GetCapabilities() ([]string, *dbus.Error) {
	return []string{"body", "actions"}, nil
}

func (n *notifications) GetServerInformation() (string, string, string, string, *dbus.Error) {
	return "test", "hoist", "1", "1.2", nil
}

// press is the user choosing the button key of notification id.
func (n *notifications) press(t *testing.T, id uint32, key string) {
	t.Helper()
	if err := n.conn.Emit("/org/freedesktop/Notifications", "org.freedesktop.Notifications.ActionInvoked", id, key); err != nil {
		t.Fatal(err)
	}
}

func (n *notifications) last() shown {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.shown) == 0 {
		return shown{}
	}
	return n.shown[len(n.shown)-1]
}

func (n *notifications) wasClosed(id uint32) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, c := range n.closed {
		if c == id {
			return true
		}
	}
	return false
}

func startNotifications(t *testing.T, addr string) *notifications {
	t.Helper()
	conn := connect(t, addr)
	n := &notifications{conn: conn}
	if err := conn.Export(n, "/org/freedesktop/Notifications", "org.freedesktop.Notifications"); err != nil {
		t.Fatal(err)
	}
	own(t, conn, "org.freedesktop.Notifications")
	return n
}

// menuLabels reads the tray menu's items, as a tray host does.
func menuLabels(t *testing.T, conn *dbus.Conn, item string) map[string]int32 {
	t.Helper()
	var (
		rev    uint32
		layout struct {
			ID       int32
			Props    map[string]dbus.Variant
			Children []dbus.Variant
		}
	)
	if err := conn.Object(item, "/MenuBar").Call("com.canonical.dbusmenu.GetLayout", 0, int32(0), int32(-1), []string{}).Store(&rev, &layout); err != nil {
		t.Fatal(err)
	}
	labels := map[string]int32{}
	for _, c := range layout.Children {
		fields, _ := c.Value().([]any)
		if len(fields) != 3 {
			continue
		}
		id, _ := fields[0].(int32)
		props, _ := fields[1].(map[string]dbus.Variant)
		label, _ := props["label"].Value().(string)
		labels[label] = id
	}
	return labels
}

func click(t *testing.T, conn *dbus.Conn, item string, id int32) {
	t.Helper()
	if err := conn.Object(item, "/MenuBar").Call("com.canonical.dbusmenu.Event", 0, id, "clicked", dbus.MakeVariant(""), uint32(0)).Err; err != nil {
		t.Fatal(err)
	}
}

// TestTrayExitAsksFirst: the tray's Exit JIT Access ends JIT mode only
// once the user says so — Keep, or closing the question, ends nothing —
// whether the answer comes from the notification's buttons or from the
// menu.
func TestTrayExitAsksFirst(t *testing.T) {
	addr := privateBus(t)
	notes := startNotifications(t, addr)
	w, conn := startWatcher(t, addr)
	var exits atomic.Int32
	d := jit.OpenDesktop(func() { exits.Add(1) }, nil)
	defer d.Close()
	d.ShowTray(20 * time.Minute)
	testenv.WaitUntil(t, "the tray item", func() bool { return w.count() == 1 })
	item := w.items[0]
	exit := menuLabels(t, conn, item)["Exit JIT Access"]
	if exit == 0 {
		t.Fatalf("no Exit JIT Access in the menu: %v", menuLabels(t, conn, item))
	}
	asked := 0 // questions seen
	question := func() shown {
		t.Helper()
		var q shown
		testenv.WaitUntil(t, "the question", func() bool {
			notes.mu.Lock()
			defer notes.mu.Unlock()
			n := 0
			for _, s := range notes.shown {
				if s.summary == "End JIT elevated access now?" {
					n, q = n+1, s
				}
			}
			return n > asked
		})
		asked++
		return q
	}

	// Exit, then Keep: nothing ends, the question goes.
	click(t, conn, item, exit)
	q := question()
	if strings.Join(q.actions, ",") != "exit,End now,keep,Keep it" || q.urgency != 2 {
		t.Fatalf("the question: %+v", q)
	}
	notes.press(t, q.id, "keep")
	testenv.WaitUntil(t, "the question closed", func() bool { return notes.wasClosed(q.id) })
	if _, open := menuLabels(t, conn, item)["End now: elevated programs will be closed"]; open {
		t.Error("the menu still asks after Keep")
	}

	// Exit, then End now on the notification: JIT mode ends, once.
	click(t, conn, item, exit)
	q2 := question()
	if q2.id == q.id && !notes.wasClosed(q.id) {
		t.Fatalf("a second question while the first is open")
	}
	notes.press(t, q2.id, "exit")
	testenv.WaitUntil(t, "Exit to end JIT mode", func() bool { return exits.Load() >= 1 })
	if n := exits.Load(); n != 1 {
		t.Fatalf("%d exits after Keep and one End now, want 1", n)
	}

	// Exit, then the menu's own End now (for notification servers without
	// buttons).
	click(t, conn, item, exit)
	question()
	var confirm int32
	testenv.WaitUntil(t, "the menu's End now", func() bool {
		confirm = menuLabels(t, conn, item)["End now: elevated programs will be closed"]
		return confirm != 0
	})
	click(t, conn, item, confirm)
	testenv.WaitUntil(t, "the menu's End now to end JIT mode", func() bool { return exits.Load() == 2 })
}

// TestUrgentNotificationsAreReplacedAndClosed: each notification replaces
// the last, and Withdraw closes one shown until dismissed — the warning
// of the end once the session was extended, say.
func TestUrgentNotificationsAreReplacedAndClosed(t *testing.T) {
	addr := privateBus(t)
	notes := startNotifications(t, addr)
	d := jit.OpenDesktop(nil, nil)
	defer d.Close()
	d.Notify(jit.Reminder(5*time.Minute, false))
	first := notes.last()
	d.Notify(jit.Reminder(time.Minute, true))
	last := notes.last()
	if last.replaces != first.id || last.urgency != 2 {
		t.Fatalf("the last reminder %+v does not replace %+v", last, first)
	}
	d.Withdraw()
	testenv.WaitUntil(t, "the urgent reminder closed", func() bool { return notes.wasClosed(last.id) })
	d.Notify(jit.Started(time.Now().Add(time.Hour), time.Hour))
	if n := notes.last(); n.replaces != 0 {
		t.Fatalf("a notification after the close replaces the closed one: %+v", n)
	}
	d.Withdraw() // not urgent: it stays
	if notes.wasClosed(notes.last().id) {
		t.Fatal("Withdraw closed a notification that is not urgent")
	}
}

// TestLauncherHelperYieldsToTheQuietOne: where the autostart helper runs,
// the launcher's helper leaves the desktop to it, so a session is not
// announced twice or shown twice in the tray.
func TestLauncherHelperYieldsToTheQuietOne(t *testing.T) {
	addr := privateBus(t)
	notes := startNotifications(t, addr)
	quiet := jit.OpenDesktop(nil, nil)
	defer quiet.Close()
	if !quiet.Claim() {
		t.Fatal("the quiet helper could not claim the session")
	}
	launched := jit.OpenDesktop(nil, nil)
	defer launched.Close()
	if launched.Claim() {
		t.Fatal("a second helper claimed the session")
	}
	launched.Yield()
	launched.Notify(jit.Started(time.Now().Add(time.Hour), time.Hour))
	quiet.Notify(jit.Reminder(time.Minute, true))
	notes.mu.Lock()
	all := append([]shown(nil), notes.shown...)
	notes.mu.Unlock()
	if len(all) != 1 || all[0].summary != "JIT elevated access ends in 1 minute" {
		t.Fatalf("shown: %+v", all)
	}
	quiet.Close() // the quiet helper ends: the launched one speaks again
	testenv.WaitUntil(t, "the launched helper to speak", func() bool {
		launched.Notify(jit.Started(time.Now().Add(time.Hour), time.Hour))
		return notes.last().summary == "JIT elevated access has started"
	})
}

// idle is hoistd with nothing for the user: the quiet helper only waits.
type idle struct{}

func (idle) Status() (localapi.Status, error)    { return localapi.Status{State: "none"}, nil }
func (idle) Request(time.Duration, string) error { return nil }
func (idle) Exit() error                         { return nil }
func (idle) Extend(time.Duration, string) (localapi.Status, error) {
	return localapi.Status{}, nil
}

// TestSecondQuietHelperLeaves: two autostarts in one desktop session (a
// second login script, say) do not both speak: the second one leaves.
func TestSecondQuietHelperLeaves(t *testing.T) {
	privateBus(t)
	first := jit.OpenDesktop(nil, nil)
	defer first.Close()
	if !first.Claim() {
		t.Fatal("the first helper could not claim the session")
	}
	second := jit.OpenDesktop(nil, nil)
	defer second.Close()
	var out strings.Builder
	h := &jit.Helper{Daemon: idle{}, Desktop: second, In: strings.NewReader(""), Out: &out, Quiet: true}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if code := h.Run(ctx); code != jit.ExitEnded || ctx.Err() != nil {
		t.Fatalf("the second quiet helper: exit %d, %v", code, ctx.Err())
	}
	if !strings.Contains(out.String(), "Another JIT helper already follows this desktop session.") {
		t.Fatalf("it said %q", out.String())
	}
}
