package localapi_test

import (
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"github.com/hoist-jit/hoist/localapi"
	"github.com/hoist-jit/hoist/testenv"
)

// fdFile wraps a raw descriptor, closed at the test's end.
func fdFile(t *testing.T, fd int, err error) *os.File {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "test")
	t.Cleanup(func() { f.Close() })
	return f
}

func open(t *testing.T, path string, flag int) *os.File {
	t.Helper()
	f, err := os.OpenFile(path, flag, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// newPTY opens a fresh pseudo-terminal and returns its follower side.
func newPTY(t *testing.T) (leader, follower *os.File) {
	t.Helper()
	m, s, err := pty.Open()
	testenv.Require(t, err == nil, "needs pseudo-terminals")
	t.Cleanup(func() { m.Close(); s.Close() })
	return m, s
}

func pipe(t *testing.T) (r, w *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	return r, w
}

func TestClassify(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	r, _ := pipe(t)
	leader, follower := newPTY(t)
	sp, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	fdFile(t, sp[1], nil)
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	tcpFile, err := tcp.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer tcpFile.Close()
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
	event := fdFile(t, efd, err)
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	epoll := fdFile(t, epfd, err)
	pidfd, err := unix.PidfdOpen(os.Getpid(), 0)
	pidFile := fdFile(t, pidfd, err)
	memfd, err := unix.MemfdCreate("hoist-test", unix.MFD_CLOEXEC)
	mem := fdFile(t, memfd, err)
	pathfd, err := unix.Open("/dev/null", unix.O_PATH|unix.O_CLOEXEC, 0)
	pathOnly := fdFile(t, pathfd, err)

	cases := []struct {
		name string
		f    *os.File
		want localapi.Kind
	}{
		{"/dev/null", open(t, "/dev/null", os.O_RDWR), localapi.KindNull},
		{"a pipe", r, localapi.KindPipe},
		{"a FIFO", open(t, fifo, os.O_RDWR), localapi.KindPipe},
		{"a regular file", open(t, filepath.Join(dir, "file"), os.O_RDWR|os.O_CREATE), localapi.KindFile},
		{"a memfd", mem, localapi.KindFile},
		{"a pseudo-terminal's follower", follower, localapi.KindTerminal},
		{"a pseudo-terminal's leader", leader, localapi.KindDevice},
		{"/dev/zero", open(t, "/dev/zero", os.O_RDONLY), localapi.KindDevice},
		{"a directory", open(t, dir, os.O_RDONLY), localapi.KindDirectory},
		{"a Unix socket", fdFile(t, sp[0], nil), localapi.KindSocket},
		{"a TCP socket", tcpFile, localapi.KindSocket},
		{"an eventfd", event, localapi.KindOther},
		{"an epoll", epoll, localapi.KindOther},
		{"a pidfd", pidFile, localapi.KindOther},
		{"an O_PATH descriptor of /dev/null", pathOnly, localapi.KindOther},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := localapi.Classify(tc.f)
			if err != nil || got != tc.want {
				t.Fatalf("Classify = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
	closed, _ := pipe(t)
	closed.Close()
	if _, err := localapi.Classify(closed); err == nil {
		t.Error("Classify of a closed file did not fail")
	}
}

func TestCheckRunFiles(t *testing.T) {
	null := open(t, "/dev/null", os.O_RDWR)
	r, w := pipe(t)
	file := open(t, filepath.Join(t.TempDir(), "out"), os.O_WRONLY|os.O_CREATE)
	_, pts := newPTY(t)
	_, other := newPTY(t)
	dir := open(t, t.TempDir(), os.O_RDONLY)
	sp, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	sock := fdFile(t, sp[0], nil)
	fdFile(t, sp[1], nil)
	K := func(k ...localapi.Kind) []localapi.Kind { return k }
	cases := []struct {
		name  string
		files []*os.File
		tty   bool
		want  []localapi.Kind // nil: refused
	}{
		{"pipes", []*os.File{r, w, w}, false, K(localapi.KindPipe, localapi.KindPipe, localapi.KindPipe)},
		{"null and a file", []*os.File{null, file, file}, false, K(localapi.KindNull, localapi.KindFile, localapi.KindFile)},
		{"a fresh terminal", []*os.File{pts, pts, pts}, true, K(localapi.KindTerminal, localapi.KindTerminal, localapi.KindTerminal)},
		{"a fresh terminal, stdin redirected", []*os.File{null, pts, pts}, true, K(localapi.KindNull, localapi.KindTerminal, localapi.KindTerminal)},
		{"a fresh terminal, stdout redirected", []*os.File{pts, file, pts}, true, K(localapi.KindTerminal, localapi.KindFile, localapi.KindTerminal)},
		{"a terminal not declared", []*os.File{null, pts, pts}, false, nil},
		{"a terminal declared but none passed", []*os.File{r, w, w}, true, nil},
		{"two terminals", []*os.File{pts, pts, other}, true, nil},
		{"a socket", []*os.File{null, sock, null}, false, nil},
		{"a socket with a terminal", []*os.File{pts, pts, sock}, true, nil},
		{"a directory", []*os.File{dir, null, null}, false, nil},
		{"two descriptors", []*os.File{null, null}, false, nil},
		{"four descriptors", []*os.File{null, null, null, null}, false, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := localapi.CheckRunFiles(tc.files, tc.tty)
			if tc.want == nil {
				if err == nil || !errors.Is(err, localapi.ErrInvalid) || !safeMessage(err.Error()) {
					t.Fatalf("CheckRunFiles = %v, %v; want a refusal wrapping ErrInvalid", got, err)
				}
				return
			}
			if err != nil || len(got) != len(tc.want) {
				t.Fatalf("CheckRunFiles = %v, %v; want %v", got, err, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("CheckRunFiles = %v; want %v", got, tc.want)
				}
			}
		})
	}
}

// TestCheckRunFilesRefusesATerminalInUse: a terminal that is a process's
// controlling terminal, as the user's own is their shell's, is refused;
// once that process is gone it is fresh again.
func TestCheckRunFilesRefusesATerminalInUse(t *testing.T) {
	_, pts := newPTY(t)
	files := []*os.File{pts, pts, pts}
	if _, err := localapi.CheckRunFiles(files, true); err != nil {
		t.Fatalf("a fresh terminal is refused: %v", err)
	}
	cmd := exec.Command("sleep", "1000")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = pts, pts, pts
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	// The child has the terminal once it has started: Start returns after
	// the exec, which comes after TIOCSCTTY.
	_, err := localapi.CheckRunFiles(files, true)
	if err == nil || !errors.Is(err, localapi.ErrInvalid) {
		t.Fatalf("a terminal in use: CheckRunFiles = %v; want a refusal", err)
	}
	t.Log(err)
	if _, err := localapi.CheckRunFiles([]*os.File{open(t, "/dev/null", os.O_RDWR), pts, pts}, true); err == nil {
		t.Fatal("a terminal in use is taken as stdout")
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if _, err := localapi.CheckRunFiles(files, true); err != nil {
		t.Fatalf("the terminal is still refused after its session ended: %v", err)
	}
}
