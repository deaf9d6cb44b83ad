package localapi_test

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hoist-jit/hoist/localapi"
)

// lingerSeconds is how long a lingering socket's close would wait: far
// longer than any test's deadline.
const lingerSeconds = 600

// lingeringSocket is the review's attack: a TCP socket with a full send
// buffer and SO_LINGER set, whose peer never reads. The last close of it
// waits lingerSeconds. The returned descriptor is the only reference.
func lingeringSocket(t *testing.T) int {
	t.Helper()
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) { _ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, 4096) })
	}}
	l, err := lc.Listen(context.Background(), "tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 4096)
	addr := l.Addr().(*net.TCPAddr)
	if err := unix.Connect(fd, &unix.SockaddrInet4{Port: addr.Port, Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	peer, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	// Closing the peer resets the connection, which ends any close still
	// lingering once the test is over.
	t.Cleanup(func() { peer.Close() })
	if err := unix.SetNonblock(fd, true); err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 64<<10)
	for {
		if _, err := unix.Write(fd, chunk); err != nil {
			if errors.Is(err, unix.EAGAIN) {
				break
			}
			t.Fatal(err)
		}
	}
	if err := unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: lingerSeconds}); err != nil {
		t.Fatal(err)
	}
	return fd
}

// promptly fails the test unless fn returns within a deadline far below
// lingerSeconds and far above anything a loaded machine needs.
func promptly(t *testing.T, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { fn(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatalf("%s was still waiting after a minute", what)
	}
}

// TestLingeringSocketBlocksClose is the control experiment: undisarmed,
// the attack's socket does hold its close. Without it, the tests below
// could pass on a socket that never lingered.
func TestLingeringSocketBlocksClose(t *testing.T) {
	fd := lingeringSocket(t)
	done := make(chan struct{})
	go func() { unix.Close(fd); close(done) }()
	select {
	case <-done:
		t.Fatal("close returned at once: the test's socket does not linger")
	case <-time.After(time.Second):
	}
}

func TestDisarmedSocketClosesAtOnce(t *testing.T) {
	f := os.NewFile(uintptr(lingeringSocket(t)), "lingering")
	localapi.Disarm([]*os.File{f})
	promptly(t, "closing a disarmed lingering socket", func() { f.Close() })
}

// socketpair is a connected pair of Unix stream sockets: the client's raw
// descriptor and hoistd's side as a *net.UnixConn.
func socketpair(t *testing.T) (client int, server *net.UnixConn) {
	t.Helper()
	sp, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(sp[1]), "server")
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return sp[0], c.(*net.UnixConn)
}

// sendmsg writes data with fds attached, then closes the client's copies
// of fds: hoistd's are then the last.
func sendmsg(t *testing.T, client int, data []byte, fds ...int) {
	t.Helper()
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	if err := unix.Sendmsg(client, data, oob, nil, 0); err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		unix.Close(fd)
	}
}

// receiveAndClose is what hoistd does with a request: receive it, check
// the descriptors, close them.
func receiveAndClose(c *net.UnixConn) error {
	_, files, err := localapi.ReceiveRequest(c)
	if err == nil {
		_, err = localapi.CheckRunFiles(files, false)
		for _, f := range files {
			f.Close()
		}
	}
	return err
}

var runFrame = framed(`{"v":1,"op":"run","argv":["true"]}`)

// TestTheLingeringSocketAttack passes the attack's socket to hoistd in the
// ways a caller could: as stdout, in the queue of a Unix socket passed as
// stdout, in a pending connection of a listening socket, with a later frame
// than the first, and as a descriptor past the four a read once had room
// for (the kernel drops what does not fit in the reading thread). Each time
// hoistd's side refuses and closes at once.
func TestTheLingeringSocketAttack(t *testing.T) {
	null := func() int {
		fd, err := unix.Open("/dev/null", unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		return fd
	}
	cases := []struct {
		name string
		send func(t *testing.T, client int)
	}{
		{"as stdout", func(t *testing.T, client int) {
			sendmsg(t, client, runFrame, null(), lingeringSocket(t), null())
		}},
		{"queued in a Unix socket", func(t *testing.T, client int) {
			sp, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			sendmsg(t, sp[0], []byte("x"), lingeringSocket(t))
			unix.Close(sp[0])
			sendmsg(t, client, runFrame, null(), sp[1], null())
		}},
		{"queued two sockets deep", func(t *testing.T, client int) {
			inner, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			sendmsg(t, inner[0], []byte("x"), lingeringSocket(t))
			unix.Close(inner[0])
			outer, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			sendmsg(t, outer[0], []byte("y"), inner[1])
			unix.Close(outer[0])
			sendmsg(t, client, runFrame, outer[1], null(), null())
		}},
		{"in a listening socket's pending connection", func(t *testing.T, client int) {
			l, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			addr := &unix.SockaddrUnix{Name: "@hoist-test-" + t.Name()}
			if err := unix.Bind(l, addr); err != nil {
				t.Fatal(err)
			}
			if err := unix.Listen(l, 4); err != nil {
				t.Fatal(err)
			}
			conn, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			if err := unix.Connect(conn, addr); err != nil {
				t.Fatal(err)
			}
			sendmsg(t, conn, []byte("x"), lingeringSocket(t))
			unix.Close(conn)
			sendmsg(t, client, runFrame, null(), null(), l)
		}},
		{"with the frame's second part", func(t *testing.T, client int) {
			sendmsg(t, client, runFrame[:6])
			sendmsg(t, client, runFrame[6:], lingeringSocket(t))
		}},
		{"past the room for four descriptors", func(t *testing.T, client int) {
			sendmsg(t, client, runFrame, null(), null(), null(), null(), lingeringSocket(t))
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			client, server := socketpair(t)
			tc.send(t, client)
			unix.Close(client)
			var err error
			promptly(t, "hoistd's side of the lingering-socket attack", func() { err = receiveAndClose(server) })
			if err == nil || !(errors.Is(err, localapi.ErrInvalid) || errors.Is(err, localapi.ErrFrame)) {
				t.Fatalf("the request was not refused as invalid: %v", err)
			}
			t.Log(err)
		})
	}
}

// TestSignalFramesRefuseDescriptors: a descriptor sent with a frame after
// the first fails the read, and is closed at once.
func TestSignalFramesRefuseDescriptors(t *testing.T) {
	client, server := socketpair(t)
	sendmsg(t, client, framed(`{"v":1,"op":"signal","signal":2}`), lingeringSocket(t))
	var err error
	promptly(t, "reading a signal frame", func() {
		var req localapi.Request
		err = localapi.ReadFrame(localapi.Reader(server), nil, &req)
	})
	if !errors.Is(err, localapi.ErrFrame) {
		t.Fatalf("ReadFrame = %v; want a refusal wrapping ErrFrame", err)
	}
}

// TestWaitingForACallerHoldsOffNothing: while hoistd's side waits for a
// caller who sends nothing, the process still starts programs (a read
// once held syscall.ForkLock while it waited).
func TestWaitingForACallerHoldsOffNothing(t *testing.T) {
	for _, tc := range []struct {
		name string
		read func(c *net.UnixConn)
	}{
		{"the first frame", func(c *net.UnixConn) { _, _, _ = localapi.ReceiveRequest(c) }},
		{"a later frame", func(c *net.UnixConn) {
			var req localapi.Request
			_ = localapi.ReadFrame(localapi.Reader(c), nil, &req)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client, server := socketpair(t)
			defer unix.Close(client)
			waiting := make(chan struct{})
			go func() { defer close(waiting); tc.read(server) }()
			promptly(t, "starting a program", func() {
				if err := exec.Command("true").Run(); err != nil {
					t.Error(err)
				}
			})
			server.Close()
			<-waiting
		})
	}
}
