package agent

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

// resolveAs resolves argv0 as resolve does, but with the rights of the
// caller: hoistd runs as root, and a stat as root would tell a user whether
// a file exists in a directory they cannot read. The lookup runs on a
// thread of its own whose identity (uids, gids and groups, all per thread
// on Linux) is the caller's, without capabilities; that thread is never
// given back to the runtime, so it ends with its goroutine and no other
// code runs with the changed identity.
func resolveAs(p Peer, argv0, dir string) (string, error) {
	if p.UID == 0 {
		return resolve(argv0, dir)
	}
	return asCaller(p, func() (string, error) { return resolve(argv0, dir) }, 2)
}

// asCaller runs fn on a thread of its own with p's identity. The process's
// main thread is never changed — Go cannot end it, and the whole process
// would show the caller's uid from then on: a goroutine that lands there
// keeps it (so that the scheduler must use another thread) while it tries
// again, at most tries more times.
func asCaller(p Peer, fn func() (string, error), tries int) (string, error) {
	type result struct {
		path string
		err  error
	}
	out := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		if unix.Gettid() == unix.Getpid() {
			r := result{err: errors.New("cannot check the program with your rights: no thread to do it on")}
			if tries > 0 {
				r.path, r.err = asCaller(p, fn, tries-1)
			}
			runtime.UnlockOSThread() // unchanged: the main thread goes back as it was
			out <- r
			return
		}
		// Never unlocked from here on: the thread ends with this goroutine.
		if err := becomeFS(p.UID, p.GID, p.Groups); err != nil {
			out <- result{err: fmt.Errorf("cannot check the program with your rights: %w", err)}
			return
		}
		path, err := fn()
		out <- result{path, err}
	}()
	r := <-out
	return r.path, r.err
}

// becomeFS makes the calling thread the caller in full: groups, then real,
// effective and saved gid and uid, by raw system calls that change this
// thread only (the libc and syscall wrappers change every thread). Giving
// up uid 0 clears the thread's capabilities too, so no CAP_DAC_OVERRIDE,
// CAP_SYS_PTRACE or CAP_SYS_ADMIN lets a lookup reach through
// /proc/PID/cwd or /proc/PID/fd what the caller could not. It checks that
// every change took.
func becomeFS(uid, gid int, groups []uint32) error {
	var ptr unsafe.Pointer
	if len(groups) > 0 {
		ptr = unsafe.Pointer(&groups[0])
	}
	if _, _, errno := unix.RawSyscall(unix.SYS_SETGROUPS, uintptr(len(groups)), uintptr(ptr), 0); errno != 0 {
		return fmt.Errorf("setgroups: %w", errno)
	}
	if _, _, errno := unix.RawSyscall(unix.SYS_SETRESGID, uintptr(gid), uintptr(gid), uintptr(gid)); errno != 0 {
		return fmt.Errorf("setresgid: %w", errno)
	}
	if _, _, errno := unix.RawSyscall(unix.SYS_SETRESUID, uintptr(uid), uintptr(uid), uintptr(uid)); errno != 0 {
		return fmt.Errorf("setresuid: %w", errno)
	}
	if r, e, s := unix.Getresuid(); r != uid || e != uid || s != uid {
		return fmt.Errorf("the thread's uids are %d/%d/%d, not %d", r, e, s, uid)
	}
	if r, e, s := unix.Getresgid(); r != gid || e != gid || s != gid {
		return fmt.Errorf("the thread's gids are %d/%d/%d, not %d", r, e, s, gid)
	}
	return nil
}

// maxGroups bounds the supplementary groups read for a caller (the
// kernel's own limit is 65536).
const maxGroups = 65536

// peerGroups reads the supplementary groups of process pid from
// /proc/PID/status; callers check afterwards that pid is still the peer.
func peerGroups(pid int) ([]uint32, error) {
	data, err := readFileLimit("/proc/"+strconv.Itoa(pid)+"/status", 1<<20)
	if err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		rest, ok := bytes.CutPrefix(sc.Bytes(), []byte("Groups:"))
		if !ok {
			continue
		}
		fields := bytes.Fields(rest)
		if len(fields) > maxGroups {
			return nil, fmt.Errorf("%d groups", len(fields))
		}
		groups := make([]uint32, 0, len(fields))
		for _, f := range fields {
			n, err := strconv.ParseUint(string(f), 10, 32)
			if err != nil {
				return nil, fmt.Errorf("bad group %q", f)
			}
			groups = append(groups, uint32(n))
		}
		return groups, nil
	}
	return nil, fmt.Errorf("/proc/%d/status has no Groups line", pid)
}
