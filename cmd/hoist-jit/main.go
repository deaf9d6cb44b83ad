// Command hoist-jit is "hoist jit", the JIT helper the desktop launcher
// starts. It is installed beside hoist, which execs it with its own
// arguments: run it as "hoist jit …".
package main

import (
	"os"

	"github.com/hoist-jit/hoist/cli"
)

func main() { os.Exit(cli.RunJIT(os.Args[1:], cli.OSEnv())) }
