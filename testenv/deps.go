package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// DepsEnv is the build a dependency list is taken for: how the release
// binaries are built (scripts/run), on the platform Hoist ships for real.
// Fixed here so that the list does not change with the machine a test runs
// on.
var DepsEnv = []string{"GOOS=linux", "GOARCH=amd64", "CGO_ENABLED=0"}

// CheckDeps compares the packages pkg (a path as the go command takes it,
// relative to the test's directory) links, standard library included, with
// the list checked in at file. It fails t with what was added and removed,
// and how to regenerate the list; with update it rewrites file instead.
// regen is the command that regenerates it, for the file's header and the
// failure message.
func CheckDeps(t testing.TB, pkg, file, regen string, update bool) {
	t.Helper()
	got, err := ListDeps(pkg)
	if err != nil {
		t.Fatal(err)
	}
	if update {
		if err := os.WriteFile(file, []byte(depsHeader(pkg, regen)+strings.Join(got, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("no dependency list (%v): run %s", err, regen)
	}
	want := parseDeps(string(data))
	added, removed := diffSorted(want, got)
	if len(added)+len(removed) == 0 {
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "the packages %s links differ from %s:\n", pkg, file)
	if len(added) > 0 {
		fmt.Fprintf(&b, "linked, not in the list:\n")
		for _, p := range added {
			fmt.Fprintf(&b, "  + %s\n", p)
		}
	}
	if len(removed) > 0 {
		fmt.Fprintf(&b, "in the list, no longer linked:\n")
		for _, p := range removed {
			fmt.Fprintf(&b, "  - %s\n", p)
		}
	}
	fmt.Fprintf(&b, "A new dependency of this binary is a reviewed change: if it is meant, run\n  %s\nand commit %s with the change.", regen, file)
	t.Error(b.String())
}

// ListDeps returns, sorted, every package pkg links under DepsEnv.
func ListDeps(pkg string) ([]string, error) {
	cmd := exec.Command("go", "list", "-deps", pkg)
	cmd.Env = append(os.Environ(), DepsEnv...)
	out, err := cmd.Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return nil, fmt.Errorf("go list -deps %s: %v\n%s", pkg, err, ee.Stderr)
		}
		return nil, fmt.Errorf("go list -deps %s: %v", pkg, err)
	}
	return parseDeps(string(out)), nil
}

func depsHeader(pkg, regen string) string {
	return fmt.Sprintf(`# Every package %s links, standard library included, for
#   %s go list -deps %s
# A test compares this list with the build; a change to it is a reviewed
# change. Regenerate with:
#   %s
`, pkg, strings.Join(DepsEnv, " "), pkg, regen)
}

// parseDeps reads a list: one package a line, # comments and blank lines
// ignored; sorted and without duplicates.
func parseDeps(s string) []string {
	var out []string
	for line := range strings.SplitSeq(s, "\n") {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") {
			out = append(out, line)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// diffSorted returns what got has and want lacks, and the other way round.
func diffSorted(want, got []string) (added, removed []string) {
	for _, p := range got {
		if _, found := slices.BinarySearch(want, p); !found {
			added = append(added, p)
		}
	}
	for _, p := range want {
		if _, found := slices.BinarySearch(got, p); !found {
			removed = append(removed, p)
		}
	}
	return added, removed
}
