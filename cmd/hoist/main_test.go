package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSiblings: hoist runs "hoist admin" with the hoist-admin beside it,
// says which executable is missing when it is not there, and takes none
// from elsewhere — not from $PATH, not through a link in its place.
func TestSiblings(t *testing.T) {
	dir := t.TempDir()
	build := exec.Command("go", "build", "-o", dir+"/", ".", "../hoist-admin")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	hoist, admin := filepath.Join(dir, "hoist"), filepath.Join(dir, "hoist-admin")
	run := func(args ...string) (int, string, string) {
		cmd := exec.Command(hoist, args...)
		// A hoist-admin on PATH must never be the one that runs.
		cmd.Env = []string{"PATH=" + t.TempDir() + ":/usr/bin:/bin"}
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return code, out.String(), errb.String()
	}

	code, out, _ := run("--help")
	if code != 0 || !strings.Contains(out, "\n  admin ") || !strings.Contains(out, "\n  jit ") {
		t.Errorf("hoist --help: exit %d, it must list admin and jit:\n%s", code, out)
	}
	code, out, errs := run("admin", "--help")
	if code != 0 || !strings.HasPrefix(out, "Administer Hoist through hoist-server") {
		t.Errorf("hoist admin --help: exit %d\nstdout: %s\nstderr: %s", code, out, errs)
	}
	code, _, errs = run("status", "--bogus")
	if want := "hoist: unknown flag: --bogus (see hoist status --help)\n"; code != 1 || errs != want {
		t.Errorf("hoist status --bogus: exit %d, stderr %q; want 1, %q", code, errs, want)
	}

	elsewhere := filepath.Join(t.TempDir(), "hoist-admin")
	if err := os.Rename(admin, elsewhere); err != nil {
		t.Fatal(err)
	}
	code, _, errs = run("admin", "approvals")
	if want := "hoist: hoist-admin is not installed: it should be beside hoist, at " + admin + "\n"; code != 1 || errs != want {
		t.Errorf("without hoist-admin: exit %d, stderr %q; want 1, %q", code, errs, want)
	}
	if err := os.Symlink(elsewhere, admin); err != nil {
		t.Fatal(err)
	}
	code, out, errs = run("admin", "--help")
	if code != 1 || out != "" || !strings.Contains(errs, "not a regular file") {
		t.Errorf("with a link in hoist-admin's place: exit %d\nstdout: %s\nstderr: %s", code, out, errs)
	}
}
