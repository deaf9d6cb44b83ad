//go:build !unix

package localapi

import (
	"errors"
	"net"
	"os"
)

// SendRequest is not supported here yet.
func SendRequest(c *net.UnixConn, req Request, files ...*os.File) error {
	return errors.New("passing descriptors is not supported on this operating system yet")
}

// ReceiveRequest is not supported here yet.
func ReceiveRequest(c *net.UnixConn) (Request, []*os.File, error) {
	return Request{}, nil, errors.New("passing descriptors is not supported on this operating system yet")
}
