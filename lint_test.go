package hoist_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/testenv"
)

var updateDocs = flag.Bool("update-docs", false, "rewrite docs/lint-programs.md from the linter's list")

func elevate(path string, argv *hoist.ArgvRule) hoist.Policy {
	return hoist.Policy{Name: "lint", Kind: hoist.KindApplication, Groups: []string{hoist.DefaultGroup},
		Application: &hoist.ApplicationRule{Path: path, Argv: argv, Action: hoist.ActionElevate}}
}

func exact(args ...string) []hoist.ArgPattern {
	out := make([]hoist.ArgPattern, len(args))
	for i, a := range args {
		out[i] = hoist.ArgPattern{Exact: a}
	}
	return out
}

// has reports whether fs holds a finding of sev and code on field.
func has(fs []hoist.LintFinding, sev hoist.LintSeverity, code, field string) bool {
	return slices.ContainsFunc(fs, func(f hoist.LintFinding) bool {
		return f.Severity == sev && f.Code == code && f.Field == field
	})
}

func TestLintRules(t *testing.T) {
	const (
		refuse = hoist.LintRefusal
		warn   = hoist.LintWarning
	)
	type want struct {
		sev         hoist.LintSeverity
		code, field string
	}
	aptUpdate := &hoist.ArgvRule{Match: exact("update")}
	cases := []struct {
		name string
		p    hoist.Policy
		want []want // each must be found
		none bool   // and nothing else may be
	}{
		{"a shell, any argv", elevate("/usr/bin/bash", &hoist.ArgvRule{Match: exact("/usr/local/sbin/backup")}),
			[]want{{refuse, hoist.LintShell, "application.path"}}, false},
		{"an interpreter", elevate("/usr/bin/python3.11", &hoist.ArgvRule{Match: exact("/usr/local/lib/job.py")}),
			[]want{{refuse, hoist.LintInterpreter, "application.path"}}, false},
		{"an interactive escape", elevate("/usr/bin/less", &hoist.ArgvRule{Match: exact("/var/log/syslog")}),
			[]want{{refuse, hoist.LintInteractive, "application.path"}}, false},
		{"a listed program with any arguments", elevate("/usr/bin/apt-get", nil),
			[]want{{refuse, hoist.LintAnyArguments, "application.argv"}}, false},
		{"a listed program, rest any, no options", elevate("/usr/bin/apt-get", &hoist.ArgvRule{Match: exact("install"), Rest: hoist.RestAny}),
			[]want{{refuse, hoist.LintRestAny, "application.argv.rest"}}, false},
		// apt-get install ./evil.deb: the operand is the escape, which an
		// option allow-list does not stop.
		{"a listed program, rest any, options without the dangerous ones",
			elevate("/usr/bin/apt-get", &hoist.ArgvRule{Match: exact("install"), Rest: hoist.RestAny, Options: []string{"-y", "--no-install-recommends"}}),
			[]want{{refuse, hoist.LintRestAny, "application.argv.rest"}}, false},
		{"a listed program, rest any, each a package name",
			elevate("/usr/bin/apt-get", &hoist.ArgvRule{Match: exact("install"), Rest: hoist.RestAny, Options: []string{"-y", "--no-install-recommends"},
				Each: &hoist.ArgPattern{Regex: `[a-z0-9][a-z0-9+.-]*[a-z0-9+](:[a-z0-9]+)?(=[a-zA-Z0-9.+~:-]+)?`}}),
			nil, true},
		{"a listed program, rest any, each admits a path",
			elevate("/usr/bin/apt-get", &hoist.ArgvRule{Match: exact("install"), Rest: hoist.RestAny, Options: []string{"-y"},
				Each: &hoist.ArgPattern{Glob: "*"}}),
			[]want{{refuse, hoist.LintRestAny, "application.argv.each"}}, false},
		{"a listed program, rest any, each admits an option",
			elevate("/usr/bin/apt-get", &hoist.ArgvRule{Match: exact("install"), Rest: hoist.RestAny,
				Each: &hoist.ArgPattern{Regex: `-?[a-z]+`}}),
			[]want{{refuse, hoist.LintRestAny, "application.argv.each"}}, false},
		{"a listed program, rest any, options with a dangerous one",
			elevate("/usr/bin/apt-get", &hoist.ArgvRule{Match: exact("install"), Rest: hoist.RestAny, Options: []string{"-y", "-o"}}),
			[]want{{refuse, hoist.LintDangerousOption, "application.argv.options[1]"}}, false},
		{"a dangerous option, every argument matched",
			elevate("/usr/bin/tar", &hoist.ArgvRule{Match: []hoist.ArgPattern{{Exact: "-cf"}, {Glob: "/srv/backup/*.tar"}, {Exact: "/etc"}}, Options: []string{"-cf", "--to-command=gzip"}}),
			[]want{{warn, hoist.LintDangerousOption, "application.argv.options[1]"}}, false},
		{"a short option with its value attached", elevate("/usr/bin/tar", &hoist.ArgvRule{Match: exact("-cf", "/srv/x.tar", "/etc"), Options: []string{"-Igzip"}}),
			[]want{{warn, hoist.LintDangerousOption, "application.argv.options[0]"}}, false},
		{"operands: rest any is refused even with options",
			elevate("/usr/bin/env", &hoist.ArgvRule{Match: exact("LANG=C"), Rest: hoist.RestAny, Options: []string{"-i"}}),
			[]want{{refuse, hoist.LintRestAny, "application.argv.rest"}}, false},
		{"a glob that matches a dangerous option", elevate("/usr/bin/find", &hoist.ArgvRule{Match: []hoist.ArgPattern{{Exact: "/var/log"}, {Glob: "-*"}, {Exact: "7"}}}),
			[]want{{warn, hoist.LintPatternDangerous, "application.argv.match[1]"}}, false},
		{"a regex that matches a dangerous option with its value", elevate("/usr/bin/tar", &hoist.ArgvRule{Match: []hoist.ArgPattern{{Exact: "-cf"}, {Exact: "/srv/x.tar"}, {Regex: `--[a-z-]+=.*`}}}),
			[]want{{warn, hoist.LintPatternDangerous, "application.argv.match[2]"}}, false},
		{"a regex that does not", elevate("/usr/bin/find", &hoist.ArgvRule{Match: []hoist.ArgPattern{{Exact: "/var/log"}, {Exact: "-mtime"}, {Regex: `\+[0-9]{1,3}`}}}),
			nil, true},
		{"a glob that matches anything", elevate("/usr/sbin/service-restart", &hoist.ArgvRule{Match: []hoist.ArgPattern{{Glob: "*"}}}),
			[]want{{warn, hoist.LintMatchesAnything, "application.argv.match[0]"}}, false},
		{"a regex that matches anything", elevate("/usr/sbin/service-restart", &hoist.ArgvRule{Match: []hoist.ArgPattern{{Regex: ".*"}}}),
			[]want{{warn, hoist.LintMatchesAnything, "application.argv.match[0]"}}, false},
		{"an unlisted program with any arguments", elevate("/usr/sbin/reboot", nil),
			[]want{{warn, hoist.LintAnyArguments, "application.argv"}}, true},
		{"an unlisted program, rest any without options", elevate("/usr/sbin/reboot", &hoist.ArgvRule{Rest: hoist.RestAny}),
			[]want{{warn, hoist.LintRestAny, "application.argv.rest"}}, true},
		{"an unlisted program with exact arguments", elevate("/usr/sbin/reboot", &hoist.ArgvRule{}), nil, true},
		{"in /tmp", elevate("/tmp/tool", &hoist.ArgvRule{}), []want{{refuse, hoist.LintWritableDir, "application.path"}}, true},
		{"in a home directory", elevate("/home/alice/bin/tool", &hoist.ArgvRule{}), []want{{refuse, hoist.LintWritableDir, "application.path"}}, true},
		{"in /dev/shm", elevate("/dev/shm/x", &hoist.ArgvRule{}), []want{{refuse, hoist.LintWritableDir, "application.path"}}, true},
		{"in /run/user", elevate("/run/user/1000/x", &hoist.ArgvRule{}), []want{{refuse, hoist.LintWritableDir, "application.path"}}, true},
		{"a pattern reaching into /var/tmp", elevate("/var/*/tool", &hoist.ArgvRule{}), []want{{refuse, hoist.LintWritableDir, "application.path"}}, true},
		{"/tmp itself is not inside /tmp", elevate("/tmpfoo/tool", &hoist.ArgvRule{}), nil, true},
		{"under /usr/local", elevate("/usr/local/sbin/backup", &hoist.ArgvRule{}), []want{{warn, hoist.LintUsrLocal, "application.path"}}, true},
		{"under /opt without a digest", elevate("/opt/vendor/bin/agentctl", &hoist.ArgvRule{}), []want{{warn, hoist.LintNoSHA256, "application.sha256"}}, true},
		{"under /opt with a digest", func() hoist.Policy {
			p := elevate("/opt/vendor/bin/agentctl", &hoist.ArgvRule{})
			p.Application.SHA256 = strings.Repeat("ab", 32)
			return p
		}(), nil, true},
		{"a pattern over /usr/bin", elevate("/usr/bin/*", &hoist.ArgvRule{}),
			[]want{{warn, hoist.LintPathPattern, "application.path"}, {refuse, hoist.LintShell, "application.path"}}, false},
		{"a pattern over py*", elevate("/usr/bin/py*", &hoist.ArgvRule{Match: exact("x")}),
			[]want{{refuse, hoist.LintInterpreter, "application.path"}}, false},
		{"a pattern that matches a listed program, linted with its argv", elevate("/usr/bin/apt*", nil),
			[]want{{warn, hoist.LintPathPattern, "application.path"}, {refuse, hoist.LintAnyArguments, "application.argv"}}, false},
		{"a pattern that matches no listed program", elevate("/usr/sbin/hoist-*", &hoist.ArgvRule{}), nil, true},
		{"make without -f or -C", elevate("/usr/bin/make", &hoist.ArgvRule{Match: exact("install")}),
			[]want{{refuse, hoist.LintWorkingDir, "application.argv"}}, false},
		{"make with -C and a path", elevate("/usr/bin/make", &hoist.ArgvRule{Match: exact("-C", "/usr/src/app", "install")}), nil, true},
		{"a pager without --no-pager", elevate("/usr/bin/git", &hoist.ArgvRule{Match: exact("-C", "/srv/app", "log")}),
			[]want{{warn, hoist.LintPager, "application.argv"}}, true},
		{"a pager with --no-pager", elevate("/usr/bin/git", &hoist.ArgvRule{Match: exact("--no-pager", "-C", "/srv/app", "log")}), nil, true},
		{"the documented safe apt-get", elevate("/usr/bin/apt-get", aptUpdate), nil, true},
		{"justify is linted like elevate", func() hoist.Policy {
			p := elevate("/bin/sh", nil)
			p.Application.Action = hoist.ActionJustify
			return p
		}(), []want{{refuse, hoist.LintShell, "application.path"}}, false},
		{"deny is not linted", func() hoist.Policy {
			p := elevate("/tmp/*", nil)
			p.Application.Action = hoist.ActionDeny
			return p
		}(), nil, true},
		{"allow is not linted", func() hoist.Policy { p := elevate("/bin/sh", nil); p.Application.Action = hoist.ActionAllow; return p }(), nil, true},
		{"audit is not linted", func() hoist.Policy { p := elevate("/bin/sh", nil); p.Application.Action = hoist.ActionAudit; return p }(), nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := hoist.LintPolicy(tc.p)
			for _, w := range tc.want {
				if !has(got, w.sev, w.code, w.field) {
					t.Errorf("missing %s %s on %s; got %+v", w.sev, w.code, w.field, got)
				}
			}
			if tc.none && len(got) != len(tc.want) {
				t.Errorf("got %d findings, want only %v: %+v", len(got), tc.want, got)
			}
			for _, f := range got {
				if f.Message == "" || f.Field == "" || f.Code == "" {
					t.Errorf("finding without message, field or code: %+v", f)
				}
			}
			err := hoist.LintError(got)
			refused := slices.ContainsFunc(got, func(f hoist.LintFinding) bool { return f.Severity == hoist.LintRefusal })
			var he *hoist.Error
			switch {
			case refused && (!errors.As(err, &he) || he.Code != hoist.EInvalid || len(he.Fields) == 0):
				t.Errorf("LintError = %v, want EInvalid with fields", err)
			case !refused && err != nil:
				t.Errorf("LintError = %v, want nil for warnings only", err)
			}
		})
	}
}

// TestLintShippedPolicies: nothing a new server ships trips the linter.
func TestLintShippedPolicies(t *testing.T) {
	for _, p := range hoist.SamplePolicies(time.Now()) {
		if got := hoist.LintPolicy(p); len(got) != 0 {
			t.Errorf("%s: %+v", p.Name, got)
		}
	}
}

// TestLintErrorBounded: a pattern over a whole directory refuses dozens of
// programs; the error names a few and counts the rest.
func TestLintErrorBounded(t *testing.T) {
	var he *hoist.Error
	if err := hoist.LintError(hoist.LintPolicy(elevate("/usr/bin/*", &hoist.ArgvRule{}))); !errors.As(err, &he) || len(he.Fields["application.path"]) > 2000 {
		t.Fatalf("got %v", err)
	}
}

func TestLintProgramList(t *testing.T) {
	kinds := []string{hoist.ProgramShell, hoist.ProgramInterpreter, hoist.ProgramOptions, hoist.ProgramFiles, hoist.ProgramPager, hoist.ProgramWrites, hoist.ProgramRunsCommand}
	seen := map[string]string{}
	for _, e := range hoist.LintPrograms() {
		if !slices.Contains(kinds, e.Kind) || !strings.HasSuffix(e.Reason, ".") || len(e.Example) == 0 {
			t.Errorf("%v: kind %q, reason %q, example %v", e.Names, e.Kind, e.Reason, e.Example)
		}
		if !slices.ContainsFunc(e.Names, func(n string) bool { ok, _ := filepath.Match(n, e.Example[0]); return ok }) {
			t.Errorf("%v: the example runs %s, which the entry does not name", e.Names, e.Example[0])
		}
		for _, n := range e.Names {
			if other, dup := seen[n]; dup {
				t.Errorf("%s is in two entries: %s and %s", n, other, e.Names[0])
			}
			seen[n] = e.Names[0]
		}
	}
	if n := len(hoist.LintPrograms()); n < 35 {
		t.Errorf("%d entries, want at least 35", n)
	}
}

// TestLintProgramsDoc keeps docs/lint-programs.md what the list says.
func TestLintProgramsDoc(t *testing.T) {
	want := lintProgramsDoc()
	if *updateDocs {
		if err := os.WriteFile("docs/lint-programs.md", []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile("docs/lint-programs.md")
	if err != nil || string(got) != want {
		t.Fatalf("docs/lint-programs.md is not the list's (%v): go test -run TestLintProgramsDoc -update-docs .", err)
	}
}

func lintProgramsDoc() string {
	var b strings.Builder
	b.WriteString("# Programs the policy linter knows\n\n")
	b.WriteString("Generated from `lintprograms.go` by `go test -run TestLintProgramsDoc -update-docs .`; do not edit by hand.\n")
	b.WriteString("The rules that use this list are in [policies.md](policies.md#what-the-linter-refuses-and-warns-about).\n")
	b.WriteString("Every example is run by `lint_test.go` as a non-root user with a harmless payload, except where the entry says why not.\n\n")
	b.WriteString("\"Any form\" means the linter refuses an elevate or justify policy for the program whatever its argument rule.\n\n")
	b.WriteString("| programs | kind | why | dangerous arguments | example escape |\n|---|---|---|---|---|\n")
	for _, e := range hoist.LintPrograms() {
		kind := e.Kind
		if e.Always {
			kind += ", any form"
		}
		dangerous := "—"
		if len(e.Dangerous) > 0 {
			dangerous = "`" + strings.Join(e.Dangerous, "` `") + "`"
		}
		if e.NoPager != "" {
			dangerous += "; pager unless `" + e.NoPager + "`"
		}
		ex := "`" + strings.ReplaceAll(shellQuote(e.Example), "|", `\|`) + "`"
		switch {
		case e.Keys != "":
			ex += ", then type `" + strings.TrimSpace(printable(e.Keys)) + "`"
		case e.Stdin != "":
			ex += " with `" + strings.TrimSpace(strings.ReplaceAll(e.Stdin, "\n", "; ")) + "` on standard input"
		}
		if e.LintOnly != "" {
			ex += " (not run by the tests: " + e.LintOnly + ")"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", strings.Join(e.Names, ", "), kind, e.Reason, dangerous, ex)
	}
	return b.String()
}

func printable(s string) string {
	r := strings.NewReplacer("\x12", "Ctrl-R ", "\x18", "Ctrl-X ", "\r", " Enter", "\n", " Enter")
	return r.Replace(s)
}

func shellQuote(argv []string) string {
	out := make([]string, len(argv))
	for i, a := range argv {
		if a == "" || strings.ContainsAny(a, " \t'\"!;$()<>|&*#{}\\") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}

// TestLintProgramEscapes: the linter refuses every entry's program with
// any arguments and with rest: any (and an any-form entry with one exact
// argument). TestLintProgramEscapesRun proves the entries are true.
func TestLintProgramEscapes(t *testing.T) {
	for _, e := range hoist.LintPrograms() {
		t.Run(e.Names[0], func(t *testing.T) {
			for _, name := range e.Names {
				if strings.ContainsAny(name, "*?[") {
					continue
				}
				for _, argv := range []*hoist.ArgvRule{nil, {Rest: hoist.RestAny}} {
					got := hoist.LintPolicy(elevate("/usr/bin/"+name, argv))
					if hoist.LintError(got) == nil {
						t.Errorf("%s with argv %+v: not refused: %+v", name, argv, got)
					}
				}
			}
			if e.Always {
				if got := hoist.LintPolicy(elevate("/usr/bin/"+e.Names[0], &hoist.ArgvRule{Match: exact("/etc/hostname")})); hoist.LintError(got) == nil {
					t.Errorf("%s with one exact argument: not refused: %+v", e.Names[0], got)
				}
			}
		})
	}
}

// TestLintProgramEscapesRun runs every entry's example escape for real, as
// a fresh non-root user (the escape owes nothing to privileges) with a
// harmless payload, unless the entry says why it cannot be run here.
func TestLintProgramEscapesRun(t *testing.T) {
	user := testenv.NewUser(t)
	for _, e := range hoist.LintPrograms() {
		t.Run(e.Names[0], func(t *testing.T) {
			if e.LintOnly != "" {
				t.Logf("lint only (TestLintProgramEscapes): %s", e.LintOnly) // by design, not a missing capability
				return
			}
			runEscape(t, e, user)
		})
	}
}

// testPath is where the escapes' programs are looked up.
const testPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

func runEscape(t *testing.T, e hoist.LintProgram, u testenv.User) {
	// Only the system's directories: the test's own PATH may hold
	// programs the fresh user cannot run (a pyenv shim in root's home).
	bin, err := "", os.ErrNotExist
	for _, d := range filepath.SplitList(testPath) {
		if fi, serr := os.Stat(filepath.Join(d, e.Example[0])); serr == nil && fi.Mode().IsRegular() {
			bin, err = filepath.Join(d, e.Example[0]), nil
			break
		}
	}
	testenv.Require(t, err == nil, "needs "+e.Example[0]+" (scripts/test installs it)")
	dir := testenv.PublicDir(t)
	file := filepath.Join(dir, "ESCAPED")
	sub := strings.NewReplacer("@FILE@", file, "@DIR@", dir)
	argv := make([]string, len(e.Example))
	for i, a := range e.Example {
		argv[i] = sub.Replace(a)
	}
	asRoot := prepareEscape(t, e, dir, file, &argv)
	if err := filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, int(u.UID), int(u.GID))
	}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, argv[1:]...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + testPath, "HOME=" + dir, "TERM=xterm", "LANG=C.UTF-8"}
	attr := &syscall.SysProcAttr{}
	if !asRoot {
		attr.Credential = &syscall.Credential{Uid: u.UID, Gid: u.GID}
	}
	var out bytes.Buffer
	if e.Terminal {
		typeEscape(t, cmd, attr, e.Prompt, sub.Replace(e.Keys), file)
	} else {
		cmd.SysProcAttr = attr
		cmd.Stdin = strings.NewReader(sub.Replace(e.Stdin))
		cmd.Stdout, cmd.Stderr = &out, &out
		_ = cmd.Run() // many escapes fail after the payload ran (ssh finds no host)
	}
	// Some payloads run after the program returns (tmux's server starts
	// the window's command).
	for deadline := time.Now().Add(30 * time.Second); !escaped(e, file); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not run its payload (no %s):\n%s", shellQuote(argv), file, out.String())
		}
	}
}

// prepareEscape makes what an example needs in dir and reports whether it
// must run as the test's own user (root): su asks others for a password.
func prepareEscape(t *testing.T, e hoist.LintProgram, dir, file string, argv *[]string) (asRoot bool) {
	write := func(name, data string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("long.txt", strings.Repeat("a line that more pages through\n", 300))
	write("note.txt", "a note\n")
	switch e.Example[0] {
	case "apt-get":
		// A non-root user's apt-get needs state of its own (and a source
		// to update from); the escape is the same -o.
		for _, d := range []string{"lists/partial", "cache", "repo", "parts"} {
			if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		write("sources.list", "deb [trusted=yes] file:"+dir+"/repo ./\n")
		sandbox := []string{"-o", "Dir::State::Lists=" + dir + "/lists", "-o", "Dir::Cache=" + dir + "/cache", "-o", "Debug::NoLocking=1",
			"-o", "Dir::Etc::SourceList=" + dir + "/sources.list", "-o", "Dir::Etc::SourceParts=" + dir + "/parts"}
		*argv = slices.Insert(*argv, 1, sandbox...)
	case "chmod":
		write(filepath.Base(file), "#!/bin/sh\n")
	case "su":
		testenv.RequireRoot(t)
		return true
	}
	return false
}

// escaped reports whether the payload ran: the file exists (for chmod, its
// mode became setuid).
func escaped(e hoist.LintProgram, file string) bool {
	fi, err := os.Stat(file)
	if err != nil {
		return false
	}
	if e.Example[0] == "chmod" {
		return fi.Mode()&os.ModeSetuid != 0
	}
	return true
}

// typeEscape runs cmd on a new terminal and, once the screen shows prompt,
// types keys; it returns when the payload's file exists (or the deadline
// passes: the caller reports it), ending the program.
func typeEscape(t *testing.T, cmd *exec.Cmd, attr *syscall.SysProcAttr, prompt, keys, file string) {
	attr.Setsid, attr.Setctty = true, true
	ptm, err := pty.StartWithAttrs(cmd, &pty.Winsize{Rows: 24, Cols: 80}, attr)
	if err != nil {
		t.Fatal(err)
	}
	defer ptm.Close()
	var (
		mu     sync.Mutex
		screen bytes.Buffer
	)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := ptm.Read(buf)
			mu.Lock()
			screen.Write(buf[:n])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	if keys != "" {
		// Typed before the program reads its terminal, keys would be read
		// as other commands: wait for its prompt.
		testenv.WaitUntil(t, "the prompt "+prompt, func() bool {
			mu.Lock()
			defer mu.Unlock()
			return screen.Len() > 0 && strings.Contains(screen.String(), prompt)
		})
		// The first key opens the command line (more flushes what was typed
		// ahead of it): type the rest once the screen answers it.
		mu.Lock()
		before := screen.Len()
		mu.Unlock()
		if _, err := ptm.Write([]byte(keys[:1])); err != nil {
			t.Fatal(err)
		}
		testenv.WaitUntil(t, "the answer to "+strconv.Quote(keys[:1]), func() bool { mu.Lock(); defer mu.Unlock(); return screen.Len() > before })
		if _, err := ptm.Write([]byte(keys[1:])); err != nil {
			t.Fatal(err)
		}
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(file); err == nil || time.Now().After(deadline) {
			if err != nil {
				mu.Lock()
				t.Logf("the screen:\n%q", screen.String())
				mu.Unlock()
			}
			return
		}
	}
}
