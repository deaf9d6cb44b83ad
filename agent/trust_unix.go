//go:build unix

package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// openForHash opens path for reading without blocking and without
// following a last symlink: a FIFO named like a program must not hold
// hoistd.
func openForHash(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOFOLLOW, 0)
}

// untrusted says why path cannot be elevated by an application policy, or
// "" when it can: the file and every directory above it must be root's and
// writable by nobody else, or a user could swap the program between the
// decision and the start.
func untrusted(path string) string {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return fmt.Sprintf("%s cannot be resolved", path)
	}
	path = real
	for p := path; ; p = filepath.Dir(p) {
		var st syscall.Stat_t
		if err := syscall.Stat(p, &st); err != nil {
			return fmt.Sprintf("%s cannot be checked", p)
		}
		if st.Uid != 0 {
			return fmt.Sprintf("%s is not owned by root", p)
		}
		sticky := st.Mode&syscall.S_ISVTX != 0 && p != path
		if st.Mode&0o022 != 0 && !sticky {
			return fmt.Sprintf("%s is writable by users other than root", p)
		}
		if p == "/" {
			return ""
		}
	}
}
