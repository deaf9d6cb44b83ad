// Command hoist is the command line of Hoist, for users and for admins. See
// "hoist --help". The user's commands (request, status, run, exit,
// explain) run here; "hoist admin", "hoist jit" and what else the command
// line has are the executables hoist-admin and hoist-jit installed beside
// it, which hoist execs, so that what every elevation starts stays small.
package main

import (
	"os"

	"github.com/hoist-jit/hoist/cli/local"
)

func main() { os.Exit(local.Main(os.Args[1:], local.OSEnv(), local.ExecSibling)) }
