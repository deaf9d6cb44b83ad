package localapi_test

import (
	"encoding/binary"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"github.com/hoist-jit/hoist/localapi"
)

// openFDs counts this process's open descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(entries) - 1 // the directory's own
}

// passable makes a descriptor of kind k%8, as a caller might pass one.
func passable(t *testing.T, k byte) int {
	t.Helper()
	must := func(fd int, err error) int {
		if err != nil {
			t.Fatal(err)
		}
		return fd
	}
	switch k % 8 {
	case 0, 1:
		var p [2]int
		if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
			t.Fatal(err)
		}
		unix.Close(p[1-int(k%2)])
		return p[k%2]
	case 2:
		return must(unix.Open("/dev/null", unix.O_RDWR|unix.O_CLOEXEC, 0))
	case 3:
		return must(unix.Open("/proc/self/exe", unix.O_RDONLY|unix.O_CLOEXEC, 0))
	case 4:
		m, s, err := pty.Open()
		if err != nil {
			t.Fatal(err)
		}
		m.Close()
		defer s.Close()
		return must(unix.Dup(int(s.Fd())))
	case 5:
		sp, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		unix.Close(sp[1])
		return sp[0]
	case 6:
		return must(unix.Open(".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0))
	}
	return must(unix.Eventfd(0, unix.EFD_CLOEXEC))
}

var warmUp sync.Once

// FuzzReceiveRequest sends hoistd's side arbitrary first bytes over a real
// Unix socket, with zero to five descriptors of varied kinds, sometimes in
// a second message: ReceiveRequest never panics, never returns more than
// MaxFDs descriptors or a frame over MaxFrame, and every descriptor that
// arrived is closed when it refuses (and by the caller when it accepts):
// the process holds as many descriptors after as before.
func FuzzReceiveRequest(f *testing.F) {
	f.Add(runFrame, []byte{2, 0, 1})
	f.Add(runFrame, []byte{4, 4, 4})
	f.Add(runFrame, []byte{0x85, 6, 7, 3, 2})
	f.Add(framed(`{"v":1,"op":"status"}`), []byte{5})
	f.Add(framed(`{"v":1,"op":"run","argv":["x"]}`)[:9], []byte{1, 1})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff}, []byte{0, 1, 2, 3, 4})
	f.Add([]byte{}, []byte{2})
	f.Fuzz(func(t *testing.T, data, kinds []byte) {
		warmUp.Do(func() { receiveOnce(t, runFrame, []byte{2, 4, 5}) })
		before := openFDs(t)
		receiveOnce(t, data, kinds)
		if after := openFDs(t); after != before {
			t.Fatalf("%d descriptors open before, %d after: a descriptor leaked", before, after)
		}
	})
}

// receiveOnce is one exchange of FuzzReceiveRequest. The first byte of
// kinds with its top bit set sends the descriptors with the bytes after
// the first, in a second message.
func receiveOnce(t *testing.T, data, kinds []byte) {
	kinds = kinds[:min(len(kinds), 5)]
	later := len(kinds) > 0 && kinds[0]&0x80 != 0 && len(data) > 1
	fds := make([]int, len(kinds))
	for i, k := range kinds {
		fds[i] = passable(t, k)
	}
	client, server := socketpair(t)
	defer server.Close()
	_ = server.SetReadDeadline(time.Now().Add(time.Minute))
	sent := make(chan error, 1)
	go func() {
		var oob []byte
		if len(fds) > 0 {
			oob = unix.UnixRights(fds...)
		}
		first, firstOOB, rest := data, oob, []byte(nil)
		if later {
			first, firstOOB, rest = data[:1], nil, data[1:]
		}
		send := func(b, oob []byte) error {
			if len(b) == 0 && oob == nil {
				return nil
			}
			err := unix.Sendmsg(client, b, oob, nil, 0)
			if errors.Is(err, unix.EPIPE) || errors.Is(err, unix.ECONNRESET) {
				return nil // hoistd's side stopped reading
			}
			return err
		}
		err := send(first, firstOOB)
		if err == nil && later {
			err = send(rest, oob)
		}
		for _, fd := range fds {
			unix.Close(fd)
		}
		unix.Close(client)
		sent <- err
	}()
	req, files, err := localapi.ReceiveRequest(server)
	server.Close() // lets a sender still writing finish
	if serr := <-sent; serr != nil {
		t.Fatal(serr)
	}
	if err != nil {
		if files != nil {
			t.Fatalf("refused (%v) but returned %d descriptors", err, len(files))
		}
		return
	}
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	if len(files) > localapi.MaxFDs {
		t.Fatalf("took %d descriptors", len(files))
	}
	if size := binary.BigEndian.Uint32(append(append([]byte(nil), data...), 0, 0, 0, 0)); size > localapi.MaxFrame {
		t.Fatalf("took a frame of %d bytes", size)
	}
	_ = req.Check()
	_, _ = localapi.CheckRunFiles(files, req.TTY)
}
