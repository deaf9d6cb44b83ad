// Package local is the user's side of the hoist command: the commands that
// talk to hoistd on this machine (request, status, run, exit, explain),
// with a small flag parser of their own, so that "hoist run" starts without
// linking the admin client, the desktop helper, YAML or cobra. What else
// hoist does ("hoist admin", "hoist jit", usage errors, "hoist help",
// shell completion) is the whole command line of package cli, built into
// the executables installed beside hoist (hoist-admin, hoist-jit), which
// Main hands the command line to unchanged.
package local

import (
	"errors"
	"fmt"
	"io"
	"os"

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

// The executables installed beside hoist that hold the rest of its command
// line.
const (
	// AdminProgram is hoist's whole command line: "hoist admin", and what
	// the user's side leaves to it (usage errors, help, completion).
	AdminProgram = "hoist-admin"
	// JITProgram is "hoist jit", the desktop helper.
	JITProgram = "hoist-jit"
)

// Delegate runs the command line args (hoist's own, unchanged) with the
// executable program and returns its exit status. ExecSibling is the one
// hoist uses; tests pass one that runs package cli in-process.
type Delegate func(program string, args []string) int

// Main runs hoist with args and returns the exit status. A user command
// whose command line it reads (see Command.parse) runs here; anything else
// goes to delegate with the program that holds it: JITProgram for "jit",
// AdminProgram for the rest.
func Main(args []string, env Env, delegate Delegate) int {
	if len(args) == 0 || len(args) == 1 && (args[0] == "--help" || args[0] == "-h") {
		fmt.Fprint(env.Stdout, RootHelp())
		return 0
	}
	cmd := find(args[0])
	if cmd == nil {
		if args[0] == "jit" {
			return delegate(JITProgram, args)
		}
		return delegate(AdminProgram, args)
	}
	inv, ok := cmd.parse(args[1:])
	if !ok {
		return delegate(AdminProgram, args) // cobra's own words for the mistake
	}
	if inv.help {
		fmt.Fprint(env.Stdout, cmd.Help())
		return 0
	}
	return Exit(cmd.Run(env, inv), env.Stderr)
}

// Exit is the exit status for what a command returned: 0 for nil, the
// status an ExitStatus carries, hoistd's for its refusal (126 refused, 127
// not found), else 1. Every error but an ExitStatus is printed to stderr
// first, as "hoist: " and its user-safe message.
func Exit(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	var st ExitStatus
	if errors.As(err, &st) {
		return st.Code
	}
	fmt.Fprintln(stderr, "hoist:", Message(err))
	var refusal *localapi.Error
	if errors.As(err, &refusal) {
		return max(refusal.Exit, 1)
	}
	return 1
}

// ExitStatus ends the command with Code after its messages were printed.
type ExitStatus struct{ Code int }

func (e ExitStatus) Error() string { return fmt.Sprintf("exit status %d", e.Code) }

// Message is what the user reads for err: the user-safe message of a Hoist
// error, or the error's text (cobra's own usage errors).
func Message(err error) string {
	var herr *hoist.Error
	if errors.As(err, &herr) {
		return herr.Message
	}
	return err.Error()
}
