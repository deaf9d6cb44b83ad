//go:build !unix

package localapi

import (
	"errors"
	"io"
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

// Reader is not supported here yet: every read fails.
func Reader(c *net.UnixConn) io.Reader { return unsupportedReader{} }

type unsupportedReader struct{}

func (unsupportedReader) Read([]byte) (int, error) {
	return 0, errors.New("the local API is not supported on this operating system yet")
}
