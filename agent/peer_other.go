//go:build !linux

package agent

import (
	"net"

	"github.com/hoist-jit/hoist/platform"
)

func peerOf(c *net.UnixConn) (Peer, error) { return Peer{}, platform.ErrNotSupported }

// resolveAs is not written for this system yet; nothing runs here anyway.
func resolveAs(p Peer, argv0, dir string) (string, error) { return "", platform.ErrNotSupported }
