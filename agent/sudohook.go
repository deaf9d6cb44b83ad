package agent

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// hookPath is this instance's copy of the hook, which the PAM step and the
// polkit rule run.
func (c SudoConfig) hookPath() string {
	return filepath.Join(c.HookDir, "hoistd-hook-"+c.Instance)
}

// installHook copies c.Hook to hookPath, atomically, 0755 and root's:
// sudo runs it as root, so it and every directory above must be root's
// and writable by no one else (checked, not assumed: it may exist already).
func (c SudoConfig) installHook() error {
	if err := os.MkdirAll(c.HookDir, 0o755); err != nil {
		return err
	}
	if why := untrusted(c.HookDir); why != "" {
		return fmt.Errorf("the hook cannot go in %s: %s", c.HookDir, why)
	}
	src, err := os.Open(c.Hook)
	if err != nil {
		return err
	}
	defer src.Close()
	tmp, err := os.CreateTemp(c.HookDir, ".hoistd-hook-*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, io.LimitReader(src, 1<<30)); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o755); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), c.hookPath())
}

// removeHook removes the copy (and its directory, once empty).
func (c SudoConfig) removeHook() error {
	if err := os.Remove(c.hookPath()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	_ = os.Remove(c.HookDir) // fails while another instance's copy is there
	return nil
}
