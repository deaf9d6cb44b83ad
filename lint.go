package hoist

import (
	"fmt"
	"path"
	"slices"
	"strings"
)

// The policy linter. Validate says whether a policy is well formed; the
// linter says whether it is safe: whether an application policy that runs a
// program as root hands the user a root shell anyway. It refuses what it is
// certain of (a shell, an interpreter, a listed program with any arguments,
// a program in a directory others can write) and warns about what needs an
// administrator's judgement. Only elevate and justify rules are linted: deny,
// allow and audit never run anything as root, and a deny of /tmp/* or of
// /usr/bin/python3 is a sensible policy. JIT policies are not linted: during
// a session everything is root by design.

// LintSeverity says whether a finding stops a policy from being stored.
type LintSeverity string

// Severities of lint findings.
const (
	LintWarning LintSeverity = "warning" // stored; shown to the administrator
	LintRefusal LintSeverity = "refusal" // not stored (EInvalid)
)

// Codes of lint findings. They are stable: scripts may match on them.
const (
	LintShell            = "shell"                    // the program is a shell
	LintInterpreter      = "interpreter"              // the program is an interpreter
	LintInteractive      = "interactive-escape"       // listed, and refused in any form
	LintAnyArguments     = "any-arguments"            // no argv rule
	LintRestAny          = "rest-any"                 // argv.rest any, without a safe option allow-list
	LintDangerousOption  = "dangerous-option"         // argv.options allows one of the program's dangerous options
	LintPatternDangerous = "pattern-allows-dangerous" // a glob or regex argument pattern matches a dangerous argument
	LintMatchesAnything  = "pattern-matches-anything" // a glob or regex argument pattern matches every argument
	LintPager            = "pager"                    // the program may page its output through less
	LintWorkingDir       = "reads-working-directory"  // the program reads what it runs from the user's directory
	LintWritableDir      = "writable-directory"       // the path is in a directory others can write
	LintUsrLocal         = "usr-local"                // the path is under /usr/local
	LintNoSHA256         = "no-sha256"                // a path under /opt without a digest
	LintPathPattern      = "path-pattern"             // a path pattern matches listed programs
)

// LintFinding is one thing the linter found in a policy.
type LintFinding struct {
	Severity LintSeverity `json:"severity"`
	// Field names the part of the policy, as Validate names fields
	// ("application.path", "application.argv.match[2]").
	Field   string `json:"field"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// LintPolicy returns what the linter finds in p, refusals first. It reads
// nothing but p (no file system), so the CLI can lint a file offline and the
// server gives every caller the same answer. p should be valid; a pattern
// that does not compile is Validate's to report and is skipped here.
func LintPolicy(p Policy) []LintFinding {
	r := p.Application
	if p.Kind != KindApplication || r == nil || (r.Action != ActionElevate && r.Action != ActionJustify) {
		return nil
	}
	l := &linter{rule: r}
	l.path()
	matched := listedFor(r.Path)
	if len(matched) > 0 && hasMeta(r.Path) {
		var names []string
		for _, m := range matched {
			names = append(names, m.path)
		}
		l.warn("application.path", LintPathPattern, fmt.Sprintf("the pattern %s matches programs the linter knows give root away (%s); "+
			"each is linted below with this rule's arguments. Write the exact path of the program you mean.", r.Path, strings.Join(names, ", ")))
	}
	for _, m := range matched {
		l.listed(m)
	}
	if len(matched) == 0 {
		l.unlisted()
	}
	l.patterns()
	return l.sorted()
}

// LintError is the refusal for the refusals among fs: an EInvalid error
// with the fields named, the shape of Validate's errors, or nil.
func LintError(fs []LintFinding) error {
	// A pattern over a whole directory is refused for dozens of programs:
	// name a few, count the rest.
	const shown = 3
	f, n := FieldErrors{}, map[string]int{}
	for _, x := range fs {
		if x.Severity != LintRefusal {
			continue
		}
		switch n[x.Field]++; {
		case n[x.Field] == 1:
			f[x.Field] = x.Message
		case n[x.Field] <= shown:
			f[x.Field] += "; " + x.Message
		}
	}
	for field, count := range n {
		if count > shown {
			f[field] += fmt.Sprintf("; and %d more programs the linter refuses", count-shown)
		}
	}
	return f.err("the policy")
}

// LintWarnings returns the warnings among fs (never nil, for JSON).
func LintWarnings(fs []LintFinding) []LintFinding {
	out := []LintFinding{}
	for _, x := range fs {
		if x.Severity == LintWarning {
			out = append(out, x)
		}
	}
	return out
}

type linter struct {
	rule *ApplicationRule
	out  []LintFinding
}

func (l *linter) add(sev LintSeverity, field, code, msg string) {
	f := LintFinding{Severity: sev, Field: field, Code: code, Message: msg}
	if !slices.Contains(l.out, f) {
		l.out = append(l.out, f)
	}
}

func (l *linter) refuse(field, code, msg string) { l.add(LintRefusal, field, code, msg) }
func (l *linter) warn(field, code, msg string)   { l.add(LintWarning, field, code, msg) }

func (l *linter) sorted() []LintFinding {
	slices.SortStableFunc(l.out, func(a, b LintFinding) int {
		if a.Severity != b.Severity {
			if a.Severity == LintRefusal {
				return -1
			}
			return 1
		}
		return 0
	})
	return l.out
}

// Directories that are not root-only by convention: anyone (or the user)
// may write there, or mount media there.
var writableDirs = []string{"/tmp", "/var/tmp", "/dev/shm", "/home", "/run/user", "/run/lock", "/var/lock", "/var/crash",
	"/var/mail", "/var/spool", "/mnt", "/media"}

// path checks where the program lives.
func (l *linter) path() {
	p := l.rule.Path
	if !strings.HasPrefix(p, "/") {
		l.refuse("application.path", LintWritableDir, "the path is not absolute: it would name a program relative to the user's own directory")
		return
	}
	for _, d := range writableDirs {
		if within(p, d) {
			l.refuse("application.path", LintWritableDir, fmt.Sprintf("%s is not a root-only directory: other users can put or replace programs there. "+
				"hoistd refuses to elevate a program there at run time anyway; install it under /usr/local/sbin or /opt, owned by root.", d))
			return
		}
	}
	if within(p, "/usr/local") {
		l.warn("application.path", LintUsrLocal, "/usr/local is root-only on a fresh Debian install, but machines upgraded from Debian 9 or older "+
			"(those with /etc/staff-group-for-usr-local) keep it writable by group staff; hoistd refuses such a program at run time. Set sha256 to pin the file.")
	}
	if within(p, "/opt") && l.rule.SHA256 == "" {
		l.warn("application.sha256", LintNoSHA256, "programs under /opt are installed by hand or by vendors' scripts and change without the package manager; "+
			"set sha256 so that a replaced file no longer matches")
	}
}

// within reports whether pattern p can name something inside dir: its
// first path elements match dir's, and it has more.
func within(p, dir string) bool {
	ps, ds := strings.Split(p, "/"), strings.Split(dir, "/")
	if len(ps) <= len(ds) {
		return false
	}
	ok, err := path.Match(strings.Join(ps[:len(ds)], "/"), dir)
	return ok && err == nil
}

func hasMeta(p string) bool { return strings.ContainsAny(p, `*?[\`) }

// listedMatch is one program of the list that the rule's path names.
type listedMatch struct {
	prog *LintProgram
	path string // the program's path as the rule names it
}

// binDirs are where a path pattern is tried against the list's names.
var binDirs = []string{"/usr/bin", "/bin", "/usr/sbin", "/sbin", "/usr/local/bin", "/usr/local/sbin"}

// listedFor returns the listed programs that p names: by basename for a
// path, by trying each name in the usual directories (and in p's own
// directory) for a pattern.
func listedFor(p string) []listedMatch {
	var out []listedMatch
	if !hasMeta(p) {
		base := path.Base(p)
		for i := range lintPrograms {
			for _, n := range lintPrograms[i].Names {
				if ok, _ := path.Match(n, base); ok {
					out = append(out, listedMatch{prog: &lintPrograms[i], path: p})
					break
				}
			}
		}
		return out
	}
	dirs := binDirs
	if d := path.Dir(p); !hasMeta(d) && !slices.Contains(dirs, d) {
		dirs = append(slices.Clone(dirs), d)
	}
	for i := range lintPrograms {
	names:
		for _, n := range lintPrograms[i].Names {
			if hasMeta(n) {
				continue // a versioned pattern: its plain names are listed too
			}
			for _, d := range dirs {
				if ok, _ := path.Match(p, d+"/"+n); ok {
					out = append(out, listedMatch{prog: &lintPrograms[i], path: d + "/" + n})
					break names
				}
			}
		}
	}
	return out
}

// advice is how to elevate such a task safely.
const advice = "Elevate a root-owned wrapper script that runs the program with fixed arguments instead."

// listed lints the rule against one listed program.
func (l *linter) listed(m listedMatch) {
	e, r := m.prog, l.rule
	what := m.path + ": " + e.Reason
	if e.Always {
		code := LintInteractive
		switch e.Kind {
		case ProgramShell:
			code = LintShell
		case ProgramInterpreter:
			code = LintInterpreter
		}
		l.refuse("application.path", code, what+" No argument rule makes it safe as root. "+advice)
		return
	}
	if r.Args != "" {
		return // the legacy form matches nothing (Validate reports it)
	}
	a := r.Argv
	if a == nil {
		l.refuse("application.argv", LintAnyArguments, what+" The rule has no argv, so the user picks the arguments. "+
			"Write an argv rule with the exact arguments (and argv.options) the task needs, or: "+advice)
		return
	}
	l.pinned(m)
	l.options(m)
	l.pager(m)
	l.dangerousPatterns(m)
}

// options checks argv.rest and argv.options against the program's
// dangerous arguments.
func (l *linter) options(m listedMatch) {
	e, a := m.prog, l.rule.Argv
	rest := a.Rest == RestAny
	for i, o := range a.Options {
		if d, ok := dangerousArg(e, o); ok {
			field := fmt.Sprintf("application.argv.options[%d]", i)
			msg := fmt.Sprintf("%s is one of the arguments through which %s gives root away (%s): %s", o, m.path, d, e.Reason)
			if rest {
				l.refuse(field, LintDangerousOption, msg+" With rest: any the user may add it with any value.")
			} else {
				l.warn(field, LintDangerousOption, msg+" Check that the argument patterns leave it no value of the user's choosing.")
			}
		}
	}
	if !rest {
		return
	}
	if a.Each != nil {
		// Every further argument must match argv.each (options too, when
		// there is no allow-list): the rule is as safe as that pattern.
		for _, c := range dangerCandidates(e) {
			if len(a.Match) > 0 && isSubcommand(c) && slices.Contains(e.Dangerous, c) {
				continue // a word such as "changelog" is a subcommand only first
			}
			if matchArg(*a.Each, c) {
				l.refuse("application.argv.each", LintRestAny, fmt.Sprintf("%s: %s With rest: any, %s lets the user add %q. "+
					"Narrow argv.each, or match every argument (rest: none).", m.path, e.Reason, describe(*a.Each), c))
				return
			}
		}
		if e.Operands {
			l.warn("application.argv.each", LintRestAny, fmt.Sprintf("%s: %s With rest: any the user chooses those arguments within %s; "+
				"check that it admits no file, command or target the task does not need.", m.path, e.Reason, describe(*a.Each)))
		}
		return
	}
	switch {
	case e.Operands || pathOperand(e) != "":
		l.refuse("application.argv.rest", LintRestAny, m.path+": "+e.Reason+" With rest: any the user adds those arguments, "+
			"and an option allow-list does not limit them. Match every argument (rest: none), or restrict them with argv.each.")
	case len(a.Options) == 0:
		l.refuse("application.argv.rest", LintRestAny, fmt.Sprintf("%s: %s With rest: any and no argv.options, the user may add %s. "+
			"List the options the task needs in argv.options, restrict the arguments with argv.each, or match every argument (rest: none).", m.path, e.Reason, strings.Join(e.Dangerous, ", ")))
	}
}

// isSubcommand reports whether a dangerous argument is a plain word, which
// the programs of the list read as a subcommand only in the first place.
func isSubcommand(d string) bool {
	return d != "" && !strings.ContainsAny(d, "-/=.") && !strings.ContainsAny(d[:1], "0123456789")
}

// pathOperand is a dangerous argument of e that is a path, not an option
// (apt-get install ./evil.deb): an option allow-list does not stop it.
func pathOperand(e *LintProgram) string {
	for _, d := range e.Dangerous {
		if !strings.HasPrefix(d, "-") && strings.Contains(d, "/") {
			return d
		}
	}
	return ""
}

// pinned checks that a program which reads its instructions from the
// working directory is told where to read them.
func (l *linter) pinned(m listedMatch) {
	e, a := m.prog, l.rule.Argv
	if len(e.Pin) == 0 {
		return
	}
	for i := 0; i+1 < len(a.Match); i++ {
		if slices.Contains(e.Pin, a.Match[i].Exact) && a.Match[i+1].Exact != "" {
			return
		}
	}
	l.refuse("application.argv", LintWorkingDir, fmt.Sprintf("%s: %s hoistd runs it in the user's working directory, so the user writes what it runs. "+
		"Match %s and a root-owned path as exact arguments, or: %s", m.path, e.Reason, strings.Join(e.Pin, " or "), advice))
}

// pager warns when the program may show its output in less.
func (l *linter) pager(m listedMatch) {
	e, a := m.prog, l.rule.Argv
	if e.NoPager == "" {
		return
	}
	for _, p := range a.Match {
		if p.Exact == e.NoPager {
			return
		}
	}
	l.warn("application.argv", LintPager, fmt.Sprintf("%s pages what it prints through less when run on a terminal, and typing ! in less runs a shell as root. "+
		"Match %s as an exact argument so that it never starts a pager.", m.path, e.NoPager))
}

// dangerousPatterns warns about glob and regex patterns that can match one
// of the program's dangerous arguments.
func (l *linter) dangerousPatterns(m listedMatch) {
	e, a := m.prog, l.rule.Argv
	cands := dangerCandidates(e)
	for i, p := range a.Match {
		if p.Exact != "" {
			continue // a fixed argument is the administrator's deliberate choice
		}
		for _, c := range cands {
			if matchArg(p, c) {
				l.warn(fmt.Sprintf("application.argv.match[%d]", i), LintPatternDangerous, fmt.Sprintf("%s also matches %q, through which %s gives root away: %s "+
					"Narrow the pattern, or use exact arguments.", describe(p), c, m.path, e.Reason))
				break
			}
		}
	}
}

// unlisted lints a program the list does not know: it may still have
// options that run commands.
func (l *linter) unlisted() {
	r := l.rule
	if r.Args != "" {
		return
	}
	if r.Argv == nil {
		l.warn("application.argv", LintAnyArguments, r.Path+" runs as root with whatever arguments the user gives. Unless none of its options runs "+
			"commands, reads a configuration or writes files, write an argv rule with the arguments the task needs.")
		return
	}
	if r.Argv.Rest == RestAny && len(r.Argv.Options) == 0 && r.Argv.Each == nil {
		l.warn("application.argv.rest", LintRestAny, "with rest: any and no argv.options, the user may add any option of "+r.Path+
			"; list the options the task needs in argv.options, or match every argument (rest: none)")
	}
}

// patterns warns about argument patterns that match every argument: they
// only look like a restriction.
func (l *linter) patterns() {
	if l.rule.Argv == nil || l.rule.Args != "" {
		return
	}
	for i, p := range l.rule.Argv.Match {
		if p.Exact != "" {
			continue
		}
		if matchesAnything(p) {
			l.warn(fmt.Sprintf("application.argv.match[%d]", i), LintMatchesAnything, describe(p)+
				" matches any argument, options included: it restricts nothing. Write the values it may take.")
		}
	}
}

// matchesAnything reports whether p matches every kind of argument the
// linter tries: words, options with and without values, spaces.
func matchesAnything(p ArgPattern) bool {
	for _, s := range []string{"a", "-o", "--option=value", "x y", "0"} {
		if !matchArg(p, s) {
			return false
		}
	}
	return true
}

// operandCandidates are what an operand of a program that runs or writes
// its operands could be: a shell, a system file, a dd target, a URL.
var operandCandidates = []string{"sh", "/bin/sh", "/usr/bin/python3", "/etc/shadow", "/etc/sudoers", "of=/etc/shadow", "file:///etc/shadow"}

// dangerCandidates are the strings a pattern is tried against: each
// dangerous argument alone, with a value joined to it, and the operands
// when operands are what escapes.
func dangerCandidates(e *LintProgram) []string {
	var out []string
	for _, d := range e.Dangerous {
		out = append(out, d)
		switch {
		case strings.HasSuffix(d, "="):
			out = append(out, d+"/etc/shadow")
		case strings.HasPrefix(d, "--"):
			out = append(out, d+"=sh")
		case len(d) == 2 && d[0] == '-':
			out = append(out, d+"sh")
		}
	}
	if e.Operands {
		out = append(out, operandCandidates...)
	}
	return out
}

// dangerousArg reports which dangerous argument of e the whole argument o
// is, alone or with its value joined to it.
func dangerousArg(e *LintProgram, o string) (string, bool) {
	for _, d := range e.Dangerous {
		switch {
		case o == d:
			return d, true
		case strings.HasSuffix(d, "=") && strings.HasPrefix(o, d):
			return d, true
		case strings.HasPrefix(d, "--") && strings.HasPrefix(o, d+"="):
			return d, true
		case len(d) == 2 && d[0] == '-' && d[1] != '-' && strings.HasPrefix(o, d):
			return d, true // -Ifoo: a short option with its value attached
		}
	}
	return "", false
}

// matchArg is the argv matcher itself, so that the linter judges a pattern
// exactly as the agent will apply it.
func matchArg(p ArgPattern, s string) bool { return p.Match(s) }

func describe(p ArgPattern) string {
	switch {
	case p.Glob != "":
		return fmt.Sprintf("the glob %q", p.Glob)
	case p.Regex != "":
		return fmt.Sprintf("the regex %q", p.Regex)
	}
	return fmt.Sprintf("%q", p.Exact)
}
