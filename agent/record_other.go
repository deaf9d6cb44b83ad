//go:build !linux

package agent

import (
	"os"

	"github.com/hoist-jit/hoist/platform"
)

// Terminal recording is Linux-only for now: hoistd elsewhere runs the
// program on the caller's terminal, unrecorded.

func openPTY() (leader, follower *os.File, err error) { return nil, nil, platform.ErrNotSupported }

func pollable(f *os.File) (*os.File, error) { return nil, platform.ErrNotSupported }

func winSize(f *os.File) (cols, rows int) { return 80, 24 }

func setWinSize(f *os.File, cols, rows int) error { return platform.ErrNotSupported }

func takeOverTerminal(caller, leader *os.File) error { return platform.ErrNotSupported }
