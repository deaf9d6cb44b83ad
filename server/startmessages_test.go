package server_test

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hoist-jit/hoist/testenv"
)

// TestStartRefusalsSayWhy: the real hoist-server, started wrongly, says
// why on stderr and exits non-zero.
func TestStartRefusalsSayWhy(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	garbage := t.TempDir()
	if err := os.WriteFile(filepath.Join(garbage, "hoist.db"), []byte("this is my shopping list, not a database\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(testenv.Binaries(t), "hoist-server")
	for _, tc := range []struct {
		name, data, listen, want string
	}{
		{"a port out of range", t.TempDir(), "127.0.0.1:99999", "hoist-server: cannot listen on 127.0.0.1:99999: the port is not a number between 0 and 65535"},
		{"no port", t.TempDir(), "127.0.0.1", "hoist-server: cannot listen on 127.0.0.1: the address has no port: write HOST:PORT, like 127.0.0.1:8443"},
		{"an address in use", t.TempDir(), busy.Addr().String(), "hoist-server: cannot listen on " + busy.Addr().String() +
			": the address is already in use (another hoist-server, or another program, listens there)"},
		{"a garbage database", garbage, "127.0.0.1:0", "hoist-server: " + filepath.Join(garbage, "hoist.db") +
			" is not a Hoist database (it is not an SQLite file): move it away, or give --data a directory of its own"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(bin, "serve", "--data", tc.data, "--listen", tc.listen)
			cmd.Env = append(os.Environ(), "HOIST_ADMIN_PASSWORD=correct horse battery staple")
			var stderr strings.Builder
			cmd.Stderr = &stderr
			err := cmd.Run()
			if err == nil || !strings.Contains(stderr.String(), tc.want+"\n") {
				t.Fatalf("hoist-server serve --listen %s: %v, stderr:\n%s\nwant the line %q", tc.listen, err, stderr.String(), tc.want)
			}
		})
	}
}
