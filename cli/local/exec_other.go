//go:build !unix

package local

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
)

// ExecSibling is the Delegate hoist uses: it runs program from beside
// hoist (see Sibling) with args, this process's standard files and
// environment, and returns its exit status (where there is no exec(2) to
// replace this process); 1 when it cannot start, after saying why on
// stderr.
func ExecSibling(program string, args []string) int {
	path, err := Sibling(program)
	if err == nil {
		cmd := exec.Command(path, args...)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
		err = cmd.Run()
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return exit.ExitCode()
		}
		if err == nil {
			return 0
		}
	}
	fmt.Fprintln(os.Stderr, "hoist:", err)
	return 1
}
