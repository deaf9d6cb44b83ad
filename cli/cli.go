// Package cli is the "hoist" command: the user's side (talking to hoistd on
// this machine) and the admin's side ("hoist admin", talking to
// hoist-server). cmd/hoist only calls Run.
package cli

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/localapi"
)

// Env is the process environment the command runs in, so that tests run it
// in-process.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Getenv         func(string) string
}

// OSEnv is the environment of this process.
func OSEnv() Env {
	return Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}
}

// Run runs hoist with args and returns the exit status: 0 on success, 1 on
// an error (printed to stderr), or the status a command chose.
func Run(args []string, env Env) int {
	root := &cobra.Command{
		Use:           "hoist",
		Short:         "Just-in-time elevated access: ask for it, use it, and administer it",
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
	var socket string
	user := []*cobra.Command{newRequest(env, &socket), newStatus(env, &socket), newRun(env, &socket), newExit(env, &socket), newExplain(env, &socket), newJIT(env, &socket)}
	for _, c := range user {
		// Only the user's commands talk to hoistd: admin commands have no
		// --socket to mislead.
		c.Flags().StringVar(&socket, "socket", "", "hoistd's socket (default $HOIST_SOCKET, else "+localapi.DefaultSocket+")")
	}
	root.AddCommand(newAdmin(env))
	root.AddCommand(user...)
	err := root.Execute()
	if err == nil {
		return 0
	}
	var st exitStatus
	if errors.As(err, &st) {
		return st.code
	}
	fmt.Fprintln(env.Stderr, "hoist:", message(err))
	var refusal *localapi.Error
	if errors.As(err, &refusal) {
		return max(refusal.Exit, 1) // hoistd's status: 126 refused, 127 not found
	}
	return 1
}

// exitStatus ends the command with code after its messages were printed.
type exitStatus struct{ code int }

func (e exitStatus) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// message is what the user reads for err: the user-safe message of a Hoist
// error, or the text of cobra's own usage errors.
func message(err error) string {
	var herr *hoist.Error
	if errors.As(err, &herr) {
		return herr.Message
	}
	return err.Error()
}

// needCommand refuses a command line without the program to act on, and
// says what to type.
func needCommand(verb string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return hoist.Errorf(hoist.EInvalid, "name the program to %s, like: hoist %s -- apt update", verb, verb)
		}
		return nil
	}
}

// plural says n of a noun: "1 elevated process", "2 elevated processes".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
