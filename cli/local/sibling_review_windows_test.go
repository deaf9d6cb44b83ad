package local

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSiblingReviewWindowsExe: on Windows the executables installed beside
// hoist are hoist-admin.exe and hoist-jit.exe, and no file there has
// Unix's execute bits (os.FileMode has none on Windows): Sibling must find
// hoist-admin.exe, or "hoist admin", "hoist jit", "hoist help" and every
// usage error say "hoist-admin is not installed" on every Windows machine.
func TestSiblingReviewWindowsExe(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(filepath.Dir(self), AdminProgram+".exe")
	if _, err := os.Lstat(want); err == nil {
		t.Skipf("%s exists already; not touching it", want)
	}
	if err := os.WriteFile(want, []byte("MZ"), 0o755); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(want)
	got, err := Sibling(AdminProgram)
	if err != nil {
		t.Fatalf("Sibling(%q): %v; want %s", AdminProgram, err, want)
	}
	if !strings.EqualFold(got, want) {
		t.Errorf("Sibling(%q) = %s, want %s", AdminProgram, got, want)
	}
}
