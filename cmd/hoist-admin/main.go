// Command hoist-admin is hoist's whole command line: "hoist admin" (the
// admin client of hoist-server) and what the user's hoist leaves to it
// (help topics, usage errors, shell completion). It is installed beside
// hoist, which execs it with its own arguments: run it as "hoist admin …".
package main

import (
	"os"

	"github.com/hoist-jit/hoist/cli"
)

func main() { os.Exit(cli.Run(os.Args[1:], cli.OSEnv())) }
