//go:build !linux

package localapi

import (
	"errors"
	"net"
	"os"
)

// Classify is not supported here yet: it returns KindOther.
func Classify(f *os.File) (Kind, error) {
	return KindOther, errors.ErrUnsupported
}

// CheckRunFiles is not supported here yet: it refuses every run.
func CheckRunFiles(files []*os.File, tty bool) ([]Kind, error) {
	return nil, errors.New("checking descriptors is not supported on this operating system yet")
}

// Disarm does nothing here yet.
func Disarm(files []*os.File) {}

// DrainConn does nothing here yet.
func DrainConn(c *net.UnixConn) {}
