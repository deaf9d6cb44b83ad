package local

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
)

// Sibling is the path of program beside the running hoist: in the same
// directory as os.Executable, never looked up in $PATH (a directory the
// user put first must not choose what "hoist admin" runs). It must be a
// regular executable file there, not a symbolic link to one elsewhere.
func Sibling(program string) (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("cannot find where hoist is installed, to run %s beside it: %v", program, err)
	}
	if resolved, err := filepath.EvalSymlinks(self); err == nil {
		self = resolved // /usr/bin/hoist as the link /bin/hoist names it
	}
	if runtime.GOOS == "windows" {
		program += ".exe" // and Windows files have no execute bits to look at
	}
	path := filepath.Join(filepath.Dir(self), program)
	fi, err := os.Lstat(path)
	switch {
	case os.IsNotExist(err):
		return "", fmt.Errorf("%s is not installed: it should be beside hoist, at %s", program, path)
	case err != nil:
		return "", fmt.Errorf("cannot run %s: %v", path, err)
	case !fi.Mode().IsRegular():
		return "", fmt.Errorf("cannot run %s: not a regular file (a link or other file in its place)", path)
	case runtime.GOOS != "windows" && fi.Mode().Perm()&0o111 == 0:
		return "", fmt.Errorf("cannot run %s: not executable", path)
	}
	return path, nil
}
