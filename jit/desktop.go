package jit

import (
	"os"
	"sync"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/godbus/dbus/v5/prop"
)

// Desktop is the user's session bus: notifications through the
// freedesktop notification service, and a StatusNotifierItem in the tray.
// Every method is a no-op when there is no bus, no notification service or
// no tray host: the helper carries on in the terminal, quietly.
type Desktop struct {
	conn *dbus.Conn

	mu       sync.Mutex
	lastID   uint32 // replaced by the next notification, so they do not pile up
	urgent   bool   // lastID is shown until dismissed: closed once it is no longer true
	tray     *tray
	onExit   func()
	revision uint32
	// confirming: the tray's Exit was chosen and its question is open;
	// confirmID is the notification that asks it.
	confirming bool
	confirmID  uint32
	// dialog asks the tray's question in a window, when there is one.
	dialog *Dialog
	// yield: leave the desktop to the quiet helper when it runs, so one
	// session is not announced twice and shown twice in the tray.
	yield bool
	// extend carries the tray's "Ask for more time" to the helper's loop.
	extend chan struct{}
}

// Bus names the desktop meets.
const (
	notifyName  = "org.freedesktop.Notifications"
	notifyPath  = dbus.ObjectPath("/org/freedesktop/Notifications")
	watcherName = "org.kde.StatusNotifierWatcher"
	// HelperName is owned by the quiet helper of a desktop session: the
	// one that speaks on the desktop for every session of its user.
	HelperName = "com.github.hoist_jit.Helper"
)

// OpenDesktop connects to the session bus named by
// DBUS_SESSION_BUS_ADDRESS; without one it returns a Desktop that does
// nothing. onExit ends JIT mode, once the user said yes to the tray's Exit;
// dialog, when not nil, asks that question in a window.
func OpenDesktop(onExit func(), dialog *Dialog) *Desktop {
	d := &Desktop{onExit: onExit, dialog: dialog, extend: make(chan struct{}, 1)}
	if os.Getenv("DBUS_SESSION_BUS_ADDRESS") == "" {
		return d
	}
	conn, err := dbus.ConnectSessionBus()
	if err != nil {
		return d
	}
	d.conn = conn
	d.listen()
	return d
}

// listen follows what the desktop tells the helper: a tray host that
// starts (or restarts) after the helper, and the answers to notifications.
func (d *Desktop) listen() {
	_ = d.conn.AddMatchSignal(dbus.WithMatchSender("org.freedesktop.DBus"), dbus.WithMatchInterface("org.freedesktop.DBus"),
		dbus.WithMatchMember("NameOwnerChanged"), dbus.WithMatchArg(0, watcherName))
	_ = d.conn.AddMatchSignal(dbus.WithMatchInterface(notifyName), dbus.WithMatchMember("ActionInvoked"))
	_ = d.conn.AddMatchSignal(dbus.WithMatchInterface(notifyName), dbus.WithMatchMember("NotificationClosed"))
	ch := make(chan *dbus.Signal, 32)
	d.conn.Signal(ch)
	go func() {
		for s := range ch {
			d.signal(s)
		}
	}()
}

// signal handles one signal of the bus.
func (d *Desktop) signal(s *dbus.Signal) {
	switch s.Name {
	case "org.freedesktop.DBus.NameOwnerChanged":
		if len(s.Body) == 3 && s.Body[0] == watcherName && s.Body[2] != "" {
			d.mu.Lock()
			shown := d.tray != nil
			d.mu.Unlock()
			if shown {
				d.register() // a tray host came: the item appears in it now
			}
		}
	case notifyName + ".ActionInvoked":
		id, _ := s.Body[0].(uint32)
		key, _ := s.Body[1].(string)
		d.answer(id, key == actionExit)
	case notifyName + ".NotificationClosed":
		id, _ := s.Body[0].(uint32)
		d.answer(id, false) // dismissed: no
		d.mu.Lock()
		if id == d.lastID {
			d.lastID, d.urgent = 0, false
		}
		d.mu.Unlock()
	}
}

// Extends delivers the tray's "Ask for more time", once per choice (a
// second one while the first is not taken yet is the same question). A
// Desktop that is nil never delivers.
func (d *Desktop) Extends() <-chan struct{} {
	if d == nil {
		return nil
	}
	return d.extend
}

// asking is the dialog the tray's questions are asked in, if any.
func (d *Desktop) asking() *Dialog {
	if d == nil {
		return nil
	}
	return d.dialog
}

// OnBus reports whether the desktop is connected to a session bus.
func (d *Desktop) OnBus() bool { return d != nil && d.conn != nil }

// Claim makes this the desktop voice of its user's session (the quiet
// helper); it reports whether no other helper held it.
func (d *Desktop) Claim() bool {
	if d == nil || d.conn == nil {
		return false
	}
	reply, err := d.conn.RequestName(HelperName, dbus.NameFlagDoNotQueue)
	return err == nil && reply == dbus.RequestNameReplyPrimaryOwner
}

// Yield makes the desktop silent while another helper holds HelperName:
// the launcher's helper then speaks in its terminal only.
func (d *Desktop) Yield() {
	if d != nil {
		d.yield = true
	}
}

// yielding reports whether the quiet helper speaks for this one.
func (d *Desktop) yielding() bool {
	if !d.yield {
		return false
	}
	var owned bool
	err := d.conn.BusObject().Call("org.freedesktop.DBus.NameHasOwner", 0, HelperName).Store(&owned)
	return err == nil && owned
}

// Close leaves the bus; the tray item goes with the connection.
func (d *Desktop) Close() {
	if d != nil && d.conn != nil {
		_ = d.conn.Close()
	}
}

// Notify shows m as a desktop notification, in place of the last one.
func (d *Desktop) Notify(m Message) {
	if d == nil || d.conn == nil || d.yielding() {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	urgency := byte(1)
	timeout := int32(-1) // the server's default
	if m.Urgent {
		urgency, timeout = 2, 0 // critical, shown until dismissed
	}
	obj := d.conn.Object(notifyName, notifyPath)
	call := obj.Call(notifyName+".Notify", 0, "Hoist", d.lastID, "dialog-password", m.Summary, m.Body,
		[]string{}, map[string]dbus.Variant{"urgency": dbus.MakeVariant(urgency)}, timeout)
	var id uint32
	if call.Store(&id) == nil {
		d.lastID, d.urgent = id, m.Urgent
	}
}

// Withdraw closes the last notification when it is one shown until
// dismissed: the caller says that what it announced is over.
func (d *Desktop) Withdraw() {
	if d == nil || d.conn == nil {
		return
	}
	d.mu.Lock()
	id, urgent := d.lastID, d.urgent
	if urgent {
		d.lastID, d.urgent = 0, false
	}
	d.mu.Unlock()
	if urgent && id != 0 {
		d.closeNote(id)
	}
}

func (d *Desktop) closeNote(id uint32) {
	_ = d.conn.Object(notifyName, notifyPath).Call(notifyName+".CloseNotification", 0, id).Err
}

// The tray's question before Exit ends JIT mode.
const (
	exitQuestion = "End JIT elevated access now?"
	exitWarning  = "Elevated programs will be closed, and unsaved work in them will be lost."
	actionExit   = "exit"
	actionKeep   = "keep"
)

// askExit asks before the tray's Exit ends JIT mode, as the terminal's q
// does: in a window when there is a dialog program, else as a notification
// with End now and Keep buttons, and in the tray's menu itself, which
// every tray host can show.
func (d *Desktop) askExit() {
	if d.dialog != nil {
		go func() {
			if d.dialog.Confirm(exitQuestion+"\n\n"+exitWarning, "End now", "Keep it") && d.onExit != nil {
				d.onExit()
			}
		}()
		return
	}
	// The lock is held until the question's id is known: an answer may
	// arrive before the reply is read.
	d.mu.Lock()
	d.confirming = true
	d.revision++
	rev := d.revision
	call := d.conn.Object(notifyName, notifyPath).Call(notifyName+".Notify", 0, "Hoist", d.confirmID, "dialog-password", exitQuestion, exitWarning,
		[]string{actionExit, "End now", actionKeep, "Keep it"}, map[string]dbus.Variant{"urgency": dbus.MakeVariant(byte(2))}, int32(0))
	var id uint32
	if call.Store(&id) == nil {
		d.confirmID = id
	}
	d.mu.Unlock()
	_ = d.conn.Emit(menuPath, menuIf+".LayoutUpdated", rev, int32(0))
}

// answer takes the answer to the tray's question: yes ends JIT mode.
// Signals about other notifications change nothing.
func (d *Desktop) answer(id uint32, yes bool) {
	d.mu.Lock()
	if !d.confirming || id == 0 || id != d.confirmID {
		d.mu.Unlock()
		return
	}
	d.mu.Unlock()
	d.settle(yes)
}

// settle closes the tray's question, and ends JIT mode on a yes.
func (d *Desktop) settle(yes bool) {
	d.mu.Lock()
	if !d.confirming {
		d.mu.Unlock()
		return
	}
	d.confirming = false
	d.revision++
	rev, id := d.revision, d.confirmID
	d.confirmID = 0
	d.mu.Unlock()
	if id != 0 {
		d.closeNote(id)
	}
	_ = d.conn.Emit(menuPath, menuIf+".LayoutUpdated", rev, int32(0))
	if yes && d.onExit != nil {
		d.onExit()
	}
}

// Item and menu paths, as StatusNotifierItem hosts look for them.
const (
	itemPath    = dbus.ObjectPath("/StatusNotifierItem")
	menuPath    = dbus.ObjectPath("/MenuBar")
	itemIf      = "org.kde.StatusNotifierItem"
	menuIf      = "com.canonical.dbusmenu"
	menuExit    = int32(2)
	menuLeft    = int32(1)
	menuConfirm = int32(3) // "End now", while the question is open
	menuExtend  = int32(4)
)

// tray is the exported StatusNotifierItem and its menu.
type tray struct {
	d     *Desktop
	props *prop.Properties
	left  string
}

// ShowTray puts the item in the tray with the time left, or updates it.
func (d *Desktop) ShowTray(left time.Duration) {
	if d == nil || d.conn == nil {
		return
	}
	if d.yielding() {
		d.HideTray()
		return
	}
	d.mu.Lock()
	t := d.tray
	d.mu.Unlock()
	label := "Time left: " + Human(left.Truncate(time.Minute))
	if left < time.Minute {
		label = "Time left: less than a minute"
	}
	if t == nil {
		t = &tray{d: d, left: label}
		if err := t.export(); err != nil {
			return
		}
		d.mu.Lock()
		d.tray = t
		d.mu.Unlock()
		d.register()
		return
	}
	if label != t.left {
		d.mu.Lock()
		t.left = label
		d.revision++
		rev := d.revision
		d.mu.Unlock()
		t.props.SetMust(itemIf, "ToolTip", toolTip(label))
		_ = d.conn.Emit(menuPath, menuIf+".LayoutUpdated", rev, int32(0))
	}
}

// register tells the tray host of the item. No watcher means no tray host
// yet: listen registers again when one starts.
func (d *Desktop) register() {
	_ = d.conn.Object(watcherName, "/StatusNotifierWatcher").
		Call(watcherName+".RegisterStatusNotifierItem", 0, d.conn.Names()[0]).Err
}

// HideTray takes the item out of the tray.
func (d *Desktop) HideTray() {
	if d == nil {
		return
	}
	d.mu.Lock()
	t := d.tray
	d.tray = nil
	d.mu.Unlock()
	if t == nil || d.conn == nil {
		return
	}
	d.settle(false)
	t.props.SetMust(itemIf, "Status", "Passive")
	d.conn.Export(nil, itemPath, itemIf)
	d.conn.Export(nil, menuPath, menuIf)
}

type toolTipT struct {
	Icon   string
	Images []struct {
		W, H int32
		Data []byte
	}
	Title, Text string
}

func toolTip(text string) toolTipT {
	return toolTipT{Icon: "dialog-password", Title: "Hoist JIT elevated access", Text: text}
}

func (t *tray) export() error {
	conn := t.d.conn
	if err := conn.Export(itemMethods{t}, itemPath, itemIf); err != nil {
		return err
	}
	props, err := prop.Export(conn, itemPath, prop.Map{itemIf: {
		"Category":   {Value: "SystemServices", Emit: prop.EmitTrue},
		"Id":         {Value: "hoist-jit", Emit: prop.EmitTrue},
		"Title":      {Value: "Hoist JIT elevated access", Emit: prop.EmitTrue},
		"Status":     {Value: "Active", Emit: prop.EmitTrue},
		"IconName":   {Value: "dialog-password", Emit: prop.EmitTrue},
		"ToolTip":    {Value: toolTip(t.left), Emit: prop.EmitTrue},
		"ItemIsMenu": {Value: true, Emit: prop.EmitTrue},
		"Menu":       {Value: menuPath, Emit: prop.EmitTrue},
	}})
	if err != nil {
		return err
	}
	t.props = props
	if err := conn.Export(menuMethods{t}, menuPath, menuIf); err != nil {
		return err
	}
	_, err = prop.Export(conn, menuPath, prop.Map{menuIf: {
		"Version":       {Value: uint32(3), Emit: prop.EmitFalse},
		"TextDirection": {Value: "ltr", Emit: prop.EmitFalse},
		"Status":        {Value: "normal", Emit: prop.EmitFalse},
		"IconThemePath": {Value: []string{}, Emit: prop.EmitFalse},
	}})
	return err
}

// itemMethods are the StatusNotifierItem's methods: a click opens the menu.
type itemMethods struct{ t *tray }

func (itemMethods) Activate(x, y int32) *dbus.Error          { return nil }
func (itemMethods) SecondaryActivate(x, y int32) *dbus.Error { return nil }
func (itemMethods) ContextMenu(x, y int32) *dbus.Error       { return nil }
func (itemMethods) Scroll(delta int32, dir string) *dbus.Error {
	return nil
}

// menuItem is one node of a dbusmenu layout: (ia{sv}av).
type menuItem struct {
	ID       int32
	Props    map[string]dbus.Variant
	Children []dbus.Variant
}

// menuMethods serve com.canonical.dbusmenu: the time left, Ask for more
// time and Exit JIT Access.
type menuMethods struct{ t *tray }

func (m menuMethods) items() []menuItem {
	m.t.d.mu.Lock()
	left, confirming := m.t.left, m.t.d.confirming
	m.t.d.mu.Unlock()
	items := []menuItem{
		{ID: menuLeft, Props: map[string]dbus.Variant{"label": dbus.MakeVariant(left), "enabled": dbus.MakeVariant(false)}, Children: []dbus.Variant{}},
		{ID: menuExtend, Props: map[string]dbus.Variant{"label": dbus.MakeVariant("Ask for more time"), "icon-name": dbus.MakeVariant("list-add")}, Children: []dbus.Variant{}},
		{ID: menuExit, Props: map[string]dbus.Variant{"label": dbus.MakeVariant("Exit JIT Access"), "icon-name": dbus.MakeVariant("application-exit")}, Children: []dbus.Variant{}},
	}
	if confirming {
		items = append(items, menuItem{ID: menuConfirm, Props: map[string]dbus.Variant{"label": dbus.MakeVariant("End now: elevated programs will be closed")}, Children: []dbus.Variant{}})
	}
	return items
}

func (m menuMethods) GetLayout(parent, depth int32, names []string) (uint32, menuItem, *dbus.Error) {
	m.t.d.mu.Lock()
	rev := m.t.d.revision
	m.t.d.mu.Unlock()
	root := menuItem{ID: 0, Props: map[string]dbus.Variant{"children-display": dbus.MakeVariant("submenu")}}
	for _, it := range m.items() {
		if parent == it.ID {
			return rev, it, nil
		}
		root.Children = append(root.Children, dbus.MakeVariant(it))
	}
	return rev, root, nil
}

type idProps struct {
	ID    int32
	Props map[string]dbus.Variant
}

func (m menuMethods) GetGroupProperties(ids []int32, names []string) ([]idProps, *dbus.Error) {
	var out []idProps
	for _, it := range m.items() {
		for _, id := range ids {
			if id == it.ID {
				out = append(out, idProps{it.ID, it.Props})
			}
		}
	}
	return out, nil
}

func (m menuMethods) GetProperty(id int32, name string) (dbus.Variant, *dbus.Error) {
	for _, it := range m.items() {
		if it.ID == id {
			if v, ok := it.Props[name]; ok {
				return v, nil
			}
		}
	}
	return dbus.MakeVariant(""), dbus.MakeFailedError(os.ErrNotExist)
}

func (m menuMethods) Event(id int32, event string, data dbus.Variant, timestamp uint32) *dbus.Error {
	if event != "clicked" {
		return nil
	}
	switch id {
	case menuExit:
		go m.t.d.askExit()
	case menuConfirm:
		go m.t.d.settle(true)
	case menuExtend:
		select {
		case m.t.d.extend <- struct{}{}:
		default: // already asked, not yet taken
		}
	}
	return nil
}

type idEvent struct {
	ID        int32
	Event     string
	Data      dbus.Variant
	Timestamp uint32
}

func (m menuMethods) EventGroup(events []idEvent) ([]int32, *dbus.Error) {
	for _, e := range events {
		_ = m.Event(e.ID, e.Event, e.Data, e.Timestamp)
	}
	return []int32{}, nil
}

func (m menuMethods) AboutToShow(id int32) (bool, *dbus.Error) { return false, nil }

func (m menuMethods) AboutToShowGroup(ids []int32) ([]int32, []int32, *dbus.Error) {
	return []int32{}, []int32{}, nil
}
