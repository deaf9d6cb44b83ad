// Command mkdeb builds Hoist's Debian packages, hoist-server and
// hoist-agent, from binaries already built, with nfpm as a library. It is
// its own module so that nothing of nfpm reaches the product binaries.
// "make deb" runs it; see packaging/README.md.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"time"

	"github.com/goreleaser/nfpm/v2"
	"github.com/goreleaser/nfpm/v2/deb"
	"github.com/goreleaser/nfpm/v2/files"
)

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", "", "directory with the built hoist, hoistd and hoist-server")
	flag.StringVar(&o.src, "src", ".", "the packaging directory (units, scripts, configuration)")
	flag.StringVar(&o.out, "out", "dist", "directory the .deb files are written to")
	flag.StringVar(&o.version, "version", "", "package version (Debian syntax, from git: see the Makefile)")
	flag.StringVar(&o.arch, "arch", "amd64", "Debian architecture of the binaries")
	flag.Parse()
	o.mtime = buildTime()
	if err := build(o); err != nil {
		fmt.Fprintln(os.Stderr, "mkdeb:", err)
		os.Exit(1)
	}
}

type options struct {
	bin, src, out, version, arch string
	// mtime is every file's time: $SOURCE_DATE_EPOCH (the commit's time,
	// from the Makefile), else now. The same tree makes the same bytes.
	mtime time.Time
}

func buildTime() time.Time {
	if sec, err := strconv.ParseInt(os.Getenv("SOURCE_DATE_EPOCH"), 10, 64); err == nil && sec > 0 {
		return time.Unix(sec, 0).UTC()
	}
	return time.Now().UTC().Truncate(time.Second)
}

// debVersion is what a Debian version may be without an epoch or a
// revision (a native package).
var debVersion = regexp.MustCompile(`^[0-9][A-Za-z0-9.+~]*$`)

func build(o options) error {
	if o.bin == "" || !debVersion.MatchString(o.version) {
		return fmt.Errorf("-bin and a Debian -version (digits first; letters, digits, . + ~) are required")
	}
	work, err := os.MkdirTemp("", "mkdeb-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	gen, err := generate(o, work)
	if err != nil {
		return err
	}
	for _, p := range []*nfpm.Info{serverPackage(o, gen), agentPackage(o, gen)} {
		for _, c := range p.Contents {
			if c.FileInfo == nil {
				c.FileInfo = &files.ContentFileInfo{}
			}
			c.FileInfo.MTime = o.mtime
		}
		path, err := write(p, o.out)
		if err != nil {
			return fmt.Errorf("%s: %w", p.Name, err)
		}
		fmt.Println(path)
	}
	return nil
}

// write validates and writes one package as NAME_VERSION_ARCH.deb in out.
func write(info *nfpm.Info, out string) (string, error) {
	info = nfpm.WithDefaults(info)
	if err := nfpm.PrepareForPackager(info, "deb"); err != nil {
		return "", err
	}
	if err := nfpm.Validate(info); err != nil {
		return "", err
	}
	path := filepath.Join(out, deb.Default.ConventionalFileName(info))
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	if err := deb.Default.Package(info, f); err != nil {
		f.Close()
		return "", err
	}
	return path, f.Close()
}

const (
	maintainer = "Hoist maintainers <hoist@example.org>"
	homepage   = "https://github.com/hoist-jit/hoist"
)

// base is what both packages share.
func base(o options, name, summary, long string) *nfpm.Info {
	return &nfpm.Info{
		Name:          name,
		Arch:          o.arch,
		Platform:      "linux",
		Version:       o.version,
		VersionSchema: "none", // the Makefile made a Debian version already
		Section:       "admin",
		Priority:      "optional",
		Maintainer:    maintainer,
		Homepage:      homepage,
		License:       "proprietary",
		Description:   summary + "\n" + long,
		MTime:         o.mtime,
	}
}

// file is a regular file of the package.
func file(src, dst string, mode os.FileMode) *files.Content {
	return &files.Content{Source: src, Destination: dst, FileInfo: &files.ContentFileInfo{Mode: mode, Owner: "root", Group: "root"}}
}

// conffile is a file under /etc that dpkg keeps when it was changed.
func conffile(src, dst string) *files.Content {
	c := file(src, dst, 0o644)
	c.Type = files.TypeConfig
	return c
}

func symlink(target, dst string) *files.Content {
	return &files.Content{Source: target, Destination: dst, Type: files.TypeSymlink}
}

func serverPackage(o options, g generated) *nfpm.Info {
	p := base(o, "hoist-server", "Hoist control server: approvals and audit for just-in-time root",
		" Hoist gives a standard user temporary, approved, fully audited root on\n"+
			" their own machine and takes it back on time. This package is the control\n"+
			" server: HTTPS API, web console, policies, approvals, the audit log. It\n"+
			" runs as the hoist system user (hoist-server.service), with SQLite in\n"+
			" /var/lib/hoist-server or PostgreSQL, configured in /etc/hoist/server.yaml.")
	p.Depends = []string{"adduser", "init-system-helpers (>= 1.52)"}
	s := o.src
	p.Contents = files.Contents{
		file(filepath.Join(o.bin, "hoist-server"), "/usr/bin/hoist-server", 0o755),
		conffile(filepath.Join(s, "etc/server.yaml"), "/etc/hoist/server.yaml"),
		file(filepath.Join(s, "systemd/hoist-server.service"), "/lib/systemd/system/hoist-server.service", 0o644),
		file(filepath.Join(s, "lintian/hoist-server"), "/usr/share/lintian/overrides/hoist-server", 0o644),
	}
	p.Contents = append(p.Contents, g.docs("hoist-server")...)
	p.Contents = append(p.Contents, g.command("hoist-server", "8")...)
	p.Scripts = nfpm.Scripts{
		PostInstall: filepath.Join(s, "scripts/server/postinst"),
		PreRemove:   filepath.Join(s, "scripts/server/prerm"),
		PostRemove:  filepath.Join(s, "scripts/server/postrm"),
	}
	return p
}

func agentPackage(o options, g generated) *nfpm.Info {
	p := base(o, "hoist-agent", "Hoist agent: just-in-time root on this machine, approved and audited",
		" Hoist gives a standard user temporary, approved, fully audited root on\n"+
			" their own machine and takes it back on time: at the end of the window\n"+
			" every process started with those rights is terminated. This package is\n"+
			" the endpoint: hoistd, the root broker (hoistd.service), and hoist, the\n"+
			" command line and JIT helper of users and admins. Enrol the machine with\n"+
			" \"hoistd enroll --token-file FILE\"; it is configured in\n"+
			" /etc/hoist/hoistd.yaml.")
	p.Depends = []string{"init-system-helpers (>= 1.52)"}
	s := o.src
	p.Contents = files.Contents{
		file(filepath.Join(o.bin, "hoistd"), "/usr/sbin/hoistd", 0o755),
		file(filepath.Join(o.bin, "hoist"), "/usr/bin/hoist", 0o755),
		// Beside hoist, which execs them for "hoist admin" and "hoist jit".
		file(filepath.Join(o.bin, "hoist-admin"), "/usr/bin/hoist-admin", 0o755),
		file(filepath.Join(o.bin, "hoist-jit"), "/usr/bin/hoist-jit", 0o755),
		conffile(filepath.Join(s, "etc/hoistd.yaml"), "/etc/hoist/hoistd.yaml"),
		file(filepath.Join(s, "systemd/hoistd.service"), "/lib/systemd/system/hoistd.service", 0o644),
		file(filepath.Join(s, "desktop/hoist-jit-helper.desktop"), "/usr/share/hoist/hoist-jit-helper.desktop", 0o644),
		file(filepath.Join(s, "desktop/hoist-jit.desktop"), "/usr/share/hoist/hoist-jit.desktop", 0o644),
		// A symlink, not a conffile: removing the package takes the
		// autostart entry with it (a conffile would stay until purge and
		// start a helper that is gone).
		symlink("/usr/share/hoist/hoist-jit-helper.desktop", "/etc/xdg/autostart/hoist-jit-helper.desktop"),
		file(filepath.Join(s, "lintian/hoist-agent"), "/usr/share/lintian/overrides/hoist-agent", 0o644),
	}
	extra, err := tree(filepath.Join(s, "agent-root"))
	if err != nil {
		panic(err) // the tree was listed a moment ago by generate
	}
	p.Contents = append(p.Contents, extra...)
	p.Contents = append(p.Contents, g.docs("hoist-agent")...)
	p.Contents = append(p.Contents, g.command("hoist", "1")...)
	p.Contents = append(p.Contents, g.command("hoistd", "8")...)
	for _, c := range siblings {
		p.Contents = append(p.Contents, file(filepath.Join(g.dir, c.name+".1.gz"), "/usr/share/man/man1/"+c.name+".1.gz", 0o644))
	}
	p.Scripts = nfpm.Scripts{
		PostInstall: filepath.Join(s, "scripts/agent/postinst"),
		PreRemove:   filepath.Join(s, "scripts/agent/prerm"),
		PostRemove:  filepath.Join(s, "scripts/agent/postrm"),
	}
	return p
}

// tree is every file below root (but its README.md), installed at its path
// relative to root: the hook for integration files other parts of Hoist
// add (sudoers, PAM, polkit). Files under /etc are conffiles.
func tree(root string) (files.Contents, error) {
	var out files.Contents
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || path == filepath.Join(root, "README.md") {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		dst := "/" + filepath.ToSlash(rel)
		mode := os.FileMode(0o644)
		if filepath.Dir(dst) == "/etc/sudoers.d" {
			mode = 0o440 // sudo ignores a sudoers file others may write
		}
		c := file(path, dst, mode)
		if len(dst) > 5 && dst[:5] == "/etc/" {
			c.Type = files.TypeConfig
		}
		out = append(out, c)
		return nil
	})
	return out, err
}
