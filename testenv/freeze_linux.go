//go:build linux

package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// FreezableFS is a small ext4 file system on a loop device of its own.
// Freezing it (fsfreeze, as for a snapshot) makes every write to it block
// in uninterruptible sleep ("D"), from which not even SIGKILL wakes a
// process: the state a hung NFS or FUSE mount leaves processes in.
type FreezableFS struct {
	Dir    string
	dev    string
	frozen bool
}

// NewFreezableFS makes, mounts and (at cleanup) thaws, unmounts and
// detaches one. Create it after the groups the test ends, so that its
// cleanup, which runs first, thaws what theirs must kill.
func NewFreezableFS(t testing.TB) *FreezableFS {
	t.Helper()
	RequireRoot(t)
	for _, tool := range []string{"mkfs.ext4", "losetup", "fsfreeze", "mount", "umount"} {
		_, err := exec.LookPath(tool)
		Require(t, err == nil, "needs "+tool+" (e2fsprogs, util-linux)")
	}
	tmp := PublicDir(t) // non-root helpers reach the mount through it
	img, dir := filepath.Join(tmp, "fs.img"), filepath.Join(tmp, "mnt")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	runTool(t, "truncate", "-s", "16M", img)
	runTool(t, "mkfs.ext4", "-q", "-F", img)
	out, err := exec.Command("losetup", "--find", "--show", img).CombinedOutput()
	Require(t, err == nil, fmt.Sprintf("needs a free loop device: %v: %s", err, out))
	fs := &FreezableFS{Dir: dir, dev: strings.TrimSpace(string(out))}
	t.Cleanup(func() {
		fs.ThawIfFrozen()
		// Lazily: processes still on it die once the other cleanups run.
		_ = exec.Command("umount", "-l", dir).Run()
		_ = exec.Command("losetup", "-d", fs.dev).Run()
	})
	runTool(t, "mount", fs.dev, dir)
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	return fs
}

// Freeze freezes the file system: writes to it block from now on.
func (fs *FreezableFS) Freeze(t testing.TB) {
	t.Helper()
	runTool(t, "fsfreeze", "-f", fs.Dir)
	fs.frozen = true
}

// Thaw lets the blocked writes go on.
func (fs *FreezableFS) Thaw(t testing.TB) {
	t.Helper()
	runTool(t, "fsfreeze", "-u", fs.Dir)
	fs.frozen = false
}

// ThawIfFrozen is for cleanups that must wait for a process on the file
// system to die: they thaw it first.
func (fs *FreezableFS) ThawIfFrozen() {
	if fs.frozen {
		_ = exec.Command("fsfreeze", "-u", fs.Dir).Run()
		fs.frozen = false
	}
}

func runTool(t testing.TB, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v: %s", name, args, err, out)
	}
}
