//go:build !unix

package cli

import (
	"github.com/spf13/cobra"

	"github.com/hoist-jit/hoist"
)

func newRun(env Env, socket *string) *cobra.Command {
	return &cobra.Command{
		Use:   "run [--] CMD [ARG...]",
		Short: "Run CMD elevated (not supported on this operating system yet)",
		RunE: func(cmd *cobra.Command, args []string) error {
			return hoist.Errorf(hoist.EUnavailable, "hoist run is not supported on this operating system yet")
		},
	}
}
