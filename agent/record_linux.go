package agent

import (
	"os"

	"golang.org/x/sys/unix"
)

// openPTY makes a pseudo-terminal for hoistd: the leader, non-blocking (in
// Go's poller, so that closing it ends a read or write parked on it), and
// its follower, opened through the leader (TIOCGPTPEER) rather than by a
// path in /dev/pts.
func openPTY() (leader, follower *os.File, err error) {
	fd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, err
	}
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		unix.Close(fd)
		return nil, nil, err
	}
	r, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(unix.TIOCGPTPEER), uintptr(unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC))
	if errno != 0 {
		unix.Close(fd)
		return nil, nil, errno
	}
	return os.NewFile(uintptr(fd), "ptmx"), os.NewFile(r, "pts"), nil
}

// pollable is a duplicate of f, non-blocking, for the relay: Go's poller
// parks the reads and writes on it, and a close ends them, so no goroutine
// of hoistd is ever stuck in a write to a caller that stopped reading.
// (O_NONBLOCK is set on the description the caller shares: the follower of
// the caller's own pseudo-terminal, which it no longer uses itself.)
func pollable(f *os.File) (*os.File, error) {
	var dup int
	err := fdControl(f, func(fd int) error {
		var err error
		dup, err = unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := unix.SetNonblock(dup, true); err != nil {
		unix.Close(dup)
		return nil, err
	}
	return os.NewFile(uintptr(dup), "caller-terminal"), nil
}

func fdControl(f *os.File, fn func(fd int) error) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = fn(int(fd)) }); err != nil {
		return err
	}
	return ferr
}

// winSize is f's terminal size, 80x24 when it has none.
func winSize(f *os.File) (cols, rows int) {
	cols, rows = 80, 24
	_ = fdControl(f, func(fd int) error {
		ws, err := unix.IoctlGetWinsize(fd, unix.TIOCGWINSZ)
		if err == nil && ws.Col > 0 && ws.Row > 0 {
			cols, rows = int(ws.Col), int(ws.Row)
		}
		return err
	})
	return cols, rows
}

// setWinSize sets f's terminal size; the kernel tells the terminal's
// foreground group (SIGWINCH).
func setWinSize(f *os.File, cols, rows int) error {
	return fdControl(f, func(fd int) error {
		return unix.IoctlSetWinsize(fd, unix.TIOCSWINSZ, &unix.Winsize{Col: uint16(cols), Row: uint16(rows)})
	})
}

// takeOverTerminal gives hoistd's terminal (leader's) the modes of the
// client's, and makes the client's raw: it only carries bytes between
// hoistd and the client from here, and hoistd's is the one whose line
// discipline echoes, edits lines and turns Ctrl-C into a signal.
func takeOverTerminal(caller, leader *os.File) error {
	return fdControl(caller, func(cfd int) error {
		tio, err := unix.IoctlGetTermios(cfd, unix.TCGETS)
		if err != nil {
			return err
		}
		if err := fdControl(leader, func(lfd int) error { return unix.IoctlSetTermios(lfd, unix.TCSETS, tio) }); err != nil {
			return err
		}
		raw := *tio
		raw.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
		raw.Oflag &^= unix.OPOST
		raw.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
		raw.Cflag &^= unix.CSIZE | unix.PARENB
		raw.Cflag |= unix.CS8
		raw.Cc[unix.VMIN], raw.Cc[unix.VTIME] = 1, 0
		return unix.IoctlSetTermios(cfd, unix.TCSETS, &raw)
	})
}
