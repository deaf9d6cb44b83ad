package platform

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/hoist-jit/hoist/testenv"
)

// TestDelegatedCgroup marks a real cgroup the way systemd marks a unit's
// with Delegate=yes, and checks that hoistd would put its sessions there,
// and only there.
func TestDelegatedCgroup(t *testing.T) {
	mount, err := FindCgroup2()
	testenv.Require(t, err == nil, "needs cgroup v2")
	name := "hoist-delegate-test-" + strconv.Itoa(os.Getpid())
	dir := filepath.Join(mount, name)
	testenv.RequireRoot(t)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Remove(dir) })
	text := "4:memory:/x\n0::/" + name + "\n"
	if got, ok := delegatedAt(mount, text); ok {
		t.Fatalf("an unmarked cgroup counts as delegated: %s", got)
	}
	err = unix.Setxattr(dir, "trusted.delegate", []byte("1"), 0)
	testenv.Require(t, err == nil, "needs extended attributes on cgroupfs (kernel 5.7)")
	got, ok := delegatedAt(mount, text)
	if !ok || got != dir {
		t.Fatalf("delegatedAt = %q, %v; want %q, true", got, ok, dir)
	}
	if got, want := cgroupTracker(mount, "").Root, filepath.Join(mount, "hoist"); got != want {
		t.Errorf("outside a delegated cgroup the root is %q, want the default %q", got, want)
	}
	for _, bad := range []string{"0::/\n", "1:cpu:/" + name + "\n", "0::/" + name + "/..\n", ""} {
		if got, ok := delegatedAt(mount, bad); ok {
			t.Errorf("delegatedAt(%q) = %q, want none", bad, got)
		}
	}
}
