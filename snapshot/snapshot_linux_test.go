package snapshot_test

import (
	"context"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/snapshot"
	"github.com/hoist-jit/hoist/testenv"
)

// fakeTree writes a small machine under a temporary root: each key is a
// path under the root, each value its content (a trailing "/" makes a
// directory).
func fakeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, content := range files {
		full := filepath.Join(root, p)
		if strings.HasSuffix(p, "/") {
			if err := os.MkdirAll(full, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

var baseMachine = map[string]string{
	"etc/passwd":          "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/sh\n",
	"etc/group":           "root:x:0:\nsudo:x:27:alice\n",
	"etc/shadow":          "root:$y$j9T$salt$hash:19000:0:99999:7:::\nalice:!:19000::::::\n",
	"etc/sudoers":         "root ALL=(ALL:ALL) ALL\n",
	"etc/sudoers.d/":      "",
	"etc/crontab":         "17 * * * * root cd / && run-parts --report /etc/cron.hourly\n",
	"etc/cron.d/":         "",
	"etc/ssh/sshd_config": "PermitRootLogin no\n",
	"etc/systemd/system/multi-user.target.wants/": "",
	"usr/lib/systemd/system/ssh.service":          "[Service]\nExecStart=/usr/sbin/sshd -D\n",
	"usr/lib/systemd/system/apt-daily.timer":      "[Timer]\nOnCalendar=daily\n",
	"usr/bin/ls":                                  "ELF",
	"home/alice/.ssh/":                            "",
	"root/.ssh/authorized_keys":                   "ssh-ed25519 AAAA root@admin\n",
	"var/lib/dpkg/status":                         "Package: curl\nStatus: install ok installed\nVersion: 7.88.1-10\nDescription: a tool\n long text\n\nPackage: gone\nStatus: deinstall ok config-files\nVersion: 1.0\n\nPackage: libc6\nStatus: install ok installed\nMulti-Arch: same\nArchitecture: amd64\nVersion: 2.36-9\n",
}

func take(t *testing.T, root string, noOpenat2 bool) *hoist.Snapshot {
	t.Helper()
	s, err := snapshot.Take(context.Background(), snapshot.Options{Root: root, Files: []string{"/etc/ssh/sshd_config", "/etc/ld.so.preload", "/etc/profile.d"}, NoOpenat2: noOpenat2})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// eachResolver runs test with openat2 and with the O_NOFOLLOW walk of
// kernels without it: both must read the same and refuse the same.
func eachResolver(t *testing.T, test func(t *testing.T, noOpenat2 bool)) {
	for _, no := range []bool{false, true} {
		name := "openat2"
		if no {
			name = "nofollow-walk"
		}
		t.Run(name, func(t *testing.T) { test(t, no) })
	}
}

func TestSnapshotOfAFakeMachine(t *testing.T) {
	eachResolver(t, func(t *testing.T, no bool) {
		root := fakeTree(t, baseMachine)
		if err := syscall.Chmod(filepath.Join(root, "usr/bin/ls"), 0o4755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("/usr/lib/systemd/system/ssh.service", filepath.Join(root, "etc/systemd/system/multi-user.target.wants/ssh.service")); err != nil {
			t.Fatal(err)
		}
		s := take(t, root, no)
		for _, want := range []struct {
			kind   hoist.ChangeKind
			name   string
			prefix string
		}{
			{hoist.KindPackage, "curl", "7.88.1-10"},
			{hoist.KindPackage, "libc6:amd64", "2.36-9"},
			{hoist.KindUser, "alice", "uid=1000 gid=1000 home=/home/alice shell=/bin/sh shadow="},
			{hoist.KindGroup, "sudo", "gid=27 members=alice"},
			{hoist.KindSudoers, "/etc/sudoers", "sha256:"},
			{hoist.KindCron, "/etc/crontab", "sha256:"},
			{hoist.KindUnit, "/usr/lib/systemd/system/ssh.service", "sha256:"},
			{hoist.KindTimer, "/usr/lib/systemd/system/apt-daily.timer", "sha256:"},
			{hoist.KindUnit, "/etc/systemd/system/multi-user.target.wants/ssh.service", "symlink → /usr/lib/systemd/system/ssh.service"},
			{hoist.KindSetuid, "/usr/bin/ls", "sha256:"},
			{hoist.KindAuthorizedKeys, "/root/.ssh/authorized_keys", "1 keys sha256:"},
			{hoist.KindFile, "/etc/ssh/sshd_config", "sha256:"},
		} {
			got, ok := s.Get(want.kind, want.name)
			if !ok || !strings.HasPrefix(got, want.prefix) {
				t.Errorf("%s %s = %q (there: %v), want it to start with %q", want.kind, want.name, got, ok, want.prefix)
			}
		}
		if v, _ := s.Get(hoist.KindSetuid, "/usr/bin/ls"); !strings.Contains(v, "mode=4755") {
			t.Errorf("setuid entry %q lacks its mode", v)
		}
		if _, ok := s.Get(hoist.KindPackage, "gone"); ok {
			t.Error("a removed package (config files left) is listed as installed")
		}
		if u, _ := s.Get(hoist.KindUser, "root"); strings.Contains(u, "$y$") || strings.Contains(u, "hash") {
			t.Errorf("a password hash reached the snapshot: %q", u)
		}
	})
}

// TestSnapshotDiffSeesEachKind changes one thing of each kind in a fake
// tree and checks that the report names each.
func TestSnapshotDiffSeesEachKind(t *testing.T) {
	eachResolver(t, func(t *testing.T, no bool) {
		root := fakeTree(t, baseMachine)
		before := take(t, root, no)
		write := func(p, content string, mode uint32) {
			t.Helper()
			full := filepath.Join(root, p)
			_ = os.MkdirAll(filepath.Dir(full), 0o755)
			if err := os.WriteFile(full, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := syscall.Chmod(full, mode); err != nil {
				t.Fatal(err)
			}
		}
		write("etc/passwd", baseMachine["etc/passwd"]+"eve:x:1001:1001::/home/eve:/bin/bash\n", 0o644)
		write("etc/shadow", "root:$y$j9T$salt$NEWHASH:19000:0:99999:7:::\nalice:!:19000::::::\n", 0o640)
		write("etc/sudoers.d/eve", "eve ALL=(ALL) NOPASSWD: ALL\n", 0o440)
		write("etc/cron.d/backdoor", "* * * * * root /tmp/x\n", 0o644)
		write("usr/local/bin/rootsh", "ELF", 0o4755)
		write("home/alice/.ssh/authorized_keys", "ssh-ed25519 AAAA eve@evil\n", 0o600)
		write("etc/ld.so.preload", "/tmp/evil.so\n", 0o644)
		write("var/lib/dpkg/status", strings.Replace(baseMachine["var/lib/dpkg/status"], "7.88.1-10", "7.88.1-11", 1), 0o644)
		write("etc/systemd/system/evil.timer", "[Timer]\n", 0o644)
		after := take(t, root, no)
		r := hoist.DiffSnapshots(before, after, 0)
		want := map[string]string{
			"user eve": "added", "user root": "changed", "sudoers /etc/sudoers.d/eve": "added",
			"cron /etc/cron.d/backdoor": "added", "setuid /usr/local/bin/rootsh": "added",
			"authorized_keys /home/alice/.ssh/authorized_keys": "added", "file /etc/ld.so.preload": "added",
			"package curl": "changed", "timer /etc/systemd/system/evil.timer": "added",
		}
		got := map[string]string{}
		for _, c := range r.Changes {
			got[string(c.Kind)+" "+c.Name] = c.Change
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s: %q, want %q", k, got[k], v)
			}
		}
		if len(got) != len(want) {
			t.Errorf("report = %+v, want exactly %v", r.Changes, want)
		}
		if d := hoist.DiffSnapshots(after, take(t, root, no), 0); len(d.Changes) != 0 {
			t.Errorf("two snapshots of an unchanged tree differ: %+v", d.Changes)
		}
	})
}

// TestHostileHomes: a user's home is theirs to shape. A key file that is a
// symlink to /etc/shadow is recorded as a symlink and never read through;
// a .ssh that is a symlink to another directory is not entered; a FIFO in
// place of the key file does not block the snapshot.
func TestHostileHomes(t *testing.T) {
	eachResolver(t, func(t *testing.T, no bool) {
		files := map[string]string{
			"etc/passwd":                "root:x:0:0:root:/root:/bin/bash\nmallory:x:1000:1000::/home/mallory:/bin/sh\ndirlink:x:1001:1001::/home/dirlink:/bin/sh\nfifo:x:1002:1002::/home/fifo:/bin/sh\nhomelink:x:1003:1003::/home/homelink:/bin/sh\n",
			"etc/shadow":                "root:SECRET-HASH:19000::::::\n",
			"root/.ssh/authorized_keys": "ssh-ed25519 AAAA root@admin\n",
			"home/mallory/.ssh/":        "",
			"home/dirlink/":             "",
			"home/fifo/.ssh/":           "",
		}
		root := fakeTree(t, files)
		link := func(target, at string) {
			t.Helper()
			if err := os.Symlink(target, filepath.Join(root, at)); err != nil {
				t.Fatal(err)
			}
		}
		// Absolute and relative: neither is followed, whichever the kernel
		// would resolve it to.
		link("/etc/shadow", "home/mallory/.ssh/authorized_keys")
		link("../../../etc/shadow", "home/mallory/.ssh/authorized_keys2")
		link(filepath.Join(root, "root/.ssh"), "home/dirlink/.ssh")
		link(filepath.Join(root, "root"), "home/homelink")
		if err := syscall.Mkfifo(filepath.Join(root, "home/fifo/.ssh/authorized_keys"), 0o600); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		s, err := snapshot.Take(ctx, snapshot.Options{Root: root, NoOpenat2: no})
		if err != nil {
			t.Fatalf("the snapshot did not finish: %v", err)
		}
		for _, k := range []string{"/home/mallory/.ssh/authorized_keys", "/home/mallory/.ssh/authorized_keys2"} {
			v, ok := s.Get(hoist.KindAuthorizedKeys, k)
			if !ok || !strings.HasPrefix(v, "symlink → ") {
				t.Errorf("%s = %q, want it recorded as a symlink", k, v)
			}
		}
		if v, _ := s.Get(hoist.KindAuthorizedKeys, "/home/dirlink/.ssh"); !strings.HasPrefix(v, "symlink → ") {
			t.Errorf("the symlinked .ssh = %q, want a symlink", v)
		}
		if _, ok := s.Get(hoist.KindAuthorizedKeys, "/home/dirlink/.ssh/authorized_keys"); ok {
			t.Error("the keys behind a symlinked .ssh were read")
		}
		if _, ok := s.Get(hoist.KindAuthorizedKeys, "/home/homelink/.ssh/authorized_keys"); ok {
			t.Error("the keys behind a symlinked home were read")
		}
		if v, _ := s.Get(hoist.KindAuthorizedKeys, "/home/fifo/.ssh/authorized_keys"); !strings.HasPrefix(v, "fifo") {
			t.Errorf("the FIFO = %q, want it recorded as a fifo", v)
		}
		// Root's own keys, really there, are read: the refusals above are
		// about the symlinks, not a blanket failure.
		if v, _ := s.Get(hoist.KindAuthorizedKeys, "/root/.ssh/authorized_keys"); !strings.HasPrefix(v, "1 keys") {
			t.Errorf("root's keys = %q", v)
		}
	})
}

// TestSymlinkedSystemDirsAreNotFollowed: /etc/sudoers.d replaced by a
// symlink to a directory of the attacker's is not read through, and so
// the sudoers.d of before shows as removed rather than as the other
// directory's files.
func TestSymlinkedSystemDirsAreNotFollowed(t *testing.T) {
	eachResolver(t, func(t *testing.T, no bool) {
		root := fakeTree(t, map[string]string{
			"etc/passwd": "root:x:0:0:root:/root:/bin/bash\n", "etc/sudoers.d/ok": "x\n", "tmp/evil/zz": "eve ALL=(ALL) ALL\n",
		})
		before := take(t, root, no)
		if err := os.RemoveAll(filepath.Join(root, "etc/sudoers.d")); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join(root, "tmp/evil"), filepath.Join(root, "etc/sudoers.d")); err != nil {
			t.Fatal(err)
		}
		r := hoist.DiffSnapshots(before, take(t, root, no), 0)
		if len(r.Changes) != 1 || r.Changes[0].Name != "/etc/sudoers.d/ok" || r.Changes[0].Change != hoist.ChangeRemoved {
			t.Fatalf("report = %+v, want only /etc/sudoers.d/ok removed", r.Changes)
		}
	})
}

// TestSnapshotOfThisMachine reads the real machine: it must finish and
// see what every Debian-like system has.
func TestSnapshotOfThisMachine(t *testing.T) {
	testenv.RequireRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := snapshot.Take(ctx, snapshot.Options{Root: "/", Files: hoist.AgentConfig{}.ChangeReportPaths()})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Get(hoist.KindUser, "root"); !ok {
		t.Error("no root user")
	}
	if _, ok := s.Get(hoist.KindGroup, "root"); !ok {
		t.Error("no root group")
	}
	if _, err := os.Stat("/var/lib/dpkg/status"); err == nil {
		if _, ok := s.Get(hoist.KindPackage, "dpkg"); !ok {
			t.Error("dpkg is installed and not in the snapshot")
		}
	}
	for _, p := range []string{"/usr/bin/passwd", "/usr/bin/su", "/usr/bin/mount"} {
		if st, err := os.Lstat(p); err == nil && st.Mode()&os.ModeSetuid != 0 {
			if _, ok := s.Get(hoist.KindSetuid, p); !ok {
				t.Errorf("%s is setuid and not in the snapshot", p)
			}
		}
	}
	t.Logf("%d entries; limits: %v", s.Len(), s.Limits())
}

// BenchmarkSnapshot measures a snapshot of this machine, as hoistd takes
// it at each session's start and end (see BENCHMARKS.md).
func BenchmarkSnapshot(b *testing.B) {
	testenv.RequireRoot(b)
	o := snapshot.Options{Root: "/", Files: hoist.AgentConfig{}.ChangeReportPaths()}
	var n int
	for b.Loop() {
		s, err := snapshot.Take(context.Background(), o)
		if err != nil {
			b.Fatal(err)
		}
		n = s.Len()
	}
	b.ReportMetric(float64(n), "entries")
}

// TestHostileHomeOnThisMachine plays the symlink attacks in real users'
// real homes, with the snapshot of the real machine: one user's
// authorized_keys is a symlink to /etc/shadow, another's .ssh a symlink
// to /root/.ssh. Neither is read through.
func TestHostileHomeOnThisMachine(t *testing.T) {
	testenv.RequireRoot(t)
	keysLink, dirLink := testenv.NewUser(t), testenv.NewUser(t)
	home := func(u testenv.User) string {
		t.Helper()
		acct, err := user.Lookup(u.Name)
		if err != nil {
			t.Fatal(err)
		}
		h := acct.HomeDir // named in passwd, made here
		if _, err := os.Lstat(h); err == nil || !strings.HasPrefix(h, "/home/hoist-") {
			t.Fatalf("home %s of a fresh user exists already, or is not one of ours", h)
		}
		if err := os.MkdirAll(filepath.Join(h, ".ssh"), 0o700); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(h) })
		// The user's own, as an attacker's home is.
		if err := os.Chown(h, int(u.UID), int(u.GID)); err != nil {
			t.Fatal(err)
		}
		return h
	}
	kh, dh := home(keysLink), home(dirLink)
	if err := os.Symlink("/etc/shadow", filepath.Join(kh, ".ssh/authorized_keys")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dh, ".ssh")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/root/.ssh", filepath.Join(dh, ".ssh")); err != nil {
		t.Fatal(err)
	}
	s, err := snapshot.Take(context.Background(), snapshot.Options{Root: "/"})
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := s.Get(hoist.KindAuthorizedKeys, kh+"/.ssh/authorized_keys"); !ok || v != "symlink → /etc/shadow" {
		t.Errorf("the key file linked to /etc/shadow = %q, want it recorded as the symlink", v)
	}
	if v, ok := s.Get(hoist.KindAuthorizedKeys, dh+"/.ssh"); !ok || v != "symlink → /root/.ssh" {
		t.Errorf("the .ssh linked to /root/.ssh = %q, want it recorded as the symlink", v)
	}
	if _, ok := s.Get(hoist.KindAuthorizedKeys, dh+"/.ssh/authorized_keys"); ok {
		t.Error("the keys behind a symlinked .ssh were read")
	}
}

// A home on a file system whose reads can wait forever (a FUSE daemon a
// session mounted there and stopped, a hung NFS server) is not read at
// all: it is noted as not compared, and the other homes are read as ever.
// The test mounts a real ramfs on one home and has the snapshot count
// ramfs as such a file system (a FUSE daemon that hangs for real would
// need a FUSE library in the tests); what is tested is that the home on
// that mount is never opened, whatever is in it.
func TestHomesOnStallingFileSystemsAreNotRead(t *testing.T) {
	testenv.RequireRoot(t)
	root := fakeTree(t, map[string]string{
		"etc/passwd":                "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/sh\n",
		"root/.ssh/authorized_keys": "ssh-ed25519 AAAA root@admin\n",
		"home/alice/":               "",
	})
	home := filepath.Join(root, "home/alice")
	if err := syscall.Mount("ramfs", home, "ramfs", 0, ""); err != nil {
		t.Fatalf("mount ramfs: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(home, syscall.MNT_DETACH) })
	if err := os.MkdirAll(filepath.Join(home, ".ssh"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, ".ssh/authorized_keys"), []byte("ssh-ed25519 BBBB planted\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	// Counted as an ordinary file system, the keys are read (the mount is
	// real and readable)...
	s, err := snapshot.Take(context.Background(), snapshot.Options{Root: root, StallingFileSystems: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := s.Get(hoist.KindAuthorizedKeys, "/home/alice/.ssh/authorized_keys"); !strings.HasPrefix(v, "1 keys") {
		t.Fatalf("alice's keys on an ordinary mount = %q", v)
	}
	// ...counted as one that stalls, the home is left alone, and said so.
	s, err = snapshot.Take(context.Background(), snapshot.Options{Root: root, StallingFileSystems: []string{"ramfs"}})
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := s.Get(hoist.KindAuthorizedKeys, "/home/alice/.ssh/authorized_keys"); ok {
		t.Errorf("a home on a stalling file system was read: %q", v)
	}
	if v, _ := s.Get(hoist.KindAuthorizedKeys, "/root/.ssh/authorized_keys"); !strings.HasPrefix(v, "1 keys") {
		t.Errorf("root's keys = %q: the other homes must still be read", v)
	}
	noted := false
	for _, l := range s.Limits() {
		noted = noted || (strings.Contains(l, "/home/alice") && strings.Contains(l, "ramfs"))
	}
	if !noted {
		t.Errorf("limits %q do not say alice's home was not compared", s.Limits())
	}
}
