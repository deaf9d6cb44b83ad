package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hoist-jit/hoist"
)

// SudoConfig turns on the sudo and pkexec integration (docs/sudo.md): while
// a user's session is active, a sudoers drop-in lets them run anything
// through sudo without a password until the session's end (sudo's own
// NOTAFTER, so that sudo refuses after the window even if hoistd is dead),
// a polkit rule authorises them, and a PAM session step of sudo, sudo -i
// and pkexec (pam_exec of Hook) moves the sudo or pkexec process into the
// session's cgroup and audits it. Every file name derives from Instance,
// so that several hoistd (tests) on one machine never touch each other's.
type SudoConfig struct {
	// Instance names this hoistd's files: 1 to 24 lowercase letters and
	// digits ("main" for the machine's hoistd).
	Instance string
	// Hook is the absolute path of the hoistd binary whose copy pam_exec
	// and polkit.spawn run ("hoistd sudo-hook", "hoistd polkit-hook");
	// hoistd gives /proc/self/exe, its own running binary.
	Hook string
	// HookDir is the root-owned directory the hook is copied into
	// (DefaultHookDir when empty): the PAM step names the copy, so that
	// deleting or rebuilding the binary hoistd was started from never
	// leaves sudo a step it cannot run.
	HookDir string
	// Socket is hoistd's socket, which the hooks ask.
	Socket string
	// SudoersDir is sudo's drop-in directory (DefaultSudoersDir when empty).
	SudoersDir string
	// PAMDir holds the PAM services (DefaultPAMDir when empty); a service
	// found only in VendorPAMDir is copied here first.
	PAMDir       string
	VendorPAMDir string
	// PAMServices are the services that get the session step
	// (DefaultPAMServices when nil).
	PAMServices []string
	// PolkitDir is where the polkit rule goes (none when empty).
	PolkitDir string
	// PolkitUser is the account polkitd runs its rules' helpers as, which
	// may ask the polkit hook ("polkitd" when empty).
	PolkitUser string
	// Visudo checks each drop-in before it is put in place ("visudo" on
	// PATH when empty).
	Visudo string
	// EnvDir holds, for each drop-in, the file its env_file names
	// (DefaultSudoEnvDir when empty): root's alone, and outside SudoersDir,
	// which sudo would read as sudoers.
	EnvDir string
}

// Defaults of SudoConfig.
const (
	DefaultSudoersDir   = "/etc/sudoers.d"
	DefaultPAMDir       = "/etc/pam.d"
	DefaultVendorPAMDir = "/usr/lib/pam.d"
	DefaultPolkitDir    = "/etc/polkit-1/rules.d"
	DefaultHookDir      = "/usr/local/lib/hoist"
	DefaultSudoEnvDir   = "/run/hoist-sudo"
)

// DefaultPAMServices are the PAM services of sudo, sudo -i and pkexec.
var DefaultPAMServices = []string{"sudo", "sudo-i", "polkit-1"}

// withDefaults fills c's empty fields and checks what goes into files and
// command lines: paths absolute and without white space, the instance a
// short plain word.
func (c SudoConfig) withDefaults() (SudoConfig, error) {
	if c.SudoersDir == "" {
		c.SudoersDir = DefaultSudoersDir
	}
	if c.PAMDir == "" {
		c.PAMDir = DefaultPAMDir
	}
	if c.VendorPAMDir == "" {
		c.VendorPAMDir = DefaultVendorPAMDir
	}
	if c.PAMServices == nil {
		c.PAMServices = DefaultPAMServices
	}
	if c.PolkitUser == "" {
		c.PolkitUser = "polkitd"
	}
	if c.Visudo == "" {
		c.Visudo = "visudo"
	}
	if c.HookDir == "" {
		c.HookDir = DefaultHookDir
	}
	if c.EnvDir == "" {
		c.EnvDir = DefaultSudoEnvDir
	}
	if !validInstance(c.Instance) {
		return c, fmt.Errorf("sudo integration: instance %q is not 1 to 24 lowercase letters and digits", c.Instance)
	}
	for _, p := range []string{c.HookDir, c.SudoersDir, c.PAMDir, c.VendorPAMDir, c.EnvDir} {
		if !plainPath(p) {
			return c, fmt.Errorf("sudo integration: %q is not an absolute path without spaces or quotes", p)
		}
	}
	// The hook and the socket are what an installed integration runs and
	// asks; removing one (hoistd end-sessions, with no hoistd running)
	// needs neither, so they are checked only when given — and required
	// by installing (prepareSudo).
	for _, p := range []string{c.Hook, c.Socket} {
		if p != "" && !plainPath(p) {
			return c, fmt.Errorf("sudo integration: %q is not an absolute path without spaces or quotes", p)
		}
	}
	if c.PolkitDir != "" && !plainPath(c.PolkitDir) {
		return c, fmt.Errorf("sudo integration: %q is not an absolute path without spaces or quotes", c.PolkitDir)
	}
	for _, s := range c.PAMServices {
		if !validInstance(strings.ReplaceAll(s, "-", "")) {
			return c, fmt.Errorf("sudo integration: %q is not a PAM service name", s)
		}
	}
	return c, nil
}

func validInstance(s string) bool {
	if len(s) == 0 || len(s) > 24 {
		return false
	}
	for _, r := range s {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') {
			return false
		}
	}
	return true
}

// plainPath is an absolute path of letters, digits and /._+-: it goes into
// a PAM line, a JavaScript string and a command line unquoted.
func plainPath(p string) bool {
	if !filepath.IsAbs(p) || filepath.Clean(p) != p || len(p) > 256 {
		return false
	}
	for _, r := range p {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._+-", r)
		if !ok {
			return false
		}
	}
	return true
}

// ValidSudoUser reports whether name may appear in what hoistd writes for
// sudo and polkit: 1 to 32 of letters, digits and ._- not starting with
// - or ., the portable user names. The rule itself names the user by uid;
// the name goes into a comment and the polkit rule's list, where a newline,
// a quote or a backslash could otherwise end them early.
func ValidSudoUser(name string) bool {
	if len(name) == 0 || len(name) > 32 || name[0] == '-' || name[0] == '.' {
		return false
	}
	for _, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-'
		if !ok {
			return false
		}
	}
	return true
}

// sudoGrant is one user's drop-in, as it should be on disk.
type sudoGrant struct {
	user     string
	uid      int
	session  string
	notAfter time.Time
}

// sudoersName is the drop-in of uid: no dot, so that sudo's includedir
// reads it, and its temporary files (which have one) are skipped.
func (c SudoConfig) sudoersName(uid int) string {
	return "hoist-" + c.Instance + "-" + strconv.Itoa(uid)
}

// sudoersPrefix is what every drop-in of this instance starts with.
func (c SudoConfig) sudoersPrefix() string { return "hoist-" + c.Instance + "-" }

// sudoersNotAfter is sudo's time format for NOTAFTER, UTC, cut to the
// second below: the rule never outlives the session.
const sudoersNotAfter = "20060102150405Z"

// rule is g's drop-in: a comment for the admin who finds it, sudo's
// env_file for the user (the session's marker, see envFile), and one rule
// naming the user by uid (#UID), no password, every command as anyone,
// until the session's end.
func (g sudoGrant) rule(c SudoConfig) string {
	return fmt.Sprintf("# Written by hoistd (instance %s) for the JIT session %s of %s; removed at its end.\n"+
		"Defaults:#%d env_file=%s\n"+
		"#%d ALL=(ALL:ALL) NOTAFTER=%s NOPASSWD: ALL\n",
		c.Instance, g.session, g.user, g.uid, c.envPath(g.uid),
		g.uid, g.notAfter.UTC().Truncate(time.Second).Format(sudoersNotAfter))
}

// envPath is the env_file of uid's drop-in.
func (c SudoConfig) envPath(uid int) string {
	return filepath.Join(c.EnvDir, c.sudoersName(uid)+".env")
}

// envFile is what sudo adds to the environment of every command of g's
// user, after env_reset has cleared the caller's (so a HOIST_SESSION of
// the caller's never reaches the command): the marker hoistd gives the
// programs of "hoist run", by which the end's sweep finds the ones root
// moved out of the session's cgroup.
func (g sudoGrant) envFile() string { return "HOIST_SESSION=" + g.session + "\n" }

// inPlace says whether g's drop-in and env_file are on disk as they should be.
func (c SudoConfig) inPlace(g sudoGrant) bool {
	rule, err := readFileLimit(filepath.Join(c.SudoersDir, c.sudoersName(g.uid)), 4096)
	if err != nil || string(rule) != g.rule(c) {
		return false
	}
	env, err := readFileLimit(c.envPath(g.uid), 4096)
	return err == nil && string(env) == g.envFile()
}

// writeEnv puts g's env_file in place, in a directory only root may write
// to or read: it is part of sudo's policy.
func (c SudoConfig) writeEnv(g sudoGrant) error {
	if err := os.MkdirAll(c.EnvDir, 0o700); err != nil {
		return err
	}
	if why := untrusted(c.EnvDir); why != "" {
		return fmt.Errorf("the env_file of sudo cannot go in %s: %s", c.EnvDir, why)
	}
	return writeFileMode(c.envPath(g.uid), []byte(g.envFile()), 0o600)
}

// removeGrant removes the drop-in name and then its env_file: a drop-in is
// never on disk without its marker (sudo runs a command whose env_file is
// missing without it).
func (c SudoConfig) removeGrant(name string) error {
	if err := os.Remove(filepath.Join(c.SudoersDir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return c.removeEnv(name)
}

// removeEnv removes the env_file of the drop-in name (and the directory,
// once empty).
func (c SudoConfig) removeEnv(name string) error {
	if err := os.Remove(filepath.Join(c.EnvDir, name+".env")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	_ = os.Remove(c.EnvDir) // fails while another drop-in's file is there
	return nil
}

// staleEnv removes the env_files of this instance whose drop-in is not in
// keep, left by a hoistd that died between the two removals.
func (c SudoConfig) staleEnv(keep map[string]bool) error {
	entries, err := os.ReadDir(c.EnvDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".env")
		if ok && strings.HasPrefix(name, c.sudoersPrefix()) && !keep[name] {
			errs = append(errs, c.removeEnv(name))
		}
	}
	return errors.Join(errs...)
}

// writeSudoers puts g's drop-in in place: written to a temporary file of
// the same directory, checked by visudo, then renamed, so that sudo never
// reads a drop-in visudo rejects (one would break sudo for everybody).
func (c SudoConfig) writeSudoers(g sudoGrant) error {
	if !ValidSudoUser(g.user) || g.uid <= 0 {
		return fmt.Errorf("user %q (uid %d) cannot be named in a sudoers file", g.user, g.uid)
	}
	if !hoist.ValidID(hoist.SessionIDPrefix, g.session) {
		return fmt.Errorf("session %q cannot be named in a sudoers file", clip(g.session, 40))
	}
	// The marker first: sudo must never read a drop-in whose env_file is
	// missing or old.
	if err := c.writeEnv(g); err != nil {
		return err
	}
	path := filepath.Join(c.SudoersDir, c.sudoersName(g.uid))
	tmp, err := os.CreateTemp(c.SudoersDir, "."+c.sudoersPrefix()+"*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(g.rule(c)); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o440); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if out, err := exec.Command(c.Visudo, "-c", "-q", "-f", tmp.Name()).CombinedOutput(); err != nil {
		return fmt.Errorf("visudo refused the drop-in: %v: %s", err, clip(strings.TrimSpace(string(out)), 200))
	}
	return os.Rename(tmp.Name(), path)
}

// sudoersOnDisk lists this instance's drop-ins (by name) and removes the
// temporary files a crash left.
func (c SudoConfig) sudoersOnDisk() (map[string]bool, error) {
	entries, err := os.ReadDir(c.SudoersDir)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, e := range entries {
		name := e.Name()
		switch {
		case strings.HasPrefix(name, "."+c.sudoersPrefix()) && strings.HasSuffix(name, ".tmp"):
			_ = os.Remove(filepath.Join(c.SudoersDir, name))
		case strings.HasPrefix(name, c.sudoersPrefix()):
			out[name] = true
		}
	}
	return out, nil
}

// polkitPath is this instance's polkit rule; "49-" runs it before the
// distribution's rules (50-default.rules asks for an admin).
func (c SudoConfig) polkitPath() string {
	return filepath.Join(c.PolkitDir, "49-hoist-"+c.Instance+".rules")
}

// polkitRule authorises the listed users' pkexec (the action
// org.freedesktop.policykit.exec) and nothing else, after the polkit hook
// confirmed with hoistd that the subject's session is still active: a
// list left behind by a dead hoistd authorises no one. Every other action
// (systemd-run, D-Bus calls to system daemons) is not handled, as without
// Hoist: what those daemons start is not the user's and would run outside
// the session. The list keeps the hook from running for every other user's
// every check.
func (c SudoConfig) polkitRule(users []string) string {
	list, _ := json.Marshal(users) // validated names: JSON is JavaScript here
	return fmt.Sprintf(`// Written by hoistd (instance %[1]s): users with an active JIT session are
// authorised for pkexec (and only it). Removed when no session is active.
polkit.addRule(function(action, subject) {
    var users = %[2]s;
    if (action.id != "org.freedesktop.policykit.exec" || users.indexOf(subject.user) < 0) {
        return polkit.Result.NOT_HANDLED;
    }
    try {
        polkit.spawn(["%[3]s", "polkit-hook", "--socket=%[4]s", "--user=" + subject.user, "--action=" + action.id]);
    } catch (e) {
        return polkit.Result.NOT_HANDLED;
    }
    return polkit.Result.YES;
});
`, c.Instance, list, c.hookPath(), c.Socket)
}

// writePolkit puts the rule for users in place, or removes it when there
// are none.
func (c SudoConfig) writePolkit(users []string) error {
	if c.PolkitDir == "" {
		return nil
	}
	path := c.polkitPath()
	if len(users) == 0 {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return nil
	}
	sort.Strings(users)
	want := c.polkitRule(users)
	if cur, err := os.ReadFile(path); err == nil && string(cur) == want {
		return nil
	}
	if err := os.MkdirAll(c.PolkitDir, 0o755); err != nil {
		return err
	}
	if err := writeFileAtomic(path, []byte(want)); err != nil {
		return err
	}
	return os.Chmod(path, 0o644) // polkitd reads rules as its own user
}
