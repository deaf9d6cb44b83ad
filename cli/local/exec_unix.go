//go:build unix

package local

import (
	"fmt"
	"os"
	"syscall"
)

// ExecSibling is the Delegate hoist uses: it replaces this process with
// program from beside hoist (see Sibling), given args and this process's
// environment. It returns only when that fails: 1, after saying why on
// stderr.
func ExecSibling(program string, args []string) int {
	path, err := Sibling(program)
	if err == nil {
		err = syscall.Exec(path, append([]string{path}, args...), os.Environ())
	}
	fmt.Fprintln(os.Stderr, "hoist:", err)
	return 1
}
