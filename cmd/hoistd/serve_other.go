//go:build !linux

package main

import (
	"io"

	"github.com/spf13/cobra"

	"github.com/hoist-jit/hoist"
)

func newServe(stdout, stderr io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "run",
		Short: "Serve the local socket (not supported on this operating system yet)",
		RunE: func(cmd *cobra.Command, args []string) error {
			return hoist.Errorf(hoist.EUnavailable, "hoistd is not supported on this operating system yet")
		},
	}
}

func newGrant(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "grant USER --for DURATION",
		Short: "Grant JIT elevated access locally (not supported on this operating system yet)",
		RunE: func(cmd *cobra.Command, args []string) error {
			return hoist.Errorf(hoist.EUnavailable, "hoistd is not supported on this operating system yet")
		},
	}
}

func newEndSessions(stdout, stderr io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "end-sessions",
		Short: "End every JIT session on this machine (not supported on this operating system yet)",
		RunE: func(cmd *cobra.Command, args []string) error {
			return hoist.Errorf(hoist.EUnavailable, "hoistd is not supported on this operating system yet")
		},
	}
}
