package platform

import (
	"bytes"
	_ "embed"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"
)

// execObject is bpf/exec.bpf.c built by `make bpf`; a test checks that it
// is the build of the committed source.
//
//go:embed bpf/exec.bpf.o
var execObject []byte

// The layout of a record in bpf/exec.bpf.c: struct header, then for an
// exec filename_len bytes of its filename and args_len of its arguments.
const (
	bpfKindExec    = 1
	bpfKindExit    = 2
	bpfFilenameMax = 255 // bytes of a filename, without its NUL
	bpfEventHeader = 48
	// execEventsHandoff is the channel between the ring's reader and the
	// consumer. The kernel's ring buffer is the queue (it holds raw records
	// compactly, and counts what it has no room for); the channel only
	// hands decoded events over, so it is small: 8,192 decoded events
	// were 1.1 MiB of heap held from the start.
	execEventsHandoff = 64
	// readErrorPause is the wait after a failed read of the ring.
	readErrorPause = 100 * time.Millisecond
)

// BPFExecWatcher is the ExecWatcher on a BPF program (bpf/exec.bpf.c)
// attached to the sched_process_exec and sched_process_exit tracepoints.
// The program filters in the kernel: only tasks whose cgroup, or one of its
// ancestors, is watched produce an event, and the argv is read from the
// new program's memory in the kernel, so a program that exits at once is
// recorded as well as a long one.
type BPFExecWatcher struct {
	coll    *ebpf.Collection
	watched *ebpf.Map
	lost    *ebpf.Map
	links   []link.Link
	rd      *ringbuf.Reader
	events  chan ExecEvent
	done    chan struct{} // closed when read has returned
	stop    chan struct{} // closed by Close: read stops waiting for the consumer
	dropped atomic.Uint64 // records that did not decode

	mu    sync.Mutex
	tags  map[string]uint64 // group id -> tag
	ids   map[uint64]string // tag -> group id
	cgids map[string]uint64 // group id -> cgroup id
	next  uint64
	close sync.Once
}

var _ ExecWatcher = (*BPFExecWatcher)(nil)

// NewBPFExecWatcher loads and attaches the program. It fails where the
// kernel refuses BPF (no CAP_BPF, no BTF, an old kernel).
func NewBPFExecWatcher() (*BPFExecWatcher, error) {
	_ = rlimit.RemoveMemlock() // kernels before 5.11 account BPF maps to RLIMIT_MEMLOCK
	spec, err := ebpf.LoadCollectionSpecFromReader(bytes.NewReader(execObject))
	if err != nil {
		return nil, fmt.Errorf("exec watcher: %w", err)
	}
	coll, err := ebpf.NewCollection(spec)
	if err != nil {
		return nil, fmt.Errorf("exec watcher: load: %w", err)
	}
	w := &BPFExecWatcher{
		coll: coll, watched: coll.Maps["watched"], lost: coll.Maps["lost"],
		events: make(chan ExecEvent, execEventsHandoff), done: make(chan struct{}), stop: make(chan struct{}),
		tags: map[string]uint64{}, ids: map[uint64]string{}, cgids: map[string]uint64{},
	}
	for prog, tp := range map[string]string{"on_exec": "sched_process_exec", "on_exit": "sched_process_exit"} {
		l, err := link.Tracepoint("sched", tp, coll.Programs[prog], nil)
		if err != nil {
			w.release()
			return nil, fmt.Errorf("exec watcher: attach %s: %w", tp, err)
		}
		w.links = append(w.links, l)
	}
	if w.rd, err = ringbuf.NewReader(coll.Maps["events"]); err != nil {
		w.release()
		return nil, fmt.Errorf("exec watcher: %w", err)
	}
	go w.read()
	return w, nil
}

// Source is "bpf".
func (w *BPFExecWatcher) Source() string { return ExecSourceBPF }

// Events is where the events arrive.
func (w *BPFExecWatcher) Events() <-chan ExecEvent { return w.events }

// Lost counts the events the kernel's ring buffer had no room for, and
// records that did not decode.
func (w *BPFExecWatcher) Lost() uint64 {
	var n uint64
	_ = w.lost.Lookup(uint32(0), &n)
	return n + w.dropped.Load()
}

// Watch adds g's cgroup to the kernel's filter.
func (w *BPFExecWatcher) Watch(id string, g Group) error {
	cg, ok := g.(*cgroupGroup)
	if !ok {
		return fmt.Errorf("exec watcher: group %s is no cgroup (the fork-event tracker): the exec record needs cgroup v2", id)
	}
	cgid, err := cgroupID(cg.dir)
	if err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.tags[id]; ok {
		return nil
	}
	w.next++
	tag := w.next
	if err := w.watched.Put(cgid, tag); err != nil {
		return fmt.Errorf("exec watcher: watch %s: %w", id, err)
	}
	w.tags[id], w.ids[tag], w.cgids[id] = tag, id, cgid
	return nil
}

// Unwatch removes group id from the kernel's filter. What the kernel
// already queued for it is still delivered.
func (w *BPFExecWatcher) Unwatch(id string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if cgid, ok := w.cgids[id]; ok {
		_ = w.watched.Delete(cgid)
	}
	delete(w.tags, id)
	delete(w.cgids, id)
	// ids keeps the tag: queued events still name their group. Tags are
	// never reused, so a stale one cannot name another group.
}

// Close detaches the program and closes Events.
func (w *BPFExecWatcher) Close() error {
	w.close.Do(func() {
		close(w.stop)
		_ = w.rd.Close() // ends read
		<-w.done
		w.release()
	})
	return nil
}

func (w *BPFExecWatcher) release() {
	for _, l := range w.links {
		_ = l.Close()
	}
	if w.rd != nil {
		_ = w.rd.Close()
	}
	w.coll.Close()
}

// read decodes the ring buffer into Events until Close. It waits for the
// consumer, never the watched processes: while it waits, records queue in
// the kernel's ring, and what the ring has no room for the kernel counts
// as lost.
func (w *BPFExecWatcher) read() {
	defer close(w.done)
	defer close(w.events)
	var rec ringbuf.Record // its buffer is reused from one record to the next
	for {
		if err := w.rd.ReadInto(&rec); err != nil {
			if errors.Is(err, os.ErrClosed) {
				return
			}
			// An error that persists must not spin a core of a root
			// daemon: pause before the next read (the ring keeps queueing,
			// and counts what it has no room for).
			select {
			case <-w.stop:
				return
			case <-time.After(readErrorPause):
			}
			continue
		}
		ev, tag, ok := decodeBPFEvent(rec.RawSample)
		if !ok {
			w.dropped.Add(1)
			continue
		}
		w.mu.Lock()
		ev.Group, ok = w.ids[tag]
		w.mu.Unlock()
		if !ok {
			continue
		}
		select {
		case w.events <- ev:
		case <-w.stop:
			return
		}
	}
}

// decodeBPFEvent reads one record: a struct header, and an exec's filename
// and arguments after it. A record whose lengths do not fit is refused.
func decodeBPFEvent(b []byte) (ev ExecEvent, tag uint64, ok bool) {
	if len(b) < bpfEventHeader {
		return ev, 0, false
	}
	ne := binary.NativeEndian
	kind := ne.Uint32(b[0:])
	ev.Pid, ev.Ppid, ev.UID = int(ne.Uint32(b[4:])), int(ne.Uint32(b[8:])), int(ne.Uint32(b[12:]))
	tag = ne.Uint64(b[16:])
	ev.At = bootTime(int64(ne.Uint64(b[24:])))
	switch kind {
	case bpfKindExit:
		ev.Exit = true
		ev.ExitStatus = int(int32(ne.Uint32(b[32:])))
	case bpfKindExec:
		fl, al := uint64(ne.Uint32(b[36:])), uint64(ne.Uint32(b[40:]))
		if fl > bpfFilenameMax || al > MaxExecArgBytes || uint64(len(b)-bpfEventHeader) < fl+al {
			return ev, 0, false
		}
		name := b[bpfEventHeader : bpfEventHeader+fl]
		args := b[bpfEventHeader+fl : bpfEventHeader+fl+al]
		ev.Path = string(name)
		ev.Argv, ev.Truncated = splitArgs(bytes.TrimSuffix(args, []byte{0}))
		ev.Truncated = ev.Truncated || ne.Uint32(b[44:]) != 0
	default:
		return ev, 0, false
	}
	return ev, tag, true
}

// bootTime turns a CLOCK_BOOTTIME reading into wall time.
func bootTime(ns int64) time.Time {
	var ts unix.Timespec
	now := time.Now()
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return now
	}
	return now.Add(-time.Duration(ts.Nano() - ns))
}

// cgroupID is the id the kernel's cgroup helpers return for the cgroup at
// dir: on cgroup v2 the inode number of its directory.
func cgroupID(dir string) (uint64, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil {
		return 0, fmt.Errorf("exec watcher: %w", err)
	}
	return st.Ino, nil
}

// GroupCgroupDir is the directory of g's cgroup, when g is one.
func GroupCgroupDir(g Group) (string, bool) {
	cg, ok := g.(*cgroupGroup)
	if !ok {
		return "", false
	}
	return cg.dir, true
}
