// Command hoist is the command line of Hoist, for users and for admins. See
// "hoist --help".
package main

import (
	"os"

	"github.com/hoist-jit/hoist/cli"
)

func main() { os.Exit(cli.Run(os.Args[1:], cli.OSEnv())) }
