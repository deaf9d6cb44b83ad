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
	tray     *tray
	onExit   func()
	revision uint32
}

// OpenDesktop connects to the session bus named by
// DBUS_SESSION_BUS_ADDRESS; without one it returns a Desktop that does
// nothing.
func OpenDesktop(onExit func()) *Desktop {
	d := &Desktop{onExit: onExit}
	if os.Getenv("DBUS_SESSION_BUS_ADDRESS") == "" {
		return d
	}
	conn, err := dbus.ConnectSessionBus()
	if err != nil {
		return d
	}
	d.conn = conn
	return d
}

// Close leaves the bus; the tray item goes with the connection.
func (d *Desktop) Close() {
	if d != nil && d.conn != nil {
		_ = d.conn.Close()
	}
}

// Notify shows m as a desktop notification.
func (d *Desktop) Notify(m Message) {
	if d == nil || d.conn == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	urgency := byte(1)
	timeout := int32(-1) // the server's default
	if m.Urgent {
		urgency, timeout = 2, 0 // critical, shown until dismissed
	}
	obj := d.conn.Object("org.freedesktop.Notifications", "/org/freedesktop/Notifications")
	call := obj.Call("org.freedesktop.Notifications.Notify", 0, "Hoist", d.lastID, "dialog-password", m.Summary, m.Body,
		[]string{}, map[string]dbus.Variant{"urgency": dbus.MakeVariant(urgency)}, timeout)
	var id uint32
	if call.Store(&id) == nil {
		d.lastID = id
	}
}

// Item and menu paths, as StatusNotifierItem hosts look for them.
const (
	itemPath = dbus.ObjectPath("/StatusNotifierItem")
	menuPath = dbus.ObjectPath("/MenuBar")
	itemIf   = "org.kde.StatusNotifierItem"
	menuIf   = "com.canonical.dbusmenu"
	menuExit = int32(2)
	menuLeft = int32(1)
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
		// No watcher means no tray host: carry on without it.
		_ = d.conn.Object("org.kde.StatusNotifierWatcher", "/StatusNotifierWatcher").
			Call("org.kde.StatusNotifierWatcher.RegisterStatusNotifierItem", 0, d.conn.Names()[0]).Err
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

// menuMethods serve com.canonical.dbusmenu: two items, the time left and
// Exit JIT Access.
type menuMethods struct{ t *tray }

func (m menuMethods) items() []menuItem {
	m.t.d.mu.Lock()
	left := m.t.left
	m.t.d.mu.Unlock()
	return []menuItem{
		{ID: menuLeft, Props: map[string]dbus.Variant{"label": dbus.MakeVariant(left), "enabled": dbus.MakeVariant(false)}, Children: []dbus.Variant{}},
		{ID: menuExit, Props: map[string]dbus.Variant{"label": dbus.MakeVariant("Exit JIT Access"), "icon-name": dbus.MakeVariant("application-exit")}, Children: []dbus.Variant{}},
	}
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
	if id == menuExit && event == "clicked" && m.t.d.onExit != nil {
		go m.t.d.onExit()
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
