package agent

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// pamLine is this instance's session step in a PAM service: pam_exec runs
// the hook as root (seteuid) when sudo or pkexec opens and closes its
// session. It is "required": the hook fails only for a user hoistd gave a
// drop-in to whose sudo it could not put in the session (hoistd down, the
// cgroup gone), so that sudo never runs a session's command outside it;
// for everyone else it succeeds at once. The --instance argument is the
// marker that finds the line again.
func (c SudoConfig) pamLine() string {
	return fmt.Sprintf("session required pam_exec.so quiet seteuid %s sudo-hook --instance=%s --socket=%s --sudoers=%s",
		c.Hook, c.Instance, c.Socket, c.SudoersDir)
}

// isOurLine reports whether line is this instance's session step.
func (c SudoConfig) isOurLine(line string) bool {
	f := strings.Fields(line)
	return len(f) > 4 && f[2] == "pam_exec.so" && contains(f, "sudo-hook") && contains(f, "--instance="+c.Instance)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// copiedHeader starts a service file hoistd copied from the vendor
// directory to add its line: the file is removed again once no hoistd
// line is left in it.
const copiedHeader = "# Copied by hoistd from "

// editPAM applies edit to each service's file under an exclusive lock of
// the PAM directory, so that two hoistd (tests) editing at once do not
// lose each other's lines. A service with no file here or in the vendor
// directory (pkexec not installed) is left alone.
func (c SudoConfig) editPAM(edit func(service string, lines []string) []string) error {
	dir, err := os.Open(c.PAMDir)
	if err != nil {
		return err
	}
	defer dir.Close()
	unlock, err := lockDir(dir)
	if err != nil {
		return err
	}
	defer unlock()
	var errs []error
	for _, svc := range c.PAMServices {
		errs = append(errs, c.editService(svc, edit))
	}
	return errors.Join(errs...)
}

func (c SudoConfig) editService(svc string, edit func(string, []string) []string) error {
	path := filepath.Join(c.PAMDir, svc)
	data, err := readFileLimit(path, 1<<20)
	copied := false
	if errors.Is(err, os.ErrNotExist) {
		vendor := filepath.Join(c.VendorPAMDir, svc)
		if data, err = readFileLimit(vendor, 1<<20); err != nil {
			return nil // no such service here
		}
		copied = true
		data = append([]byte(copiedHeader+vendor+"; removed with hoistd's line\n"), data...)
	}
	if err != nil {
		return err
	}
	lines := strings.SplitAfter(string(data), "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	out := edit(svc, lines)
	next := strings.Join(out, "")
	if !copied && next == string(data) {
		return nil
	}
	if copied && next == string(data) {
		return nil // nothing to add to a service this instance never touched
	}
	if strings.HasPrefix(next, copiedHeader) && !strings.Contains(next, " sudo-hook ") {
		return os.Remove(path) // the vendor's file speaks again
	}
	return writeFileMode(path, []byte(next), 0o644)
}

// installPAM adds this instance's line to each service once, at the end
// of the file.
func (c SudoConfig) installPAM() error {
	line := c.pamLine() + "\n"
	return c.editPAM(func(_ string, lines []string) []string {
		for _, l := range lines {
			if strings.TrimSuffix(l, "\n") == strings.TrimSuffix(line, "\n") {
				return lines
			}
		}
		var out []string
		for _, l := range lines {
			if !c.isOurLine(l) { // an older line of this instance (another hook path)
				out = append(out, l)
			}
		}
		if n := len(out); n > 0 && !strings.HasSuffix(out[n-1], "\n") {
			out[n-1] += "\n"
		}
		return append(out, line)
	})
}

// removePAM takes this instance's lines out of each service, leaving every
// other line as it was.
func (c SudoConfig) removePAM() error {
	return c.editPAM(func(_ string, lines []string) []string {
		var out []string
		for _, l := range lines {
			if !c.isOurLine(l) {
				out = append(out, l)
			}
		}
		return out
	})
}

// writeFileMode is writeFileAtomic with the file's mode set before the
// rename: a PAM service is never seen half-written or unreadable.
func writeFileMode(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".hoist-*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// UninstallSudo undoes the integration of c.Instance: its PAM lines, its
// polkit rule and its drop-ins. hoistd does not call it when it stops —
// the PAM step must stay while a drop-in may (so that sudo never runs a
// session's command outside the session); an uninstall does, and tests.
func UninstallSudo(c SudoConfig) error {
	c, err := c.withDefaults()
	if err != nil {
		return err
	}
	errs := []error{c.removePAM(), c.writePolkit(nil)}
	names, err := c.sudoersOnDisk()
	errs = append(errs, err)
	for name := range names {
		errs = append(errs, os.Remove(filepath.Join(c.SudoersDir, name)))
	}
	return errors.Join(errs...)
}
