//go:build !unix

package local

import (
	"github.com/hoist-jit/hoist"
)

var runCommand = Command{
	Name:    "run",
	Use:     "run [--] CMD [ARG...]",
	Short:   "Run CMD elevated (not supported on this operating system yet)",
	Program: true,
	Run: func(env Env, inv Invocation) error {
		return hoist.Errorf(hoist.EUnavailable, "hoist run is not supported on this operating system yet")
	},
}
