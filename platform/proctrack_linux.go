package platform

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The process-events connector, from linux/connector.h and linux/cn_proc.h.
const (
	cnIdxProc         = 1
	cnValProc         = 1
	procCnMcastListen = 1
	procCnMcastIgnore = 2
	procEventFork     = 0x00000001
	procEventExit     = 0x80000000
	cnMsgLen          = 20 // struct cn_msg without its data
	procEventHeader   = 16 // what, cpu, timestamp_ns
)

// ProcTracker is the tracker for hosts without cgroup v2. It listens to
// the kernel's process-events connector, which reports every fork with its
// parent: a child of a session's process joins the session the moment it
// is born, before it can double-fork, setsid or nohup away, and the end
// kills the whole recorded tree until nothing of it is left.
//
// What it cannot do as well as a cgroup: its record lives in hoistd's
// memory. After a restart it finds a session's processes again by the
// HOIST_SESSION marker in their environment and by ancestry; a process that
// both dropped its environment and was orphaned while no hoistd was running
// is not found. A burst that overflows the socket is made good the same way,
// by a scan of /proc.
type ProcTracker struct {
	fd   int
	done chan struct{}

	mu      sync.Mutex
	groups  map[string]*procGroup
	members map[int]member // by pid (thread-group id)
	// broken is why the event stream stopped; no process starts after that.
	broken error
	closed bool
}

type member struct {
	group *procGroup
	start uint64 // start time in clock ticks since boot: tells a reused pid apart
}

// NewProcTracker subscribes to the process-events connector. It needs root
// (CAP_NET_ADMIN) and a kernel with CONFIG_PROC_EVENTS.
func NewProcTracker() (*ProcTracker, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_CONNECTOR)
	if err != nil {
		return nil, fmt.Errorf("process events: %w", err)
	}
	// Room for bursts; an overflow is survivable (a rescan) but slow.
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20)
	// The reader wakes now and then to see whether it should stop: close()
	// does not interrupt a blocked recvfrom.
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: 200_000})
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: cnIdxProc}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("process events: bind: %w", err)
	}
	if err := sendMcast(fd, procCnMcastListen); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("process events: subscribe: %w", err)
	}
	t := &ProcTracker{fd: fd, done: make(chan struct{}), groups: map[string]*procGroup{}, members: map[int]member{}}
	go t.read()
	return t, nil
}

// sendMcast sends PROC_CN_MCAST_LISTEN or _IGNORE to the connector.
func sendMcast(fd int, op uint32) error {
	msg := make([]byte, unix.NLMSG_HDRLEN+cnMsgLen+4)
	ne := binary.NativeEndian
	ne.PutUint32(msg[0:], uint32(len(msg)))
	ne.PutUint16(msg[4:], unix.NLMSG_DONE)
	ne.PutUint32(msg[12:], uint32(os.Getpid()))
	cn := msg[unix.NLMSG_HDRLEN:]
	ne.PutUint32(cn[0:], cnIdxProc)
	ne.PutUint32(cn[4:], cnValProc)
	ne.PutUint16(cn[16:], 4)
	ne.PutUint32(cn[cnMsgLen:], op)
	return unix.Sendto(fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
}

// Kind is "proc".
func (t *ProcTracker) Kind() string { return TrackProc }

// Close stops listening. The groups and their processes stay; a new
// tracker finds them again.
func (t *ProcTracker) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	t.mu.Unlock()
	_ = sendMcast(t.fd, procCnMcastIgnore)
	<-t.done
	return unix.Close(t.fd)
}

func (t *ProcTracker) read() {
	defer close(t.done)
	buf := make([]byte, 64<<10)
	for {
		n, from, err := unix.Recvfrom(t.fd, buf, 0)
		t.mu.Lock()
		if t.closed {
			t.mu.Unlock()
			return
		}
		switch {
		case err == nil:
		case errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR):
			t.mu.Unlock()
			continue
		case errors.Is(err, unix.ENOBUFS):
			// Events were dropped: find what they would have told.
			t.mu.Unlock()
			// Each environment read is bounded in size and time (a process
			// whose read blocks is skipped), so this needs no deadline.
			t.rescan(context.Background())
			continue
		default:
			t.broken = fmt.Errorf("process events stopped: %w", err)
			t.mu.Unlock()
			return
		}
		// Only the kernel speaks on this socket; anything else is ignored.
		if sa, ok := from.(*unix.SockaddrNetlink); ok && sa.Pid == 0 {
			if msgs, err := syscall.ParseNetlinkMessage(buf[:n]); err == nil {
				for _, m := range msgs {
					t.handle(m.Data)
				}
			}
		}
		t.mu.Unlock()
	}
}

// handle records one event; the caller holds t.mu.
func (t *ProcTracker) handle(data []byte) {
	ne := binary.NativeEndian
	if len(data) < cnMsgLen+procEventHeader+8 || ne.Uint32(data[0:]) != cnIdxProc || ne.Uint32(data[4:]) != cnValProc {
		return
	}
	ev := data[cnMsgLen:]
	switch ne.Uint32(ev[0:]) {
	case procEventFork:
		if len(ev) < procEventHeader+16 {
			return
		}
		parent := int(ne.Uint32(ev[procEventHeader+4:]))
		child, childTgid := int(ne.Uint32(ev[procEventHeader+8:])), int(ne.Uint32(ev[procEventHeader+12:]))
		if child != childTgid {
			return // a new thread, not a new process
		}
		m, ok := t.members[parent]
		if !ok {
			return
		}
		// Recorded even when it is already gone (the reader lags behind a
		// burst): the forks it made before it died come next in the stream
		// and must find their parent a member. Its exit event, which follows
		// them, removes it.
		var start uint64
		if st, ok := readStat(child); ok {
			start = st.start
		}
		t.members[child] = member{group: m.group, start: start}
	case procEventExit:
		pid, tgid := int(ne.Uint32(ev[procEventHeader:])), int(ne.Uint32(ev[procEventHeader+4:]))
		if pid == tgid {
			delete(t.members, tgid)
		}
	}
}

// rescan finds the members the events did not tell about: processes that
// carry a session's marker, and the descendants of members. It also drops
// members that are gone. Once ctx ends it reads no more environments (it
// still finds descendants by ancestry).
func (t *ProcTracker) rescan(ctx context.Context) {
	procs := listProcs(ctx)
	t.mu.Lock()
	defer t.mu.Unlock()
	for pid, m := range t.members {
		p, listed := procs[pid]
		if !listed {
			// The listing is older than the members recorded while it ran:
			// a child forked meanwhile is not in it, and dropping it would
			// let it outlive the end. Only a fresh look tells it is gone (a
			// read of stat, which no process can make block).
			p, listed = readStat(pid)
		}
		if !listed || p.start != m.start || p.dead() {
			delete(t.members, pid)
		}
	}
	for pid, p := range procs {
		if _, in := t.members[pid]; in || p.dead() || p.session == "" {
			continue
		}
		if g, ok := t.groups[p.session]; ok {
			t.members[pid] = member{group: g, start: p.start}
		}
	}
	for changed := true; changed; {
		changed = false
		for pid, p := range procs {
			if _, in := t.members[pid]; in || p.dead() {
				continue
			}
			if parent, ok := t.members[p.ppid]; ok && parent.start <= p.start {
				t.members[pid] = member{group: parent.group, start: p.start}
				changed = true
			}
		}
	}
}

// NewGroup starts recording session id.
func (t *ProcTracker) NewGroup(id string) (Group, error) {
	if err := checkGroupName(id); err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.broken != nil {
		return nil, t.broken
	}
	if _, ok := t.groups[id]; ok {
		return nil, fmt.Errorf("group %s exists", id)
	}
	g := &procGroup{t: t, id: id}
	t.groups[id] = g
	return g, nil
}

// OpenGroup returns session id's group, finding its processes again by
// their marker and ancestry when this tracker did not start them.
func (t *ProcTracker) OpenGroup(id string) (Group, error) {
	if err := checkGroupName(id); err != nil {
		return nil, err
	}
	t.mu.Lock()
	g, ok := t.groups[id]
	if !ok {
		g = &procGroup{t: t, id: id}
		t.groups[id] = g
	}
	t.mu.Unlock()
	if !ok {
		t.rescan(context.Background())
	}
	return g, nil
}

// procGroup is one session's record in a ProcTracker.
type procGroup struct {
	t  *ProcTracker
	id string
}

// Start starts spec as root and records it before any event of its
// children can be handled: the reader waits for t.mu.
func (g *procGroup) Start(spec Spec) (*Process, error) {
	t := g.t
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.broken != nil {
		return nil, t.broken // fail closed: an untracked process could outlive the session
	}
	if t.groups[g.id] != g {
		return nil, fmt.Errorf("session %s has ended", g.id)
	}
	p, err := startProcess(spec, -1)
	if err != nil {
		return nil, err
	}
	st, ok := readStat(p.Pid())
	if !ok {
		// It cannot be reaped before Wait, so its stat is there.
		return nil, errors.Join(fmt.Errorf("cannot read the new process %d", p.Pid()), p.Signal(syscall.SIGKILL))
	}
	t.members[p.Pid()] = member{group: g, start: st.start}
	return p, nil
}

type pidStart struct {
	pid   int
	start uint64
}

// live lists the group's members that are still running.
func (g *procGroup) live() []pidStart {
	g.t.mu.Lock()
	var ms []pidStart
	for pid, m := range g.t.members {
		if m.group == g {
			ms = append(ms, pidStart{pid, m.start})
		}
	}
	g.t.mu.Unlock()
	live := ms[:0]
	for _, m := range ms {
		if st, ok := readStat(m.pid); ok && st.start == m.start && !st.dead() {
			live = append(live, m)
		}
	}
	return live
}

// recorded counts the group's members the tracker still holds, exited or not.
func (g *procGroup) recorded() int {
	g.t.mu.Lock()
	defer g.t.mu.Unlock()
	n := 0
	for _, m := range g.t.members {
		if m.group == g {
			n++
		}
	}
	return n
}

// Pids lists the processes of the session now.
func (g *procGroup) Pids() ([]int, error) {
	ms := g.live()
	pids := make([]int, len(ms))
	for i, m := range ms {
		pids[i] = m.pid
	}
	return pids, nil
}

// End terminates the session's processes: SIGTERM, up to grace, then
// SIGKILL to every member, again and again, until no member is left, the
// event stream has caught up, and a scan of /proc finds none either; then
// the group is forgotten. When ctx ends first, the members still alive are
// listed as Unkillable and the group stays, for End to be called again.
func (g *procGroup) End(ctx context.Context, grace time.Duration) (EndReport, error) {
	began := time.Now()
	g.t.rescan(ctx)
	ms := g.live()
	rep := EndReport{Terminated: len(ms)}
	for _, m := range ms {
		rep.Pids = append(rep.Pids, m.pid)
	}
	if grace > 0 && len(ms) > 0 {
		for _, m := range ms {
			signalSame(m, unix.SIGTERM, unix.SIGCONT)
		}
		deadline := time.Now().Add(grace)
		for len(g.live()) > 0 && time.Now().Before(deadline) && ctx.Err() == nil {
			time.Sleep(5 * time.Millisecond)
		}
		rep.TermPhase = time.Since(began)
	}
	// Past ctx's end the loop still kills once (killing is the safe side)
	// before it reports what is left.
	counted := map[int]bool{}
	emptySince := time.Time{}
	for {
		ms := g.live()
		if len(ms) == 0 {
			// A process's forks are reported before its own exit, so once the
			// exit of every member has been handled no child of theirs is
			// unrecorded. Members whose exit was lost (an overflow) are
			// dropped by a rescan, which also finds what the loss hid.
			if emptySince.IsZero() {
				emptySince = time.Now()
			}
			if g.recorded() > 0 && time.Since(emptySince) < 100*time.Millisecond && ctx.Err() == nil {
				time.Sleep(time.Millisecond)
				continue
			}
			g.t.rescan(ctx)
			if ms = g.live(); len(ms) == 0 && g.recorded() == 0 {
				break
			}
			emptySince = time.Time{}
		}
		for _, m := range ms {
			if !counted[m.pid] {
				counted[m.pid] = true
				rep.Killed++
			}
			signalSame(m, unix.SIGKILL)
		}
		if err := ctx.Err(); err != nil {
			return g.unkillable(ctx, rep, began, err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	g.forget()
	rep.Took = time.Since(began)
	return rep, nil
}

// unkillable finishes an end whose ctx ended: it lists the members still
// alive, or forgets the group after all if none is. Its rescan reads no
// environment (ctx has ended); it drops the members that are gone.
func (g *procGroup) unkillable(ctx context.Context, rep EndReport, began time.Time, cause error) (EndReport, error) {
	g.t.rescan(ctx)
	ms := g.live()
	pids := make([]int, len(ms))
	for i, m := range ms {
		pids[i] = m.pid
	}
	rep.Unkillable = describeStuck(pids)
	rep.Took = time.Since(began)
	if len(rep.Unkillable) == 0 && g.recorded() == 0 {
		g.forget()
		return rep, nil
	}
	return rep, fmt.Errorf("%w: %d still running in session %s when the end's deadline passed: %w", ErrUnkillable, len(rep.Unkillable), g.id, cause)
}

// forget drops the group and its members from the tracker.
func (g *procGroup) forget() {
	g.t.mu.Lock()
	defer g.t.mu.Unlock()
	if g.t.groups[g.id] == g {
		delete(g.t.groups, g.id)
	}
	for pid, m := range g.t.members {
		if m.group == g {
			delete(g.t.members, pid)
		}
	}
}

// signalSame sends sigs to m's process only if its pid still names the same
// process: the pidfd is taken first and the start time checked after.
func signalSame(m pidStart, sigs ...unix.Signal) {
	fd, err := unix.PidfdOpen(m.pid, 0)
	if err != nil {
		return
	}
	defer unix.Close(fd)
	if st, ok := readStat(m.pid); !ok || st.start != m.start {
		return
	}
	for _, sig := range sigs {
		_ = unix.PidfdSendSignal(fd, sig, nil, 0)
	}
}

// procStat is what the tracker needs of /proc/PID/stat (and environ).
type procStat struct {
	state   byte
	comm    string
	ppid    int
	start   uint64
	session string // the HOIST_SESSION value of its initial environment
}

// dead is true of zombies: they have exited and only wait to be reaped.
func (p procStat) dead() bool { return p.state == 'Z' || p.state == 'X' }

func readStat(pid int) (procStat, bool) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, false
	}
	return parseStat(data)
}

// parseStat reads comm, state, ppid and starttime. The command name is in
// parentheses and may hold anything, spaces and parentheses included, so
// the fields are counted from the last ')'.
func parseStat(data []byte) (procStat, bool) {
	open, i := bytes.IndexByte(data, '('), bytes.LastIndexByte(data, ')')
	if open < 0 || i < open {
		return procStat{}, false
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 20 || len(f[0]) != 1 {
		return procStat{}, false
	}
	ppid, err1 := strconv.Atoi(f[1])
	start, err2 := strconv.ParseUint(f[19], 10, 64)
	if err1 != nil || err2 != nil {
		return procStat{}, false
	}
	return procStat{state: f[0][0], comm: string(data[open+1 : i]), ppid: ppid, start: start}, true
}

// listProcs reads every process's stat and session marker (the latter
// only while ctx lasts).
func listProcs(ctx context.Context) map[int]procStat {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	procs := make(map[int]procStat, len(entries))
	self := os.Getpid()
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		st, ok := readStat(pid)
		if !ok {
			continue
		}
		_ = withEnviron(ctx, pid, func(env []byte, complete bool) { st.session = envValue(env, "HOIST_SESSION=", complete) })
		procs[pid] = st
	}
	return procs
}
