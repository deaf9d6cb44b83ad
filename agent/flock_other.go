//go:build !unix

package agent

import (
	"os"

	"github.com/hoist-jit/hoist/platform"
)

// lockDir is not written for this system: there is no sudo integration.
func lockDir(*os.File) (func(), error) { return nil, platform.ErrNotSupported }
