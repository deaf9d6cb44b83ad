// Package cli is the whole "hoist" command line, in cobra: the user's side
// (talking to hoistd on this machine; its commands are package local's),
// the admin's side ("hoist admin", talking to hoist-server) and the JIT
// helper ("hoist jit"). cmd/hoist-admin and cmd/hoist-jit call Run and
// RunJIT; cmd/hoist runs package local, which hands them what it does not
// run itself.
package cli

import (
	"github.com/spf13/cobra"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/cli/local"
)

// Env is the process environment the command runs in, so that tests run it
// in-process.
type Env = local.Env

// OSEnv is the environment of this process.
func OSEnv() Env { return local.OSEnv() }

// Run runs hoist with args and returns the exit status: 0 on success, 1 on
// an error (printed to stderr), or the status a command chose.
func Run(args []string, env Env) int {
	root := newRoot(env, args)
	root.AddCommand(newAdmin(env))
	root.AddCommand(userCommands(env)...)
	root.AddCommand(newJIT(env))
	return local.Exit(root.Execute(), env.Stderr)
}

// RunJIT runs "hoist jit" (args start with "jit"), as Run would, in a
// command line that has only the JIT helper.
func RunJIT(args []string, env Env) int {
	root := newRoot(env, args)
	root.AddCommand(newJIT(env))
	return local.Exit(root.Execute(), env.Stderr)
}

func newRoot(env Env, args []string) *cobra.Command {
	root := &cobra.Command{
		Use:           "hoist",
		Short:         local.RootShort,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(env.Stdin)
	root.SetOut(env.Stdout)
	root.SetErr(env.Stderr)
	root.SetArgs(args)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return hoist.Errorf(hoist.EInvalid, "%v (see %s --help)", err, c.CommandPath())
	})
	return root
}

// exitStatus ends the command with code after its messages were printed.
type exitStatus = local.ExitStatus
