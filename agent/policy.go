package agent

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/hoist-jit/hoist"
)

// DesktopFile is the name of the JIT launcher the agent installs when its
// configuration says Create JIT mode shortcut: Yes.
const DesktopFile = "hoist-jit.desktop"

// DefaultDesktopDir is where launchers for every user live.
const DefaultDesktopDir = "/usr/share/applications"

// desktopEntry is the launcher. It runs the unprivileged helper; nothing
// in it is elevated. The helper opens the terminal itself (hoist jit
// --launcher): where no terminal emulator is installed it asks in dialog
// windows instead of failing as Terminal=true would.
const desktopEntry = `[Desktop Entry]
Type=Application
Version=1.4
Name=Start Hoist JIT Elevated Access
GenericName=JIT elevated access
Comment=Ask for administrator rights for a limited time, approved by your IT team
Exec=%s jit --launcher
Terminal=false
Icon=dialog-password
Categories=System;Security;
Keywords=sudo;root;admin;elevate;jit;
StartupNotify=false
`

// AutostartFile is the entry that starts the quiet JIT helper in every
// desktop session, so that reminders and the tray appear however JIT mode
// was requested.
const AutostartFile = "hoist-jit-helper.desktop"

// DefaultAutostartDir is where desktop sessions look for system-wide
// autostart entries.
const DefaultAutostartDir = "/etc/xdg/autostart"

const autostartEntry = `[Desktop Entry]
Type=Application
Name=Hoist JIT Helper
Comment=Reminds you of the time left in JIT elevated access and lets you end it early
Exec=%s jit --quiet
Icon=dialog-password
Terminal=false
NoDisplay=true
X-GNOME-Autostart-enabled=true
`

// InstallAutostart writes the quiet helper's autostart entry into dir.
// The helper it starts runs as the user and only talks to hoistd.
// hoistPath is the hoist command the entry runs ("hoist" when empty).
func InstallAutostart(dir, hoistPath string) error {
	path := filepath.Join(dir, AutostartFile)
	entry := fmt.Sprintf(autostartEntry, execName(hoistPath))
	if cur, err := os.ReadFile(path); err == nil && string(cur) == entry {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := WriteFileAtomic(path, []byte(entry)); err != nil {
		return err
	}
	return os.Chmod(path, 0o644)
}

// SystemHoist is where the Hoist package installs the hoist command.
const SystemHoist = "/usr/bin/hoist"

// InstalledHoist is the hoist command that the machine-wide desktop entries
// run: given when it is an absolute path (hoistd run --hoist-binary), else
// SystemHoist when it is an executable file, else "" (hoist from the user's
// PATH). Never the binary beside whichever hoistd started last: every
// hoistd on the machine writes the same two entries, and they outlive it,
// so they must name a command that stays.
func InstalledHoist(given string) string {
	if given != "" && filepath.IsAbs(given) {
		return filepath.Clean(given)
	}
	if info, err := os.Stat(SystemHoist); err == nil && info.Mode().IsRegular() && info.Mode()&0o111 != 0 {
		return SystemHoist
	}
	return ""
}

// execName is the hoist command for a desktop entry's Exec key.
func execName(hoistPath string) string {
	if hoistPath == "" || strings.ContainsAny(hoistPath, " \t\n\"'\\$`%") {
		return "hoist"
	}
	return hoistPath
}

// maxHashedFile bounds the file the agent hashes for a policy: a policy
// does not make root read a 100 GB file.
const maxHashedFile = 1 << 30

// policyState is what the agent holds of its policies.
type policyState struct {
	// key is the pinned grant key that bundles must be signed with; until
	// SetBundleKey sets it, no bundle is in force.
	key     ed25519.PublicKey
	bundle  hoist.Bundle
	skipped []hoist.SkippedPolicy
	// received is false until a bundle came from a server: a machine that
	// was never linked has no policies and only local grants.
	received bool
	// refused is the digest of the last bundle from the server that was
	// refused: the link asks again and again, and the audit log needs to
	// hear of each bundle once.
	refused [sha256.Size]byte
}

func (a *Agent) policyPath() string { return filepath.Join(a.cfg.StateDir, "policy.json") }

// maxStoredBundle bounds what hoistd reads of the stored bundle: as much as
// the link reads of a server's answer.
const maxStoredBundle = 16 << 20

// storedBundle is policy.json: the bundle's JSON byte for byte as the
// server signed it, and the signature.
type storedBundle struct {
	Signature []byte          `json:"signature"`
	Bundle    json.RawMessage `json:"bundle"`
}

// encodeStored is policy.json for a bundle and its signature. It is put
// together by hand so that data stays byte for byte what was signed (a JSON
// encoder would compact and escape it); data is one JSON value, which
// ParseBundle checked.
func encodeStored(data, sig []byte) []byte {
	var b bytes.Buffer
	b.WriteString(`{"signature":"`)
	b.WriteString(base64.StdEncoding.EncodeToString(sig))
	b.WriteString(`","bundle":`)
	b.Write(data)
	b.WriteString("}\n")
	return b.Bytes()
}

// SetBundleKey pins key, the server's grant key, as the one policy bundles
// must be signed with, and puts in force the bundle stored in the state
// directory when its signature verifies. A stored bundle that does not —
// edited on this machine, written by a hoistd from before signed bundles,
// damaged — is refused, logged and audited ("policy.bundle_rejected"), and
// the agent runs with no policies (no application is elevated) until the
// server's bundle arrives. The link calls it before the agent serves;
// without it no bundle is ever in force.
func (a *Agent) SetBundleKey(key ed25519.PublicKey) {
	a.mu.Lock()
	same := a.pol.key.Equal(key)
	a.pol.key = key
	a.mu.Unlock()
	if !same { // Config.BundleKey loaded the stored bundle already
		a.loadPolicy()
	}
}

// loadPolicy puts in force the bundle kept on disk, so that policies hold
// with the server unreachable, once the key to check it with is set. New
// calls it before any key is, and then it does nothing.
func (a *Agent) loadPolicy() {
	a.mu.Lock()
	key := a.pol.key
	a.mu.Unlock()
	if key == nil {
		return
	}
	b, skipped, err := readStoredBundle(a.policyPath(), key)
	if errors.Is(err, os.ErrNotExist) {
		return
	}
	if err != nil {
		a.refuseBundle("disk", err)
		a.mu.Lock()
		a.pol = policyState{key: key}
		a.mu.Unlock()
		return
	}
	a.mu.Lock()
	a.pol = policyState{key: key, bundle: b, skipped: skipped, received: true}
	a.mu.Unlock()
}

// readStoredBundle reads policy.json and returns its bundle when the
// signature in it is key's. It returns an error that wraps os.ErrNotExist
// when there is none.
func readStoredBundle(path string, key ed25519.PublicKey) (hoist.Bundle, []hoist.SkippedPolicy, error) {
	f, err := os.Open(path)
	if err != nil {
		return hoist.Bundle{}, nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxStoredBundle+1))
	switch {
	case err != nil:
		return hoist.Bundle{}, nil, err
	case len(data) > maxStoredBundle:
		return hoist.Bundle{}, nil, hoist.Errorf(hoist.EInvalid, "the stored policy bundle is larger than %d bytes", maxStoredBundle)
	}
	var sb storedBundle
	if err := json.Unmarshal(data, &sb); err != nil {
		return hoist.Bundle{}, nil, hoist.Errorf(hoist.EInvalid, "the stored policy bundle is unreadable")
	}
	if err := hoist.VerifyBundle(key, sb.Bundle, sb.Signature); err != nil {
		return hoist.Bundle{}, nil, err
	}
	return hoist.ParseBundle(sb.Bundle)
}

// refuseBundle reports a bundle that is not put in force: from "disk" or
// from the "server".
func (a *Agent) refuseBundle(from string, err error) {
	msg := err.Error()
	var herr *hoist.Error
	if errors.As(err, &herr) {
		msg = herr.Message
	}
	a.cfg.Logger.Error("refusing a policy bundle whose signature is not the server's", "from", from, "path", a.policyPath(), "err", err)
	a.audit("policy.bundle_rejected", "hoistd", a.policyPath(), map[string]any{"from": from, "reason": msg})
}

// ApplyBundle takes a bundle from the server, data as sent and sig the
// server's signature of it. It refuses a bundle whose signature is not by
// the key SetBundleKey pinned (hoist.EForbidden), keeping the bundle in
// force and auditing the refusal once per bundle. Otherwise it keeps what
// it can process, reports what it cannot, stores bundle and signature, and
// applies the configuration (the launcher). It fails too when data is not
// a bundle at all.
func (a *Agent) ApplyBundle(data, sig []byte) error {
	a.mu.Lock()
	key := a.pol.key
	a.mu.Unlock()
	if key == nil {
		return hoist.Errorf(hoist.EUnavailable, "no key to check policy bundles with: SetBundleKey was not called")
	}
	if err := hoist.VerifyBundle(key, data, sig); err != nil {
		digest := sha256.Sum256(append(append([]byte(nil), data...), sig...))
		a.mu.Lock()
		again := a.pol.refused == digest
		a.pol.refused = digest
		a.mu.Unlock()
		if again {
			a.cfg.Logger.Warn("the server sent the refused policy bundle again", "err", err)
		} else {
			a.refuseBundle("server", err)
		}
		return err
	}
	b, skipped, err := hoist.ParseBundle(data)
	if err != nil {
		return err
	}
	if err := WriteFileAtomic(a.policyPath(), encodeStored(data, sig)); err != nil {
		return fmt.Errorf("store the policy bundle: %w", err)
	}
	a.mu.Lock()
	_, hadJIT := a.pol.bundle.JIT()
	hadJIT = hadJIT || !a.pol.received
	a.pol = policyState{key: key, bundle: b, skipped: skipped, received: true}
	var ending []string
	if _, hasJIT := b.JIT(); hadJIT && !hasJIT {
		// JIT mode exists only while its three policies are active: turning
		// one off ends the sessions it allowed, like a revoke.
		for _, s := range a.byUser {
			if s.rec.State == "active" && s.rec.By != localGrantBy {
				ending = append(ending, s.rec.ID)
			}
		}
	}
	a.mu.Unlock()
	for _, id := range ending {
		go func() {
			if _, err := a.EndSession(id, string(hoist.EndRevoked), "policy"); err != nil && hoist.ErrorCode(err) != hoist.ENotFound {
				a.cfg.Logger.Warn("cannot end a session JIT mode no longer allows", "session", id, "err", err)
			}
		}()
	}
	for _, s := range skipped {
		a.cfg.Logger.Warn("skipping a policy this agent cannot process; the others apply", "policy", s.Name, "id", s.ID, "why", s.Reason)
		a.audit("policy.skipped", "hoistd", s.ID, map[string]any{"name": s.Name, "reason": s.Reason, "revision": b.Revision})
	}
	_, jit := b.JIT()
	a.audit("policy.applied", "hoistd", b.Revision, map[string]any{"revision": b.Revision, "groups": b.Groups,
		"policies": len(b.Policies), "skipped": len(skipped), "jit_available": jit})
	a.cfg.Logger.Info("policies applied", "revision", b.Revision, "groups", b.Groups, "policies", len(b.Policies), "skipped", len(skipped), "jit", jit)
	a.applyShortcut(b.Config)
	a.bundleArrived()
	a.syncSudo() // Elevate sudo and pkexec may have changed
	return nil
}

// PolicyState returns the revision of the bundle held and what of it was
// skipped, for the check-in.
func (a *Agent) PolicyState() (revision string, skipped []hoist.SkippedPolicy) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.pol.bundle.Revision, append([]hoist.SkippedPolicy(nil), a.pol.skipped...)
}

// Bundle returns the bundle in force.
func (a *Agent) Bundle() hoist.Bundle {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.pol.bundle
}

// applyShortcut installs or removes the JIT launcher as the configuration
// says; a configuration silent on it leaves the machine as it is.
func (a *Agent) applyShortcut(c hoist.AgentConfig) {
	if c.CreateJITShortcut == nil {
		return
	}
	dir := a.cfg.DesktopDir
	if dir == "" {
		dir = DefaultDesktopDir
	}
	path := filepath.Join(dir, DesktopFile)
	entry := fmt.Sprintf(desktopEntry, execName(a.cfg.HoistPath))
	if *c.CreateJITShortcut {
		if cur, err := os.ReadFile(path); err == nil && string(cur) == entry {
			return
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			a.cfg.Logger.Error("cannot install the JIT launcher", "err", err)
			return
		}
		if err := WriteFileAtomic(path, []byte(entry)); err != nil {
			a.cfg.Logger.Error("cannot install the JIT launcher", "err", err)
			return
		}
		_ = os.Chmod(path, 0o644) // every user's desktop reads it
		a.audit("config.shortcut_installed", "hoistd", path, nil)
		return
	}
	if err := os.Remove(path); err == nil {
		a.audit("config.shortcut_removed", "hoistd", path, nil)
	} else if !os.IsNotExist(err) {
		a.cfg.Logger.Error("cannot remove the JIT launcher", "err", err)
	}
}

// jit returns the JIT policies in force; ok is false when JIT mode is not
// available here. A machine that never received policies (not enrolled)
// has JIT mode only through root's local grants, which need none.
func (a *Agent) jit() (hoist.JITPolicies, bool, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	j, ok := a.pol.bundle.JIT()
	return j, ok, a.pol.received
}

// sessionGrace is the grace period of a new session: the JIT Mode (Child
// Processes) policy's, else the configuration's, else hoistd's default.
func (a *Agent) sessionGrace() time.Duration {
	j, ok, _ := a.jit()
	if ok && j.Children.Children != nil && j.Children.Children.Grace > 0 {
		return j.Children.Children.Grace.D()
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if g := a.pol.bundle.Config.Grace; g != nil {
		return g.D()
	}
	return 0
}

// processFacts gathers what Decide needs about path run by user. Policies
// see the real file: path with its symlinks resolved.
func processFacts(userName, path string, argv []string, session bool, reason string) hoist.ProcessFacts {
	f := hoist.ProcessFacts{User: userName, Path: path, Session: session, Reason: reason}
	if real, err := filepath.EvalSymlinks(path); err == nil && real != path {
		f.Path, f.Typed = real, path
	}
	if len(argv) > 1 {
		f.Args = argv[1:]
	}
	f.UnixGroups = unixGroups(userName)
	f.Untrusted = untrusted(f.Path)
	var (
		once sync.Once
		sum  string
		err  error
	)
	f.SHA256 = func() (string, error) {
		once.Do(func() { sum, err = hashFile(f.Path) })
		return sum, err
	}
	return f
}

// UnixGroups returns the names of the groups of the user name on this
// machine (none when it has no such user).
func UnixGroups(name string) []string { return unixGroups(name) }

// unixGroups lists the names of user's groups on this machine.
func unixGroups(name string) []string {
	u, err := user.Lookup(name)
	if err != nil {
		return nil
	}
	ids, err := u.GroupIds()
	if err != nil {
		return nil
	}
	var out []string
	for _, id := range ids {
		if g, err := user.LookupGroupId(id); err == nil {
			out = append(out, g.Name)
		}
	}
	return out
}

// hashFile returns the SHA-256 of the file at path, in hex.
func hashFile(path string) (string, error) {
	f, err := openForHash(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return "", fmt.Errorf("%s is not a regular file", path)
	}
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(f, maxHashedFile+1))
	if err != nil {
		return "", err
	}
	if n > maxHashedFile {
		return "", fmt.Errorf("%s is larger than %d bytes", path, maxHashedFile)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
