package server

import (
	"errors"
	"net"
	"strings"
	"syscall"

	"github.com/hoist-jit/hoist"
)

// listen listens on addr for what (the flag that named it); a failure says
// why in words an administrator can act on, the OS error kept for the logs.
func listen(what, addr string) (net.Listener, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, hoist.WrapError(hoist.EUnavailable, "cannot listen on "+what+addr+": "+listenReason(err), err)
	}
	return l, nil
}

// listenReason is why net.Listen failed.
func listenReason(err error) string {
	var (
		addrErr *net.AddrError
		dnsErr  *net.DNSError
		errno   syscall.Errno
	)
	switch {
	case errors.As(err, &addrErr) && strings.Contains(addrErr.Err, "invalid port"):
		return "the port is not a number between 0 and 65535"
	case errors.As(err, &addrErr) && strings.Contains(addrErr.Err, "missing port"):
		return "the address has no port: write HOST:PORT, like 127.0.0.1:8443"
	case errors.As(err, &addrErr):
		return addrErr.Err
	case errors.As(err, &dnsErr):
		return "the host name does not resolve (" + dnsErr.Err + ")"
	case errors.As(err, &errno) && errno == syscall.EADDRINUSE:
		return "the address is already in use (another hoist-server, or another program, listens there)"
	case errors.As(err, &errno) && errno == syscall.EACCES:
		return "permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)"
	case errors.As(err, &errno) && errno == syscall.EADDRNOTAVAIL:
		return "no network interface of this machine has that address"
	case errors.As(err, &errno):
		return errno.Error()
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Err != nil {
		return opErr.Err.Error()
	}
	return err.Error()
}
