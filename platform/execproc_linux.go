package platform

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

const (
	procEventExec = 0x00000002
	maxKnownExecs = 1 << 16
)

// NewExecWatcher returns the best exec source the kernel allows: the BPF
// program, else the process-events connector (lossy; see ProcExecWatcher).
func NewExecWatcher() (ExecWatcher, error) {
	w, err := NewBPFExecWatcher()
	if err == nil {
		return w, nil
	}
	p, perr := NewProcExecWatcher()
	if perr != nil {
		return nil, errors.Join(err, perr)
	}
	return p, nil
}

// execEventsBacklog is the fallback's queue: the connector's socket has no
// room to wait in once read, so decoded events wait here.
const execEventsBacklog = 8192

// ProcExecWatcher is the fallback ExecWatcher: the kernel's
// process-events connector tells it a pid exec'd, and it then reads that
// process's cgroup and argv from /proc. It is lossy by nature: a program
// that exits (or execs again) before its /proc entry is read is reported
// with NoArgv, or missed, and a burst that overflows the socket loses
// events (counted by Lost). Use it only where BPF is refused.
type ProcExecWatcher struct {
	fd     int
	events chan ExecEvent
	done   chan struct{}
	lost   atomic.Uint64

	mu     sync.Mutex
	dirs   map[string]string // group id -> cgroup path relative to the mount
	mount  string
	known  map[int]string // pid -> group id, for the exits
	closed bool
}

var _ ExecWatcher = (*ProcExecWatcher)(nil)

// NewProcExecWatcher subscribes to the process-events connector (root,
// CONFIG_PROC_EVENTS).
func NewProcExecWatcher() (*ProcExecWatcher, error) {
	mount, err := FindCgroup2()
	if err != nil {
		return nil, fmt.Errorf("exec watcher: %w", err)
	}
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_CONNECTOR)
	if err != nil {
		return nil, fmt.Errorf("exec watcher: %w", err)
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20)
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: 200_000})
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: cnIdxProc}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("exec watcher: bind: %w", err)
	}
	if err := sendMcast(fd, procCnMcastListen); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("exec watcher: subscribe: %w", err)
	}
	w := &ProcExecWatcher{fd: fd, events: make(chan ExecEvent, execEventsBacklog), done: make(chan struct{}),
		dirs: map[string]string{}, mount: mount, known: map[int]string{}}
	go w.read()
	return w, nil
}

// Source is "proc".
func (w *ProcExecWatcher) Source() string { return ExecSourceProc }

// Events is where the events arrive.
func (w *ProcExecWatcher) Events() <-chan ExecEvent { return w.events }

// Lost counts the events dropped by a socket overflow or a full channel.
func (w *ProcExecWatcher) Lost() uint64 { return w.lost.Load() }

// Watch reports the execs of processes whose cgroup is g's or below it.
func (w *ProcExecWatcher) Watch(id string, g Group) error {
	cg, ok := g.(*cgroupGroup)
	if !ok {
		return fmt.Errorf("exec watcher: group %s is no cgroup (the fork-event tracker): the exec record needs cgroup v2", id)
	}
	rel, err := filepath.Rel(w.mount, cg.dir)
	if err != nil || strings.HasPrefix(rel, "..") {
		return fmt.Errorf("exec watcher: %s is not below %s", cg.dir, w.mount)
	}
	w.mu.Lock()
	w.dirs[id] = "/" + rel
	w.mu.Unlock()
	return nil
}

// Unwatch stops reporting group id.
func (w *ProcExecWatcher) Unwatch(id string) {
	w.mu.Lock()
	delete(w.dirs, id)
	for pid, g := range w.known {
		if g == id {
			delete(w.known, pid)
		}
	}
	w.mu.Unlock()
}

// Close stops listening and closes Events.
func (w *ProcExecWatcher) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	w.mu.Unlock()
	_ = sendMcast(w.fd, procCnMcastIgnore)
	<-w.done
	return unix.Close(w.fd)
}

func (w *ProcExecWatcher) read() {
	defer close(w.done)
	defer close(w.events)
	buf := make([]byte, 64<<10)
	for {
		n, from, err := unix.Recvfrom(w.fd, buf, 0)
		w.mu.Lock()
		closed := w.closed
		w.mu.Unlock()
		if closed {
			return
		}
		switch {
		case err == nil:
		case errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.ENOBUFS):
			w.lost.Add(1) // at least one; the kernel does not say how many
			continue
		default:
			return
		}
		if sa, ok := from.(*unix.SockaddrNetlink); !ok || sa.Pid != 0 {
			continue
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			continue
		}
		for _, m := range msgs {
			if ev, ok := w.handle(m.Data); ok {
				select {
				case w.events <- ev:
				default:
					w.lost.Add(1)
				}
			}
		}
	}
}

// handle turns one connector message into an event of a watched group.
func (w *ProcExecWatcher) handle(data []byte) (ExecEvent, bool) {
	ne := binary.NativeEndian
	if len(data) < cnMsgLen+procEventHeader+8 || ne.Uint32(data[0:]) != cnIdxProc || ne.Uint32(data[4:]) != cnValProc {
		return ExecEvent{}, false
	}
	ev := data[cnMsgLen:]
	pid, tgid := int(ne.Uint32(ev[procEventHeader:])), int(ne.Uint32(ev[procEventHeader+4:]))
	if pid != tgid {
		return ExecEvent{}, false
	}
	switch ne.Uint32(ev[0:]) {
	case procEventExec:
		return w.execOf(tgid)
	case procEventExit:
		if len(ev) < procEventHeader+12 {
			return ExecEvent{}, false
		}
		w.mu.Lock()
		g, ok := w.known[tgid]
		delete(w.known, tgid)
		w.mu.Unlock()
		return ExecEvent{Group: g, Exit: true, At: time.Now(), Pid: tgid, ExitStatus: int(ne.Uint32(ev[procEventHeader+8:]))}, ok
	}
	return ExecEvent{}, false
}

// execOf reads what /proc still says about pid, which just exec'd.
func (w *ProcExecWatcher) execOf(pid int) (ExecEvent, bool) {
	dir := "/proc/" + strconv.Itoa(pid)
	cg, err := readBounded(dir+"/cgroup", 4096)
	if err != nil {
		return ExecEvent{}, false // gone before it could be placed: lost
	}
	g, ok := w.groupOf(cg)
	if !ok {
		return ExecEvent{}, false
	}
	ev := ExecEvent{Group: g, At: time.Now(), Pid: pid}
	if st, ok := readStatus(dir); ok {
		ev.Ppid, ev.UID = st.ppid, st.uid
	}
	ev.Path, _ = os.Readlink(dir + "/exe")
	if area, err := readBounded(dir+"/cmdline", MaxExecArgBytes); err == nil && len(area) > 0 {
		ev.Argv, ev.Truncated = splitArgs(bytes.TrimSuffix(area, []byte{0}))
	} else {
		ev.NoArgv = true
	}
	w.mu.Lock()
	if len(w.known) < maxKnownExecs { // bounded: lost exits must not grow it without end
		w.known[pid] = g
	}
	w.mu.Unlock()
	return ev, true
}

// groupOf finds the watched group whose cgroup holds a process with the
// /proc/PID/cgroup text cg.
func (w *ProcExecWatcher) groupOf(cg []byte) (string, bool) {
	path, ok := ownCgroup(string(cg))
	if !ok {
		return "", false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for id, dir := range w.dirs {
		if path == dir || strings.HasPrefix(path, dir+"/") {
			return id, true
		}
	}
	return "", false
}

type procStatus struct{ ppid, uid int }

// readStatus reads PPid and the real Uid from /proc/PID/status.
func readStatus(dir string) (procStatus, bool) {
	data, err := readBounded(dir+"/status", 8192)
	if err != nil {
		return procStatus{}, false
	}
	var st procStatus
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ":")
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		switch k {
		case "PPid":
			st.ppid, _ = strconv.Atoi(f[0])
		case "Uid":
			st.uid, _ = strconv.Atoi(f[0])
		}
	}
	return st, true
}

// readBounded reads at most limit bytes of a /proc file.
func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, limit))
}
