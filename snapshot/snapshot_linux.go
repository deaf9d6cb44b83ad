package snapshot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/hoist-jit/hoist"
	"golang.org/x/sys/unix"
)

// Options say what a snapshot reads.
type Options struct {
	// Root is the directory the machine's paths are beneath: "/" (when
	// empty) on a machine, a test's tree in tests.
	Root string
	// Files are the paths under /etc whose checksums are compared
	// (hoist.AgentConfig.ChangeReportPaths); a directory stands for the
	// entries in it.
	Files []string
	// NoOpenat2 resolves paths component by component with O_NOFOLLOW, as
	// on a kernel without openat2 (tests of that path).
	NoOpenat2 bool
	// StallingFileSystems are the file system types whose homes are not
	// read; nil means DefaultStallingFileSystems.
	StallingFileSystems []string
}

// Bounds of the account-driven parts of a snapshot.
const (
	// MaxAccounts bounds the lines read from passwd, group and shadow.
	MaxAccounts = 20_000
	// MaxHomes bounds the homes whose authorized_keys are read.
	MaxHomes = 5_000
	// MaxUnitSubdirs bounds the subdirectories (*.wants, *.d) read per
	// systemd unit directory.
	MaxUnitSubdirs = 2_000
)

// Where the machine keeps what a snapshot reads.
var (
	unitDirs   = []string{"/etc/systemd/system", "/lib/systemd/system", "/usr/lib/systemd/system"}
	cronFiles  = []string{"/etc/crontab"}
	cronDirs   = []string{"/etc/cron.d", "/etc/cron.hourly", "/etc/cron.daily", "/etc/cron.weekly", "/etc/cron.monthly", "/var/spool/cron/crontabs"}
	binDirs    = []string{"/bin", "/sbin", "/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin"}
	keyFiles   = []string{"authorized_keys", "authorized_keys2"}
	dpkgStatus = "/var/lib/dpkg/status"
)

// Take snapshots the machine beneath o.Root. It returns when done or when
// ctx ends, whichever is first: a read stuck in the kernel (a hung mount)
// is left behind, and ctx's error returned. What it cannot read is left
// out of the snapshot or noted in its limits; the error is only for a root
// that cannot be opened or a ctx that ended.
func Take(ctx context.Context, o Options) (*hoist.Snapshot, error) {
	root := o.Root
	if root == "" {
		root = "/"
	}
	t, err := openTree(root, o.NoOpenat2)
	if err != nil {
		return nil, err
	}
	types := o.StallingFileSystems
	if types == nil {
		types = DefaultStallingFileSystems
	}
	t.stalling = stallingMounts(types)
	type result struct {
		s   *hoist.Snapshot
		err error
	}
	done := make(chan result, 1)
	go func() {
		defer t.close()
		s := hoist.NewSnapshot()
		err := t.collect(ctx, s, o.Files)
		done <- result{s, err}
	}()
	select {
	case r := <-done:
		return r.s, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// collect runs each part of the snapshot in turn, stopping when ctx ends.
func (t *tree) collect(ctx context.Context, s *hoist.Snapshot, files []string) error {
	parts := []func(*hoist.Snapshot){
		t.packages,
		t.accounts,
		t.sudoers,
		t.units,
		t.cron,
		t.setuid,
		func(s *hoist.Snapshot) { t.files(s, files) },
	}
	for _, part := range parts {
		if err := ctx.Err(); err != nil {
			return err
		}
		part(s)
	}
	return ctx.Err()
}

// packages records each installed package's version (and its state when
// it is not simply installed).
func (t *tree) packages(s *hoist.Snapshot) {
	f, _, err := t.openFile(t.root, rel(dpkgStatus))
	if err != nil {
		if !errors.Is(err, unix.ENOENT) {
			s.Note("%s not read: %s", dpkgStatus, errText(err))
		}
		return
	}
	defer f.Close()
	lr := &io.LimitedReader{R: f, N: MaxStatus}
	err = ParseDpkgStatus(lr, func(p Package) {
		if !p.Installed() {
			return
		}
		v := p.Version
		if st := p.Status; st != "install ok installed" {
			v += " (" + st + ")"
		}
		s.Add(hoist.KindPackage, p.Name, v)
	})
	if err != nil || lr.N == 0 {
		s.Note("%s read in part (larger than %d bytes, or more than %d packages)", dpkgStatus, MaxStatus, MaxPackages)
	}
}

// accounts records users (their ids, home, shell and a fingerprint of
// their shadow entry), groups, and each home's ssh authorized_keys.
func (t *tree) accounts(s *hoist.Snapshot) {
	shadow := map[string]string{}
	if data, err := t.readSmall("/etc/shadow"); err == nil {
		_ = ParseShadow(data, MaxAccounts, func(name, rest string) { shadow[name] = hashString(name + ":" + rest)[7:19] })
	} else if !errors.Is(err, unix.ENOENT) {
		s.Note("/etc/shadow not read: %s", errText(err))
	}
	var homes []string
	seen := map[string]bool{}
	if data, err := t.readSmall("/etc/passwd"); err == nil {
		if ParsePasswd(data, MaxAccounts, func(a Account) {
			sh, ok := shadow[a.Name]
			if !ok {
				sh = "none"
			}
			s.Add(hoist.KindUser, a.Name, fmt.Sprintf("uid=%d gid=%d home=%s shell=%s shadow=%s", a.UID, a.GID, a.Home, a.Shell, sh))
			if h := path.Clean("/" + a.Home); !seen[h] {
				seen[h] = true
				homes = append(homes, h)
			}
		}) != nil {
			s.Note("/etc/passwd has more than %d accounts: the rest not compared", MaxAccounts)
		}
	} else {
		s.Note("/etc/passwd not read: %s", errText(err))
	}
	if data, err := t.readSmall("/etc/group"); err == nil {
		_ = ParseGroup(data, MaxAccounts, func(g Group) {
			s.Add(hoist.KindGroup, g.Name, fmt.Sprintf("gid=%d members=%s", g.GID, g.Members))
		})
	} else {
		s.Note("/etc/group not read: %s", errText(err))
	}
	if len(homes) > MaxHomes {
		s.Note("more than %d homes: the authorized_keys of the rest not compared", MaxHomes)
		homes = homes[:MaxHomes]
	}
	for _, h := range homes {
		t.authorizedKeys(s, h)
	}
}

// authorizedKeys records the ssh authorized_keys files in home/.ssh. The
// home belongs to its user, who may have planted symlinks anywhere: a
// symlinked .ssh or key file is recorded as a symlink, and never read.
func (t *tree) authorizedKeys(s *hoist.Snapshot, home string) {
	if home == "/" {
		return // an account with no home of its own; root's is /root
	}
	if m, ok := onStallingMount(path.Join(t.rootPath, home), t.stalling); ok {
		s.Note("%s not compared: it is on a %s file system (%s), whose reads can wait forever", home, m.fstype, m.point)
		return
	}
	hfd, err := t.open(home, unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return // no such home, or one reached through a symlink
	}
	defer unix.Close(hfd)
	var st unix.Stat_t
	if unix.Fstatat(hfd, ".ssh", &st, unix.AT_SYMLINK_NOFOLLOW) != nil {
		return
	}
	sshDir := path.Join(home, ".ssh")
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		s.Add(hoist.KindAuthorizedKeys, sshDir, t.fingerprint(hfd, entry{".ssh", st}))
		return
	}
	dfd, err := t.openAt(hfd, ".ssh", unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		s.Note("%s not read: %s", sshDir, errText(err))
		return
	}
	defer unix.Close(dfd)
	for _, name := range keyFiles {
		var kst unix.Stat_t
		if unix.Fstatat(dfd, name, &kst, unix.AT_SYMLINK_NOFOLLOW) != nil {
			continue
		}
		p := path.Join(sshDir, name)
		if kst.Mode&unix.S_IFMT != unix.S_IFREG {
			s.Add(hoist.KindAuthorizedKeys, p, t.fingerprint(dfd, entry{name, kst}))
			continue
		}
		s.Add(hoist.KindAuthorizedKeys, p, t.keysFingerprint(dfd, name))
	}
}

// keysFingerprint is "N keys sha256:…" of an authorized_keys file.
func (t *tree) keysFingerprint(dir int, name string) string {
	f, _, err := t.openFile(dir, name)
	if err != nil {
		return "unreadable (" + errText(err) + ")"
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxSmallFile+1))
	if err != nil {
		return "unreadable (" + errText(err) + ")"
	}
	if len(data) > MaxSmallFile {
		return fmt.Sprintf("larger than %d bytes %s", MaxSmallFile, hashString(string(data)))
	}
	n := 0
	for line := range strings.Lines(string(data)) {
		if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "#") {
			n++
		}
	}
	return fmt.Sprintf("%d keys %s", n, hashString(string(data)))
}

// sudoers records /etc/sudoers and each entry of /etc/sudoers.d.
func (t *tree) sudoers(s *hoist.Snapshot) {
	t.file(s, hoist.KindSudoers, "/etc/sudoers")
	t.dir(s, hoist.KindSudoers, "/etc/sudoers.d", 0)
}

// units records every unit file, drop-in and enablement symlink (in
// *.wants, *.requires) of the system unit directories, timers as timers.
// A unit directory that is a symlink (/lib on a merged-/usr system) is
// the same files as the one it points to, and is not followed.
func (t *tree) units(s *hoist.Snapshot) {
	for _, d := range unitDirs {
		t.dir(s, hoist.KindUnit, d, 1)
	}
}

// cron records the system crontab, the cron directories and the users'
// crontabs.
func (t *tree) cron(s *hoist.Snapshot) {
	for _, f := range cronFiles {
		t.file(s, hoist.KindCron, f)
	}
	for _, d := range cronDirs {
		t.dir(s, hoist.KindCron, d, 0)
	}
}

// setuid records the setuid and setgid files of the binary directories:
// mode, owner and hash. Only their lstat is read for the rest.
func (t *tree) setuid(s *hoist.Snapshot) {
	for _, d := range binDirs {
		dfd, entries, truncated, err := t.listDir(d)
		if err != nil {
			continue // missing, or a symlink to another of them
		}
		if truncated {
			s.Note("%s has more than %d entries: the rest not compared", d, MaxDirEntries)
		}
		for _, e := range entries {
			if e.st.Mode&unix.S_IFMT == unix.S_IFREG && e.st.Mode&(unix.S_ISUID|unix.S_ISGID) != 0 {
				s.Add(hoist.KindSetuid, path.Join(d, e.name), t.fingerprint(dfd, e))
			}
		}
		unix.Close(dfd)
	}
}

// files records the checksums of the configured paths under /etc.
func (t *tree) files(s *hoist.Snapshot, files []string) {
	for _, p := range files {
		if hoist.CheckChangeReportFile(p) != nil {
			continue
		}
		dir, base := path.Split(p)
		dfd, err := t.open(dir, unix.O_PATH|unix.O_DIRECTORY)
		if err != nil {
			continue
		}
		var st unix.Stat_t
		if unix.Fstatat(dfd, base, &st, unix.AT_SYMLINK_NOFOLLOW) == nil {
			if st.Mode&unix.S_IFMT == unix.S_IFDIR {
				t.dir(s, hoist.KindFile, p, 0)
			} else {
				s.Add(hoist.KindFile, p, t.fingerprint(dfd, entry{base, st}))
			}
		}
		unix.Close(dfd)
	}
}

// file records one path of kind: missing is no entry.
func (t *tree) file(s *hoist.Snapshot, kind hoist.ChangeKind, p string) {
	dir, base := path.Split(p)
	dfd, err := t.open(dir, unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return
	}
	defer unix.Close(dfd)
	var st unix.Stat_t
	if unix.Fstatat(dfd, base, &st, unix.AT_SYMLINK_NOFOLLOW) == nil {
		s.Add(kind, p, t.fingerprint(dfd, entry{base, st}))
	}
}

// dir records each entry of directory p as kind, and, depth levels down,
// the entries of its subdirectories. Names ending in .timer are timers
// when kind is unit.
func (t *tree) dir(s *hoist.Snapshot, kind hoist.ChangeKind, p string, depth int) {
	dfd, entries, truncated, err := t.listDir(p)
	if err != nil {
		return
	}
	defer unix.Close(dfd)
	t.entries(s, kind, p, dfd, entries, truncated, depth)
}

func (t *tree) entries(s *hoist.Snapshot, kind hoist.ChangeKind, p string, dfd int, entries []entry, truncated bool, depth int) {
	if truncated {
		s.Note("%s has more than %d entries: the rest not compared", p, MaxDirEntries)
	}
	subdirs := 0
	for _, e := range entries {
		name := path.Join(p, e.name)
		k := kind
		if kind == hoist.KindUnit && strings.HasSuffix(e.name, ".timer") {
			k = hoist.KindTimer
		}
		if e.st.Mode&unix.S_IFMT == unix.S_IFDIR && depth > 0 {
			if subdirs++; subdirs > MaxUnitSubdirs {
				s.Note("%s has more than %d subdirectories: the rest not compared", p, MaxUnitSubdirs)
				continue
			}
			sub, subEntries, subTrunc, err := t.listDirAt(dfd, e.name)
			if err != nil {
				continue
			}
			t.entries(s, kind, name, sub, subEntries, subTrunc, depth-1)
			unix.Close(sub)
			continue
		}
		s.Add(k, name, t.fingerprint(dfd, e))
	}
}
