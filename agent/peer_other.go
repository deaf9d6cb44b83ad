//go:build !linux

package agent

import (
	"net"
	"os"

	"github.com/hoist-jit/hoist/platform"
)

func peerOf(c *net.UnixConn) (Peer, error) { return Peer{}, platform.ErrNotSupported }

func isTerminal(f *os.File) bool { return false }

// resolveAs is not written for this system yet; nothing runs here anyway.
func resolveAs(p Peer, argv0, dir string) (string, error) { return "", platform.ErrNotSupported }
