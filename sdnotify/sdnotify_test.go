package sdnotify_test

import (
	"net"
	"path/filepath"
	"testing"

	"github.com/hoist-jit/hoist/sdnotify"
)

// TestSend listens where systemd would and checks what a service tells it.
func TestSend(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify")
	l, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	t.Setenv("NOTIFY_SOCKET", path)
	for _, tc := range []struct {
		name string
		send func() error
		want string
	}{
		{"ready", sdnotify.Ready, "READY=1"},
		{"stopping", sdnotify.Stopping, "STOPPING=1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.send(); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 64)
			n, err := l.Read(buf)
			if err != nil {
				t.Fatal(err)
			}
			if got := string(buf[:n]); got != tc.want {
				t.Errorf("systemd got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestWithoutSystemd: outside a Type=notify unit there is nothing to tell.
func TestWithoutSystemd(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	if err := sdnotify.Ready(); err != nil {
		t.Errorf("Ready without $NOTIFY_SOCKET: %v, want nil", err)
	}
}
