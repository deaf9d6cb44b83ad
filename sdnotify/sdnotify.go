// Package sdnotify tells systemd how a service is doing, over the datagram
// socket systemd names in $NOTIFY_SOCKET (the sd_notify protocol): ready,
// and stopping. Outside a Type=notify unit every call
// does nothing.
package sdnotify

import (
	"net"
	"os"
)

// Send sends state (e.g. "READY=1") to systemd. It returns nil without a
// notification socket: not every start is a systemd unit's.
func Send(state string) error {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return nil
	}
	if path[0] == '@' {
		path = "\x00" + path[1:] // an abstract socket
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Write([]byte(state))
	return err
}

// Ready says the service is up: systemctl start returns, and units ordered
// after it start.
func Ready() error { return Send("READY=1") }

// Stopping says the service is shutting down.
func Stopping() error { return Send("STOPPING=1") }
