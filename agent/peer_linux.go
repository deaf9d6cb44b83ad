package agent

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// soPeerPidfd is SO_PEERPIDFD (Linux 6.5): a pidfd of the peer, taken at
// connect, so that its pid cannot be recycled under us.
const soPeerPidfd = 77

// peerOf reads the peer's credentials once, from the kernel.
func peerOf(c *net.UnixConn) (Peer, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return Peer{}, err
	}
	var (
		cred    *unix.Ucred
		pidfd   = -1
		credErr error
	)
	err = raw.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
		if credErr == nil {
			if n, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, soPeerPidfd); err == nil {
				pidfd = n
			}
		}
	})
	if err == nil {
		err = credErr
	}
	if err != nil {
		return Peer{}, err
	}
	if pidfd >= 0 {
		defer unix.Close(pidfd)
	}
	name, err := lookupUser(int(cred.Uid))
	if err != nil {
		return Peer{}, fmt.Errorf("uid %d has no user name: %w", cred.Uid, err)
	}
	p := Peer{UID: int(cred.Uid), GID: int(cred.Gid), PID: int(cred.Pid), User: name, cwd: "/"}
	// The caller's groups decide what it may see when hoistd looks up its
	// program; unreadable, it gets none beyond its primary group.
	if groups, err := peerGroups(p.PID); err == nil && sameProcess(pidfd) {
		p.Groups = groups
	}
	// The working directory comes from the kernel's view of the peer, not
	// from the message. With a pidfd, the pid is checked to still be the
	// same process after the read.
	if cwd, err := os.Readlink("/proc/" + strconv.Itoa(p.PID) + "/cwd"); err == nil && sameProcess(pidfd) {
		if info, err := os.Stat(cwd); err == nil && info.IsDir() {
			p.cwd = cwd
		}
	}
	return p, nil
}

// sameProcess reports whether the process behind pidfd is still alive; true
// when the kernel gave no pidfd.
func sameProcess(pidfd int) bool {
	if pidfd < 0 {
		return true
	}
	err := unix.PidfdSendSignal(pidfd, 0, nil, 0)
	return err == nil || errors.Is(err, unix.EPERM)
}
