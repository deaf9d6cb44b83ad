// Command hoistd is Hoist's agent: the root broker on each machine that
// starts elevated programs for users in an approved JIT session and ends
// them when it ends. See "hoistd --help".
package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/hoist-jit/hoist"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	root := &cobra.Command{
		Use:           "hoistd",
		Short:         "Hoist agent: the root broker for just-in-time elevation on this machine",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetArgs(args)
	root.AddCommand(newServe(stdout, stderr), newGrant(stdout), newEnroll())
	if err := root.Execute(); err != nil {
		var herr *hoist.Error
		msg := err.Error()
		if errors.As(err, &herr) {
			msg = herr.Message
		}
		fmt.Fprintln(stderr, "hoistd:", msg)
		return 1
	}
	return 0
}

func newEnroll() *cobra.Command {
	return &cobra.Command{
		Use:   "enroll --server URL --token TOKEN [--state DIR]",
		Short: "Enrol this machine with a hoist-server (not available yet)",
		RunE: func(cmd *cobra.Command, args []string) error {
			return hoist.Errorf(hoist.EUnavailable, "enrolment with a hoist-server is not built yet; use hoistd grant for local grants")
		},
	}
}
