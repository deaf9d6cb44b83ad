//go:build windows

package server

import (
	"fmt"
	"os"
)

// openCheckpointPath opens the checkpoint file at path for appending,
// creating it. On Windows it refuses a symbolic link; owner and ACL checks
// are not written yet (the data directory's ACL must keep others out).
func openCheckpointPath(path string) (*os.File, error) {
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSymlink != 0 {
		return nil, fmt.Errorf("%s is a symbolic link: the server does not follow one for its checkpoints", path)
	}
	return os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_RDWR, 0o600)
}
