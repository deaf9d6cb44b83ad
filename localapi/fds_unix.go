//go:build unix

package localapi

import (
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// MaxFDs is the most descriptors one frame may carry: stdin, stdout, stderr.
const MaxFDs = 3

// SendRequest writes req as one frame with files attached to its first
// bytes.
func SendRequest(c *net.UnixConn, req Request, files ...*os.File) error {
	if len(files) > MaxFDs {
		return fmt.Errorf("at most %d descriptors", MaxFDs)
	}
	var buf bytesWriter
	if err := WriteFrame(&buf, req); err != nil {
		return err
	}
	var oob []byte
	if len(files) > 0 {
		fds := make([]int, len(files))
		for i, f := range files {
			fds[i] = int(f.Fd())
		}
		oob = unix.UnixRights(fds...)
	}
	n, _, err := c.WriteMsgUnix(buf, oob, nil)
	if err != nil {
		return err
	}
	if n < len(buf) {
		_, err = c.Write(buf[n:])
	}
	return err
}

type bytesWriter []byte

func (b *bytesWriter) Write(p []byte) (int, error) { *b = append(*b, p...); return len(p), nil }

// ReceiveRequest reads the first frame of a connection and the descriptors
// that came with it. It refuses more than MaxFDs descriptors, or truncated
// control data, closing whatever arrived; the descriptors it returns are
// close-on-exec.
func ReceiveRequest(c *net.UnixConn) (Request, []*os.File, error) {
	var req Request
	hdr := make([]byte, 4)
	oob := make([]byte, unix.CmsgSpace(4*(MaxFDs+1)))
	// Hold fork off while descriptors are in the open without CLOEXEC
	// (belt and braces: Go already asks for MSG_CMSG_CLOEXEC).
	syscall.ForkLock.RLock()
	n, oobn, flags, _, err := c.ReadMsgUnix(hdr, oob)
	var files []*os.File
	var parseErr error
	if err == nil && oobn > 0 {
		files, parseErr = parseRights(oob[:oobn])
	}
	syscall.ForkLock.RUnlock()
	closeAll := func() {
		for _, f := range files {
			f.Close()
		}
	}
	switch {
	case err != nil:
		return req, nil, err
	case parseErr != nil:
		closeAll()
		return req, nil, parseErr
	case flags&unix.MSG_CTRUNC != 0:
		closeAll()
		return req, nil, fmt.Errorf("%w: too many descriptors", ErrFrame)
	case n == 0:
		closeAll()
		return req, nil, errors.New("connection closed before a request")
	case len(files) > MaxFDs:
		closeAll()
		return req, nil, fmt.Errorf("%w: %d descriptors, at most %d", ErrFrame, len(files), MaxFDs)
	}
	if err := ReadFrame(c, hdr[:n], &req); err != nil {
		closeAll()
		return req, nil, err
	}
	return req, files, nil
}

func parseRights(oob []byte) ([]*os.File, error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, fmt.Errorf("%w: bad control message: %v", ErrFrame, err)
	}
	var files []*os.File
	var bad bool
	for _, m := range msgs {
		fds, err := unix.ParseUnixRights(&m)
		if err != nil {
			bad = true
			continue
		}
		for _, fd := range fds {
			unix.CloseOnExec(fd)
			files = append(files, os.NewFile(uintptr(fd), "passed"))
		}
	}
	if bad {
		for _, f := range files {
			f.Close()
		}
		return nil, fmt.Errorf("%w: unexpected control message", ErrFrame)
	}
	return files, nil
}
