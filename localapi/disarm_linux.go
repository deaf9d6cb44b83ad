package localapi

import (
	"encoding/binary"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// Bounds on Disarm's work for one call.
const (
	// disarmDepth bounds how deep Disarm follows sockets queued in
	// sockets (the kernel itself refuses to nest them much deeper).
	disarmDepth = 8
	// disarmBudget bounds the reads and accepts of one Disarm call.
	disarmBudget = 16384
)

// Disarm makes closing each socket among files immediate, so that hoistd
// never waits in close on a caller's socket; other files are left as they
// are. It is safe on any file, idempotent, never blocks, and closes none of
// files. ReceiveRequest disarms everything that arrives, so hoistd
// need not call it on those again.
//
// A socket lingers on close while it has unsent data and SO_LINGER set:
// Disarm sets SO_LINGER to {on, 0}, which makes the close abortive (a TCP
// reset, unsent data dropped) and immediate. A Unix socket may hold, queued
// in it, descriptors in flight, lingering sockets among them, that the
// kernel would drop in the closing thread when it is closed: Disarm takes
// them from its queue (and from a listening socket's pending
// connections), disarms and closes them, without waiting and within a
// bound. What the queue holds is lost to the socket's owner, whose socket
// hoistd refuses anyway.
//
// What Disarm cannot help: closing a file on a FUSE file system asks the
// file system's server to flush and waits for its answer, without a
// signal able to interrupt it; a caller who runs such a server can hold
// any close of such a file, hoistd's included. Closes of what callers pass
// must therefore never hold anything else (a lock, a queue, a session's
// end).
func Disarm(files []*os.File) {
	budget := disarmBudget
	for _, f := range files {
		_ = control(f, func(fd int) error {
			disarmFD(fd, disarmDepth, &budget)
			return nil
		})
	}
}

func disarmFD(fd, depth int, budget *int) {
	st, err := statFD(fd)
	if err != nil || st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		return
	}
	_ = unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
	if family, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN); err != nil || family != unix.AF_UNIX || depth == 0 {
		return
	}
	if listening, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN); err == nil && listening != 0 {
		disarmPending(fd, depth, budget)
		return
	}
	drainRights(fd, depth, budget)
}

// disarmPending accepts a listening Unix socket's pending connections,
// each of which may hold descriptors in flight, and disarms and closes
// them. accept has no flag not to wait, so the socket is made
// non-blocking first: a poll and then a blocking accept would wait if its
// owner accepted in between.
func disarmPending(fd, depth int, budget *int) {
	if err := unix.SetNonblock(fd, true); err != nil {
		return
	}
	for ; *budget > 0; *budget-- {
		conn, _, err := unix.Accept4(fd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		if err != nil {
			return
		}
		disarmFD(conn, depth-1, budget)
		unix.Close(conn)
	}
}

// drainRights reads a Unix socket's queue without waiting, and disarms
// and closes every descriptor it finds there.
func drainRights(fd, depth int, budget *int) {
	buf := make([]byte, 64<<10)
	oob := make([]byte, unix.CmsgSpace(4*maxRights)+unix.CmsgSpace(4))
	for ; *budget > 0; *budget-- {
		n, oobn, _, _, err := unix.Recvmsg(fd, buf, oob, unix.MSG_DONTWAIT|unix.MSG_CMSG_CLOEXEC)
		if err != nil {
			return
		}
		for _, got := range takenFDs(oob[:oobn]) {
			disarmFD(got, depth-1, budget)
			unix.Close(got)
		}
		if n == 0 && oobn == 0 {
			return // the end of a stream
		}
	}
}

// takenFDs lists every descriptor a read installed: passed ones, and a
// pidfd when the socket's owner asked for SO_PASSPIDFD.
func takenFDs(oob []byte) []int {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil
	}
	var fds []int
	for _, m := range msgs {
		if m.Header.Level != unix.SOL_SOCKET {
			continue
		}
		switch m.Header.Type {
		case unix.SCM_RIGHTS, unix.SCM_PIDFD:
			for i := 0; i+4 <= len(m.Data); i += 4 {
				fds = append(fds, int(int32(binary.NativeEndian.Uint32(m.Data[i:]))))
			}
		}
	}
	return fds
}

// DrainConn disarms and closes, without waiting, every descriptor still
// queued on c — sent with bytes hoistd never read — so that closing c
// cannot make hoistd's thread wait on one of them. Shut c's reading side
// first (CloseRead), or its peer may queue more meanwhile.
func DrainConn(c *net.UnixConn) {
	raw, err := c.SyscallConn()
	if err != nil {
		return
	}
	budget := disarmBudget
	_ = raw.Control(func(fd uintptr) { drainRights(int(fd), disarmDepth, &budget) })
}
