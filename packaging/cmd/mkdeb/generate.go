package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/goreleaser/nfpm/v2/files"
)

// generated is where the files made from the binaries are: man pages,
// shell completions, the changelog.
type generated struct {
	dir     string
	version string
}

// generate makes, in work, what the packages hold that is not in the
// source tree: each binary's man page (from its --help, command by
// command) and shell completions (cobra writes them), and the Debian
// changelog and copyright.
func generate(o options, work string) (generated, error) {
	g := generated{dir: work, version: o.version}
	if _, err := tree(filepath.Join(o.src, "agent-root")); err != nil {
		return g, err
	}
	for _, c := range []struct{ name, section string }{{"hoist", "1"}, {"hoistd", "8"}, {"hoist-server", "8"}} {
		bin := filepath.Join(o.bin, c.name)
		page, err := manPage(bin, c.name, c.section, o.version)
		if err != nil {
			return g, fmt.Errorf("man page of %s: %w", c.name, err)
		}
		if err := writeGzip(filepath.Join(work, c.name+"."+c.section+".gz"), page); err != nil {
			return g, err
		}
		for _, shell := range []string{"bash", "zsh", "fish"} {
			out, err := exec.Command(bin, "completion", shell).Output()
			if err != nil {
				return g, fmt.Errorf("%s completion %s: %w", c.name, shell, err)
			}
			if err := os.WriteFile(filepath.Join(work, c.name+"."+shell), out, 0o644); err != nil {
				return g, err
			}
		}
	}
	for _, c := range siblings {
		if err := writeGzip(filepath.Join(work, c.name+".1.gz"), []byte(siblingPage(c.name, c.command, c.short, o.version))); err != nil {
			return g, err
		}
	}
	for _, pkg := range []string{"hoist-server", "hoist-agent"} {
		if err := writeGzip(filepath.Join(work, pkg+".changelog.gz"), []byte(changelog(pkg, o.version, o.mtime))); err != nil {
			return g, err
		}
		if err := os.WriteFile(filepath.Join(work, pkg+".copyright"), []byte(copyright), 0o644); err != nil {
			return g, err
		}
	}
	return g, nil
}

// command is a binary's man page and completions.
func (g generated) command(name, section string) files.Contents {
	return files.Contents{
		file(filepath.Join(g.dir, name+"."+section+".gz"), "/usr/share/man/man"+section+"/"+name+"."+section+".gz", 0o644),
		file(filepath.Join(g.dir, name+".bash"), "/usr/share/bash-completion/completions/"+name, 0o644),
		file(filepath.Join(g.dir, name+".zsh"), "/usr/share/zsh/vendor-completions/_"+name, 0o644),
		file(filepath.Join(g.dir, name+".fish"), "/usr/share/fish/vendor_completions.d/"+name+".fish", 0o644),
	}
}

// docs is the copyright and changelog Debian wants in every package.
func (g generated) docs(pkg string) files.Contents {
	return files.Contents{
		file(filepath.Join(g.dir, pkg+".copyright"), "/usr/share/doc/"+pkg+"/copyright", 0o644),
		file(filepath.Join(g.dir, pkg+".changelog.gz"), "/usr/share/doc/"+pkg+"/changelog.gz", 0o644),
	}
}

const copyright = `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: Hoist
Source: https://github.com/hoist-jit/hoist

Files: *
Copyright: 2025-2026 the Hoist authors
License: proprietary
 Copyright (C) 2025-2026 the Hoist authors. All rights reserved.
`

// changelog is a one-entry Debian changelog for the build.
func changelog(pkg, version string, at time.Time) string {
	return fmt.Sprintf("%s (%s) unstable; urgency=medium\n\n  * Built from the Hoist source tree; see its git history.\n\n -- %s  %s\n",
		pkg, version, maintainer, at.Format(time.RFC1123Z))
}

// writeGzip writes data gzipped at the best level, without a name or a
// time in the header (reproducible, and what lintian asks for).
func writeGzip(path string, data []byte) error {
	var b bytes.Buffer
	z, err := gzip.NewWriterLevel(&b, gzip.BestCompression)
	if err != nil {
		return err
	}
	if _, err := z.Write(data); err != nil {
		return err
	}
	if err := z.Close(); err != nil {
		return err
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

// manPage is a roff page for bin made from the --help of the command and
// of each of its subcommands, in order: the commands themselves are the
// documentation, so the page never disagrees with them.
func manPage(bin, name, section, version string) ([]byte, error) {
	help, err := helpOf(bin, nil)
	if err != nil {
		return nil, err
	}
	short, _, _ := strings.Cut(help, "\n")
	var b strings.Builder
	fmt.Fprintf(&b, ".TH %s %s \"\" \"Hoist %s\" \"Hoist\"\n", strings.ToUpper(name), section, version)
	fmt.Fprintf(&b, ".SH NAME\n%s \\- %s\n", name, roff(strings.TrimSuffix(short, ".")))
	fmt.Fprintf(&b, ".SH DESCRIPTION\n")
	verbatim(&b, help)
	subs, err := subcommands(bin, nil, help)
	if err != nil {
		return nil, err
	}
	if len(subs) > 0 {
		fmt.Fprintf(&b, ".SH COMMANDS\n")
	}
	for _, s := range subs {
		fmt.Fprintf(&b, ".SS %s %s\n", name, roff(strings.Join(s.path, " ")))
		verbatim(&b, s.help)
	}
	fmt.Fprintf(&b, ".SH SEE ALSO\nhoist(1), hoistd(8), hoist-server(8)\n")
	return []byte(b.String()), nil
}

type subcommand struct {
	path []string
	help string
}

// maxDepth bounds the walk of the command tree.
const maxDepth = 4

// subcommands walks the "Available Commands:" of help, depth first.
func subcommands(bin string, path []string, help string) ([]subcommand, error) {
	if len(path) >= maxDepth {
		return nil, nil
	}
	var out []subcommand
	for _, name := range listed(help) {
		p := append(append([]string(nil), path...), name)
		h, err := helpOf(bin, p)
		if err != nil {
			return nil, err
		}
		out = append(out, subcommand{path: p, help: h})
		more, err := subcommands(bin, p, h)
		if err != nil {
			return nil, err
		}
		out = append(out, more...)
	}
	return out, nil
}

// listed is the command names cobra lists under "Available Commands:",
// without its own help and completion.
func listed(help string) []string {
	_, rest, ok := strings.Cut(help, "Available Commands:\n")
	if !ok {
		return nil
	}
	var names []string
	for _, line := range strings.Split(rest, "\n") {
		if !strings.HasPrefix(line, "  ") {
			break
		}
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		if name != "help" && name != "completion" && name != "" {
			names = append(names, name)
		}
	}
	return names
}

func helpOf(bin string, path []string) (string, error) {
	cmd := exec.Command(bin, append(append([]string(nil), path...), "--help")...)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=/nonexistent", "LANG=C"}
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s %s --help: %w", bin, strings.Join(path, " "), err)
	}
	return string(out), nil
}

// verbatim writes text as a no-fill block.
func verbatim(b *strings.Builder, text string) {
	b.WriteString(".nf\n")
	for _, line := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		b.WriteString(roffLine(line) + "\n")
	}
	b.WriteString(".fi\n")
}

// roff escapes text for roff: backslashes, and hyphens as hyphens.
func roff(s string) string {
	return strings.NewReplacer(`\`, `\e`, "-", `\-`).Replace(s)
}

// roffLine is roff for one line: a leading . or ' would be a request.
func roffLine(s string) string {
	s = roff(s)
	if s == "" {
		return ".sp"
	}
	if s[0] == '.' || s[0] == '\'' {
		return `\&` + s
	}
	return s
}

// siblings are the executables installed beside hoist that "hoist admin"
// and "hoist jit" exec; their pages send the reader to hoist(1), whose page
// has every command.
var siblings = []struct{ name, command, short string }{
	{"hoist-admin", "hoist admin", "the admin client of hoist(1), and the rest of its command line"},
	{"hoist-jit", "hoist jit", "the JIT helper of hoist(1)"},
}

// siblingPage is the man page of a sibling executable of hoist.
func siblingPage(name, command, short, version string) string {
	return fmt.Sprintf(".TH %s 1 \"\" \"Hoist %s\" \"Hoist\"\n.SH NAME\n%s \\- %s\n.SH DESCRIPTION\n"+
		"Run it as \\fB%s\\fR: hoist execs %s, installed beside it, with its own arguments. "+
		"Its commands, flags and output are those of hoist(1), whose page describes them.\n"+
		".SH SEE ALSO\nhoist(1)\n", strings.ToUpper(name), version, name, roff(short), command, name)
}
