//go:build unix

package localapi

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// MaxFDs is the most descriptors one frame may carry: stdin, stdout, stderr.
const MaxFDs = 3

// maxRights is the most descriptors the kernel attaches to one message
// (SCM_MAX_FD). Reads leave room for all of them: the kernel drops what
// does not fit itself, in the reading thread, and dropping the last
// reference to a lingering socket there blocks that thread.
const maxRights = 253

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
// that came with its first bytes. Every descriptor that arrives is
// close-on-exec and disarmed (see Disarm) before anything else happens to
// it. It refuses more than MaxFDs descriptors, descriptors after the first
// bytes, and any frame ReadFrame refuses, closing whatever arrived; then
// the error wraps ErrFrame. It does not Check the request.
func ReceiveRequest(c *net.UnixConn) (Request, []*os.File, error) {
	var req Request
	hdr := make([]byte, 4)
	n, files, err := readRights(c, hdr)
	switch {
	case err != nil:
		closeAll(files)
		return req, nil, err
	case n == 0:
		closeAll(files)
		return req, nil, errors.New("connection closed before a request")
	case len(files) > MaxFDs:
		closeAll(files)
		return req, nil, fmt.Errorf("%w: %d descriptors, at most %d", ErrFrame, len(files), MaxFDs)
	}
	if err := ReadFrame(Reader(c), hdr[:n], &req); err != nil {
		closeAll(files)
		return req, nil, err
	}
	return req, files, nil
}

// Reader is c as ReadFrame's reader for every frame after the first: it
// takes any descriptors that come with the bytes, disarms and closes them,
// and fails the read with ErrFrame. A plain read would leave them to the
// kernel to drop in the reading thread, where the last reference to a
// lingering socket blocks it.
func Reader(c *net.UnixConn) io.Reader { return refuseRights{c} }

type refuseRights struct{ c *net.UnixConn }

// Read drops the bytes that came with descriptors: the frame they belong
// to is refused, and a reader such as io.ReadFull would not see an error
// that comes with all the bytes it asked for.
func (r refuseRights) Read(p []byte) (int, error) {
	n, files, err := readRights(r.c, p)
	if len(files) > 0 {
		closeAll(files)
		return 0, fmt.Errorf("%w: descriptors where none belong", ErrFrame)
	}
	return n, err
}

// readRights reads c into p with room for every descriptor the kernel may
// attach, and returns those disarmed (even with an error).
func readRights(c *net.UnixConn, p []byte) (int, []*os.File, error) {
	oob := make([]byte, unix.CmsgSpace(4*maxRights))
	// Go reads with MSG_CMSG_CLOEXEC, so no descriptor is ever open here
	// without close-on-exec. (syscall.ForkLock must not be held around
	// this read: it waits on the caller, and every fork in the process
	// would wait with it.)
	n, oobn, flags, _, err := c.ReadMsgUnix(p, oob)
	var files []*os.File
	var parseErr error
	if oobn > 0 {
		files, parseErr = parseRights(oob[:oobn])
	}
	Disarm(files)
	switch {
	case err != nil:
		return n, files, err
	case parseErr != nil:
		return n, files, parseErr
	case flags&unix.MSG_CTRUNC != 0:
		return n, files, fmt.Errorf("%w: too many descriptors", ErrFrame)
	}
	return n, files, nil
}

// parseRights turns the control messages of one read into files. Any
// control message but SCM_RIGHTS is a protocol violation, reported after
// every descriptor has been taken.
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
			files = append(files, adopt(fd))
		}
	}
	if bad {
		return files, fmt.Errorf("%w: unexpected control message", ErrFrame)
	}
	return files, nil
}

func closeAll(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}
