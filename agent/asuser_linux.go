package agent

import (
	"bufio"
	"bytes"
	"fmt"
	"runtime"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

// resolveAs resolves argv0 as resolve does, but with the file-system rights
// of the caller: hoistd runs as root, and a stat as root would tell a user
// whether a file exists in a directory they cannot read. The lookup runs on
// a thread of its own whose file-system identity (fsuid, fsgid and groups,
// all per thread on Linux) is the caller's; that thread is never given
// back to the runtime, so it ends with its goroutine and no other code
// runs with the changed identity.
func resolveAs(p Peer, argv0, dir string) (string, error) {
	if p.UID == 0 {
		return resolve(argv0, dir)
	}
	type result struct {
		path string
		err  error
	}
	out := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: see above
		if err := becomeFS(p.UID, p.GID, p.Groups); err != nil {
			out <- result{"", fmt.Errorf("cannot check the program with your rights: %w", err)}
			return
		}
		path, err := resolve(argv0, dir)
		out <- result{path, err}
	}()
	r := <-out
	return r.path, r.err
}

// becomeFS gives the calling thread the file-system identity uid, gid and
// groups, and checks that it took. The raw setgroups call changes this
// thread only (the libc and syscall.Setgroups wrappers change them all).
func becomeFS(uid, gid int, groups []uint32) error {
	var ptr unsafe.Pointer
	if len(groups) > 0 {
		ptr = unsafe.Pointer(&groups[0])
	}
	if _, _, errno := unix.RawSyscall(unix.SYS_SETGROUPS, uintptr(len(groups)), uintptr(ptr), 0); errno != 0 {
		return fmt.Errorf("setgroups: %w", errno)
	}
	_, _ = unix.SetfsgidRetGid(gid)
	_, _ = unix.SetfsuidRetUid(uid)
	// Asking with an invalid id changes nothing and answers the current one.
	if cur, _ := unix.SetfsgidRetGid(-1); cur != gid {
		return fmt.Errorf("fsgid is %d, not %d", cur, gid)
	}
	if cur, _ := unix.SetfsuidRetUid(-1); cur != uid {
		return fmt.Errorf("fsuid is %d, not %d", cur, uid)
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
