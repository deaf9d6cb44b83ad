package agent_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hoist-jit/hoist/agent"
	"github.com/hoist-jit/hoist/testenv"
)

// TestAutostartEntry: the quiet helper starts in every desktop session,
// as the user, from a valid entry.
func TestAutostartEntry(t *testing.T) {
	validate, err := exec.LookPath("desktop-file-validate")
	testenv.Require(t, err == nil, "needs desktop-file-validate (desktop-file-utils)")
	dir := filepath.Join(t.TempDir(), "autostart")
	for range 2 { // a second install changes nothing
		if err := agent.InstallAutostart(dir, "/usr/local/bin/hoist"); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, agent.AutostartFile)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "\nExec=/usr/local/bin/hoist jit --quiet\n") {
		t.Fatalf("entry:\n%s", data)
	}
	if out, err := exec.Command(validate, path).CombinedOutput(); err != nil || len(out) > 0 {
		t.Fatalf("desktop-file-validate: %v: %s", err, out)
	}
	if info, _ := os.Stat(path); info.Mode().Perm() != 0o644 {
		t.Fatalf("mode %v, want 0644", info.Mode().Perm())
	}
}
