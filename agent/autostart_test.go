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

// TestDesktopEntriesNameTheInstalledHoist: the machine-wide entries run the
// installed hoist (or the one hoistd was told of), never a build directory's
// that may be gone tomorrow, and an agent writes them only where its
// configuration says.
func TestDesktopEntriesNameTheInstalledHoist(t *testing.T) {
	system := ""
	if info, err := os.Stat(agent.SystemHoist); err == nil && info.Mode().IsRegular() && info.Mode()&0o111 != 0 {
		system = agent.SystemHoist
	}
	for _, tc := range []struct{ given, want string }{
		{"/opt/hoist/bin/hoist", "/opt/hoist/bin/hoist"},
		{"/opt/hoist/bin/../bin/hoist", "/opt/hoist/bin/hoist"},
		{"bin/hoist", system}, // relative: means nothing to a desktop session
		{"", system},
	} {
		if got := agent.InstalledHoist(tc.given); got != tc.want {
			t.Errorf("InstalledHoist(%q) = %q, want %q", tc.given, got, tc.want)
		}
	}

	dir := filepath.Join(t.TempDir(), "autostart")
	a, err := agent.New(agent.Config{StateDir: t.TempDir(), AutostartDir: dir, DesktopDir: t.TempDir(), HoistPath: agent.InstalledHoist("/opt/hoist/bin/hoist")})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	data, err := os.ReadFile(filepath.Join(dir, agent.AutostartFile))
	if err != nil {
		t.Fatalf("the agent did not write its autostart entry: %v", err)
	}
	if !strings.Contains(string(data), "\nExec=/opt/hoist/bin/hoist jit --quiet\n") {
		t.Fatalf("entry:\n%s", data)
	}
}
