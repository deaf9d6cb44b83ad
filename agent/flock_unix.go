//go:build unix

package agent

import (
	"os"
	"syscall"
)

// lockDir holds an exclusive lock of the open directory d until the
// returned func is called.
func lockDir(d *os.File) (func(), error) {
	if err := syscall.Flock(int(d.Fd()), syscall.LOCK_EX); err != nil {
		return nil, err
	}
	return func() { _ = syscall.Flock(int(d.Fd()), syscall.LOCK_UN) }, nil
}
