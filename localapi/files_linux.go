package localapi

import (
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Descriptor checks for hoistd. Everything here runs as root on what a
// caller passed and must never wait on that caller: files are examined with
// cached attributes only (a FUSE file's server is never asked), and nothing
// is read or written through them, except a socket's own queue, drained
// without waiting by Disarm.

// Device numbers a run may be given.
const (
	nullMajor, nullMinor = 1, 3
	// Unix 98 pty followers: UNIX98_PTY_SLAVE_MAJOR and the next
	// UNIX98_PTY_MAJOR_COUNT-1 majors.
	ptsFirstMajor, ptsLastMajor = 136, 143
)

// freshDeadline bounds the scan of /proc that tells whether a terminal is
// fresh. The scan reads one small file per process, a few milliseconds for
// hundreds; a machine where it takes this long refuses terminals (fail
// closed) rather than hold a run.
const freshDeadline = 3 * time.Second

// Classify says what f is. It asks the kernel for cached attributes only,
// so it never waits on a file system's server. The error says f could not
// be examined (then the kind is KindOther).
func Classify(f *os.File) (Kind, error) {
	var k Kind
	err := control(f, func(fd int) error {
		var err error
		k, _, err = classifyFD(fd)
		return err
	})
	return k, err
}

// CheckRunFiles refuses descriptors a run must not be given, and tells the
// kind of each (see Kind). A run has exactly three: stdin, stdout, stderr.
// Each must be /dev/null, a pipe or FIFO, a regular file or a terminal.
// Terminals are allowed only when tty says the client made one for this
// run; then at least one descriptor must be a terminal, every terminal
// among them must be the same pseudo-terminal, and it must be fresh: the
// controlling terminal of no process on the machine, so never the user's
// own. (The kernel's TIOCGSID answers only for the caller's own
// controlling terminal, so /proc is scanned instead, within a deadline.)
// Whoever passes a fresh one holds its leader side anyway: a terminal
// made a controlling terminal after the check is the caller's own doing,
// no more than a pipe would be.
//
// When kinds[0] is KindTerminal, the terminal is to be the program's
// controlling terminal; when only stdout or stderr is, the program gets
// none (stdin was redirected: nobody types into that terminal).
//
// A refusal wraps ErrInvalid and Disarms every socket among files; it
// closes nothing, the caller does. An error that does not wrap ErrInvalid
// means the check could not be made (the scan of /proc failed or ran out
// of time): hoistd is then unavailable for terminal runs, and refuses them.
func CheckRunFiles(files []*os.File, tty bool) ([]Kind, error) {
	kinds, pts, err := checkKinds(files, tty)
	if err != nil {
		Disarm(files)
		return nil, err
	}
	if pts == nil {
		return kinds, nil
	}
	busy, err := controllingTerminal(pts.Rdev_major, pts.Rdev_minor, time.Now().Add(freshDeadline))
	if err != nil {
		return nil, fmt.Errorf("cannot tell whether the terminal passed is a fresh one: %v", err)
	}
	if busy {
		return nil, fmt.Errorf("%w: the terminal passed is in use, the controlling terminal of a process; hoist run passes only a terminal made for the run", ErrInvalid)
	}
	return kinds, nil
}

// checkKinds is CheckRunFiles but for freshness; it returns the terminal's
// attributes when there is one.
func checkKinds(files []*os.File, tty bool) ([]Kind, *unix.Statx_t, error) {
	if len(files) != len(stdNames) {
		return nil, nil, fmt.Errorf("%w: run needs exactly three descriptors: stdin, stdout, stderr", ErrInvalid)
	}
	kinds := make([]Kind, len(files))
	var pts *unix.Statx_t
	for i, f := range files {
		var st unix.Statx_t
		err := control(f, func(fd int) error {
			var err error
			kinds[i], st, err = classifyFD(fd)
			return err
		})
		if err != nil {
			return nil, nil, fmt.Errorf("%w: cannot tell what %s is", ErrInvalid, stdNames[i])
		}
		switch kinds[i] {
		case KindNull, KindPipe, KindFile:
		case KindTerminal:
			if !tty {
				return nil, nil, fmt.Errorf("%w: %s is a terminal, but the request does not say the client made it for this run", ErrInvalid, stdNames[i])
			}
			if pts != nil && !samePTS(*pts, st) {
				return nil, nil, fmt.Errorf("%w: %s is another terminal than the run's", ErrInvalid, stdNames[i])
			}
			pts = &st
		default:
			return nil, nil, fmt.Errorf("%w: %s is %s; hoist run passes only terminals, pipes, regular files and /dev/null", ErrInvalid, stdNames[i], kinds[i])
		}
	}
	if tty && pts == nil {
		return nil, nil, fmt.Errorf("%w: the request says the client made a terminal for the run, but none was passed", ErrInvalid)
	}
	return kinds, pts, nil
}

// samePTS reports whether a and b are one pseudo-terminal: one device of
// one devpts instance.
func samePTS(a, b unix.Statx_t) bool {
	return a.Rdev_major == b.Rdev_major && a.Rdev_minor == b.Rdev_minor &&
		a.Dev_major == b.Dev_major && a.Dev_minor == b.Dev_minor
}

// control runs fn on f's descriptor without touching f's blocking mode
// (f.Fd would, on a description the caller shares).
func control(f *os.File, fn func(fd int) error) error {
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

// statFD returns fd's attributes as the kernel has them cached: with
// AT_STATX_DONT_SYNC and no fields asked for, no file system (FUSE, NFS)
// is asked, and a FUSE mount without allow_other does not refuse root.
func statFD(fd int) (unix.Statx_t, error) {
	var st unix.Statx_t
	err := unix.Statx(fd, "", unix.AT_EMPTY_PATH|unix.AT_STATX_DONT_SYNC, 0, &st)
	return st, err
}

func classifyFD(fd int) (Kind, unix.Statx_t, error) {
	st, err := statFD(fd)
	if err != nil {
		return KindOther, st, err
	}
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		return KindOther, st, err
	}
	if fl&unix.O_PATH != 0 {
		return KindOther, st, nil // names a file, opens nothing
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFIFO:
		return KindPipe, st, nil
	case unix.S_IFREG:
		return KindFile, st, nil
	case unix.S_IFSOCK:
		return KindSocket, st, nil
	case unix.S_IFDIR:
		return KindDirectory, st, nil
	case unix.S_IFBLK:
		return KindDevice, st, nil
	case unix.S_IFCHR:
		switch {
		case st.Rdev_major == nullMajor && st.Rdev_minor == nullMinor:
			return KindNull, st, nil
		case st.Rdev_major >= ptsFirstMajor && st.Rdev_major <= ptsLastMajor:
			return KindTerminal, st, nil
		}
		return KindDevice, st, nil
	}
	return KindOther, st, nil // anonymous inodes have no file type
}

// adopt wraps a descriptor that arrived in an *os.File. os.NewFile puts a
// descriptor whose file is non-blocking into Go's poller, and adding a file
// to epoll polls it: for a file on FUSE that is a request to the file
// system's server, which need not ever answer. So a file of a kind hoistd
// would never poll (anything but a pipe, a socket or a device) is adopted
// with O_NONBLOCK cleared, and the flag, which its owner shares, put back.
// (An owner who sets it again in between only gets the wait that closing a
// FUSE file gives it anyway; see Disarm.)
func adopt(fd int) *os.File {
	st, err := statFD(fd)
	pollable := err == nil && (st.Mode&unix.S_IFMT == unix.S_IFIFO || st.Mode&unix.S_IFMT == unix.S_IFSOCK || st.Mode&unix.S_IFMT == unix.S_IFCHR)
	if pollable {
		return os.NewFile(uintptr(fd), "passed")
	}
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil || fl&unix.O_NONBLOCK == 0 {
		return os.NewFile(uintptr(fd), "passed")
	}
	_ = unix.SetNonblock(fd, false)
	f := os.NewFile(uintptr(fd), "passed")
	_ = unix.SetNonblock(fd, true)
	return f
}
