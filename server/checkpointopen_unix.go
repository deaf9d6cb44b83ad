//go:build unix

package server

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// openCheckpointPath opens the checkpoint file at path for appending,
// creating it 0600, and refuses one that someone other than the server
// could have put there or may rewrite: a symbolic link (not followed), a
// file owned by another user or writable by group or others, or one in a
// directory others may write to without the sticky bit (they could swap
// the file).
func openCheckpointPath(path string) (*os.File, error) {
	dir := filepath.Dir(path)
	di, err := os.Stat(dir)
	if err != nil {
		return nil, err
	}
	if di.Mode().Perm()&0o002 != 0 && di.Mode()&os.ModeSticky == 0 {
		return nil, fmt.Errorf("%s is writable by others without the sticky bit: anyone could replace %s", dir, filepath.Base(path))
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_RDWR|syscall.O_NOFOLLOW, 0o600)
	if errors.Is(err, syscall.ELOOP) {
		return nil, fmt.Errorf("%s is a symbolic link: the server does not follow one for its checkpoints; point --audit-checkpoints at the file itself", path)
	}
	if err != nil {
		return nil, err
	}
	if err := checkCheckpointOwner(f, path); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// checkCheckpointOwner refuses an open checkpoint file that is not owned
// by the server's user or is writable by group or others.
func checkCheckpointOwner(f *os.File, path string) error {
	info, err := f.Stat()
	if err != nil {
		return err
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("cannot tell who owns %s", path)
	}
	if int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("%s is owned by uid %d, not by the server's uid %d: chown it, or remove it", path, st.Uid, os.Geteuid())
	}
	if info.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("%s is writable by group or others (mode %04o): chmod 600 it", path, info.Mode().Perm())
	}
	return nil
}
