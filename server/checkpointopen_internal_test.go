//go:build unix

package server

import (
	"crypto/ed25519"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/testenv"
)

// TestCheckpointFileSymlinkRefused (review of issue 18): whoever can
// create the name DATA/audit-checkpoints (or the --audit-checkpoints path)
// before the server opens it could point it at a file they own and may
// rewrite. The server does not follow the link, and the target stays
// untouched.
func TestCheckpointFileSymlinkRefused(t *testing.T) {
	dir, elsewhere := t.TempDir(), t.TempDir()
	target := filepath.Join(elsewhere, "attacker-owned")
	if err := os.WriteFile(target, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, CheckpointFile)
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	f, err := openCheckpointFile(link)
	if err == nil {
		defer f.Close()
		_, key, _ := ed25519.GenerateKey(rand.Reader)
		_ = f.Append(hoist.SignCheckpoint(key, 1, hoist.GenesisHash, time.Now()))
		fi, _ := os.Stat(target)
		t.Fatalf("openCheckpointFile followed a symlink to a file elsewhere (now %d bytes)", fi.Size())
	}
	if !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("refusal %q does not say it is a symbolic link", err)
	}
}

// TestCheckpointFileOwnerAndModeChecked: a checkpoint file others may
// write, one another user owns, and one in a directory others may write
// without the sticky bit are refused with a message saying why; a 0600
// file of the server's own, also in a sticky world-writable directory, is
// taken.
func TestCheckpointFileOwnerAndModeChecked(t *testing.T) {
	testenv.RequireRoot(t) // to give a file to another user
	cases := []struct {
		name    string
		prepare func(t *testing.T, dir, path string)
		refusal string // "" when the file is taken
	}{
		{"own 0600", func(t *testing.T, dir, path string) { write(t, path, 0o600) }, ""},
		{"new file", func(t *testing.T, dir, path string) {}, ""},
		{"group-writable", func(t *testing.T, dir, path string) { write(t, path, 0o620) }, "writable by group or others"},
		{"world-writable", func(t *testing.T, dir, path string) { write(t, path, 0o606) }, "writable by group or others"},
		{"another owner", func(t *testing.T, dir, path string) {
			write(t, path, 0o600)
			if err := os.Chown(path, 65534, 65534); err != nil {
				t.Fatal(err)
			}
		}, "owned by uid 65534"},
		{"directory open to all", func(t *testing.T, dir, path string) { chmod(t, dir, 0o777) }, "without the sticky bit"},
		{"sticky directory open to all", func(t *testing.T, dir, path string) { chmod(t, dir, 0o777|os.ModeSticky) }, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, CheckpointFile)
			tc.prepare(t, dir, path)
			f, err := openCheckpointFile(path)
			if err == nil {
				f.Close()
			}
			switch {
			case tc.refusal == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.refusal != "" && err == nil:
				t.Errorf("taken, want refused (%s)", tc.refusal)
			case tc.refusal != "" && !strings.Contains(err.Error(), tc.refusal):
				t.Errorf("refusal %q does not say %q", err, tc.refusal)
			}
		})
	}
}

func write(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, nil, mode); err != nil {
		t.Fatal(err)
	}
	chmod(t, path, mode)
}

func chmod(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}
