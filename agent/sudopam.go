package agent

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// pamLine is this instance's session step in a PAM service: pam_exec runs
// the hook copy (hookPath) as root (seteuid) when sudo or pkexec opens and
// closes its session. It is "required": the hook fails only for a user
// hoistd gave a drop-in to whose sudo it could not put in the session
// (hoistd down, the cgroup gone), so that sudo never runs a session's
// command outside it; for everyone else it exits 0 at once, without asking
// hoistd. The --instance argument is the marker that finds the line again.
func (c SudoConfig) pamLine() string {
	return fmt.Sprintf("session required pam_exec.so quiet seteuid %s sudo-hook --instance=%s --socket=%s --sudoers=%s",
		c.hookPath(), c.Instance, c.Socket, c.SudoersDir)
}

// guardPrefix starts the line before pamLine in the services whose caller
// sets PAM_RUSER (sudo): a caller not named after "notin" jumps over the
// hook, so that a user without a session never runs it at all — not even
// when its binary is gone.
const guardPrefix = "session [success=1 default=ignore] pam_succeed_if.so quiet ruser notin "

// namesCaller says whether service svc's caller sets PAM_RUSER to the
// invoking user: sudo does; pkexec leaves it unset (measured with
// pam_exec of env under polkit 122), so the polkit-1 service has no guard.
func namesCaller(svc string) bool { return strings.HasPrefix(svc, "sudo") }

// pamStep is what this instance adds to service svc for users (sorted,
// valid names): the guard and the hook for sudo, the hook alone for the
// others; nothing when there are no users.
func (c SudoConfig) pamStep(svc string, users []string) []string {
	if len(users) == 0 {
		return nil
	}
	var out []string
	if namesCaller(svc) {
		out = append(out, guardPrefix+strings.Join(users, ":")+"\n")
	}
	return append(out, c.pamLine()+"\n")
}

// isOurLine reports whether line is this instance's session step.
func (c SudoConfig) isOurLine(line string) bool {
	f := strings.Fields(line)
	return len(f) > 4 && f[2] == "pam_exec.so" && contains(f, "sudo-hook") && contains(f, "--instance="+c.Instance)
}

// withoutOurs is lines without this instance's step: its hook lines, and
// the guard right before each (a guard belongs to the hook it jumps over).
func (c SudoConfig) withoutOurs(lines []string) []string {
	var out []string
	for _, l := range lines {
		if !c.isOurLine(l) {
			out = append(out, l)
			continue
		}
		if n := len(out); n > 0 && strings.HasPrefix(out[n-1], guardPrefix) {
			out = out[:n-1]
		}
	}
	return out
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

// setPAM makes each service end with this instance's step for users —
// or hold none of it when users is empty — leaving every other line as it
// was: a service this instance never touched is byte for byte the same
// once the step is taken out again.
func (c SudoConfig) setPAM(users []string) error {
	return c.editPAM(func(svc string, lines []string) []string {
		out := c.withoutOurs(lines)
		step := c.pamStep(svc, users)
		if len(step) == 0 {
			return out
		}
		if n := len(out); n > 0 && !strings.HasSuffix(out[n-1], "\n") {
			out[n-1] += "\n"
		}
		return append(out, step...)
	})
}

// removePAM takes this instance's step out of each service.
func (c SudoConfig) removePAM() error { return c.setPAM(nil) }

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
// polkit rule, its hook's copy and its drop-ins. hoistd takes the first
// three out itself when it stops with no drop-in left; with one left they
// stay (so that sudo never runs a session's command outside the session)
// until the next hoistd ends that session — or an uninstall, or a test,
// calls this.
func UninstallSudo(c SudoConfig) error {
	c, err := c.withDefaults()
	if err != nil {
		return err
	}
	errs := []error{c.removePAM(), c.writePolkit(nil), c.removeHook()}
	names, err := c.sudoersOnDisk()
	errs = append(errs, err)
	for name := range names {
		errs = append(errs, c.removeGrant(name))
	}
	errs = append(errs, c.staleEnv(nil))
	return errors.Join(errs...)
}
