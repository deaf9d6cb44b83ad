package hoist_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/hoist-jit/hoist"
	"sigs.k8s.io/yaml"
)

// aptPackage is the documented pattern of a package to install: a name,
// an optional :arch and =version, and no "/" (apt-get installs an
// argument with one that ends in .deb as a local file, running its
// maintainer scripts as root) nor a trailing "-" (which removes).
const aptPackage = `[a-z0-9][a-z0-9+.-]*[a-z0-9+](:[a-z0-9]+)?(=[a-zA-Z0-9.+~:-]+)?`

// The documented apt-get policies: "apt-get update" and nothing more;
// "apt-get install" with package names and three harmless options.
var (
	aptUpdate = app("apt-get update", 10, hoist.ApplicationRule{Path: "/usr/bin/apt-get", Action: hoist.ActionElevate,
		Argv: &hoist.ArgvRule{Match: []hoist.ArgPattern{{Exact: "update"}}, Rest: hoist.RestNone}})
	aptInstall = app("apt-get install", 10, hoist.ApplicationRule{Path: "/usr/bin/apt-get", Action: hoist.ActionElevate,
		Argv: &hoist.ArgvRule{Match: []hoist.ArgPattern{{Exact: "install"}}, Rest: hoist.RestAny, Options: []string{"-y", "-q", "--no-install-recommends"},
			Each: &hoist.ArgPattern{Regex: aptPackage}}})
)

func aptBundle() hoist.Bundle {
	return hoist.Bundle{Groups: []string{hoist.DefaultGroup}, Policies: []hoist.Policy{aptUpdate, aptInstall}}
}

func aptFacts(args ...string) hoist.ProcessFacts {
	return hoist.ProcessFacts{User: "alice", UnixGroups: []string{"alice"}, Path: "/usr/bin/apt-get", Args: args}
}

// TestAptGetOptionAttack is the attack of issue 18: an option that makes
// apt-get run a command, after arguments the policy allows.
func TestAptGetOptionAttack(t *testing.T) {
	const hook = "APT::Update::Pre-Invoke::=id > /tmp/x"
	for _, args := range [][]string{
		{"update", "-o", hook},
		{"update", "-o" + hook},
		{"install", "-o", hook, "vim"},
		{"install", "vim", "--", "-o" + hook},
		{"install", "-c", "/tmp/evil.conf", "vim"},
		{"install", "./evil.deb"}, // a local package: its postinst runs as root
		{"install", "-y", "/tmp/evil.deb"},
		{"install", "vim-"}, // a trailing - removes the package
		{"update install"},
		{"updatex"},
		{"-o", hook, "update"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			d := hoist.Decide(aptBundle(), aptFacts(args...))
			if d.Elevate || d.Action != hoist.ActionNone {
				t.Fatalf("Decide(%q) = %+v; want it refused", args, d)
			}
			if len(d.ArgvMisses) != 2 || !strings.Contains(d.Why, "refuses these arguments") {
				t.Fatalf("the refusal does not say which argument failed: %+v", d)
			}
		})
	}
	d := hoist.Decide(aptBundle(), aptFacts("install", "-o", hook, "vim"))
	// Same priority: by name, install first.
	if got, want := d.ArgvMisses[0].Why(), `argument 2 "-o": not in the allowed options (-y -q --no-install-recommends)`; got != want {
		t.Fatalf("install miss: %q, want %q", got, want)
	}
	if got, want := d.ArgvMisses[1].Why(), `argument 1 "install": does not match exact "update"`; got != want {
		t.Fatalf("update miss: %q, want %q", got, want)
	}
	d = hoist.Decide(aptBundle(), aptFacts("update", "-o", hook))
	if got, want := d.ArgvMisses[1].Why(), `argument 2 "-o": no arguments may follow the 1 the policy names (rest none)`; got != want {
		t.Fatalf("update miss: %q, want %q", got, want)
	}
}

func TestAptGetAllowedCommandLines(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		policy string
	}{
		{[]string{"update"}, aptUpdate.Name},
		{[]string{"install", "vim"}, aptInstall.Name},
		{[]string{"install", "-y", "--no-install-recommends", "vim", "curl"}, aptInstall.Name},
		{[]string{"install"}, aptInstall.Name},
	} {
		d := hoist.Decide(aptBundle(), aptFacts(tc.args...))
		if !d.Elevate || d.Policy != tc.policy {
			t.Fatalf("Decide(%q) = %+v; want elevated by %q", tc.args, d, tc.policy)
		}
		if len(d.Argv) != len(tc.args) {
			t.Fatalf("Decide(%q) explains %d arguments: %+v", tc.args, len(d.Argv), d.Argv)
		}
	}
	d := hoist.Decide(aptBundle(), aptFacts("install", "-y", "vim"))
	var lines []string
	for _, m := range d.Argv {
		lines = append(lines, m.String())
	}
	want := `argument 1 "install": matches exact "install"|argument 2 "-y": matches an allowed option|argument 3 "vim": matches each regex "` + aptPackage + `"`
	if got := strings.Join(lines, "|"); got != want {
		t.Fatalf("explanation\n%s\nwant\n%s", got, want)
	}
}

func TestArgvCheck(t *testing.T) {
	exact := func(s ...string) []hoist.ArgPattern {
		out := make([]hoist.ArgPattern, len(s))
		for i, x := range s {
			out[i] = hoist.ArgPattern{Exact: x}
		}
		return out
	}
	cases := []struct {
		name string
		rule *hoist.ArgvRule
		args []string
		want bool
	}{
		{"nil rule: any arguments", nil, []string{"-o", "x"}, true},
		{"one argument is not two", &hoist.ArgvRule{Match: exact("a", "b")}, []string{"a b"}, false},
		{"two arguments are not one", &hoist.ArgvRule{Match: exact("a b")}, []string{"a", "b"}, false},
		{"two arguments", &hoist.ArgvRule{Match: exact("a", "b")}, []string{"a", "b"}, true},
		{"missing argument", &hoist.ArgvRule{Match: exact("a", "b")}, []string{"a"}, false},
		{"rest none is the default", &hoist.ArgvRule{Match: exact("a")}, []string{"a", "b"}, false},
		{"rest none, explicit", &hoist.ArgvRule{Match: exact("a"), Rest: hoist.RestNone}, []string{"a", "b"}, false},
		{"rest any", &hoist.ArgvRule{Match: exact("a"), Rest: hoist.RestAny}, []string{"a", "b", "-c"}, true},
		{"empty rule: no arguments", &hoist.ArgvRule{}, []string{}, true},
		{"empty rule refuses one", &hoist.ArgvRule{}, []string{"x"}, false},
		{"options nil: any option", &hoist.ArgvRule{Rest: hoist.RestAny}, []string{"-o", "x"}, true},
		{"options empty: none", &hoist.ArgvRule{Rest: hoist.RestAny, Options: []string{}}, []string{"x", "-o"}, false},
		{"options after --", &hoist.ArgvRule{Rest: hoist.RestAny, Options: []string{"-y", "--"}}, []string{"-y", "--", "-o"}, false},
		{"-- itself is an option", &hoist.ArgvRule{Rest: hoist.RestAny, Options: []string{"-y"}}, []string{"--", "x"}, false},
		{"- itself is an option", &hoist.ArgvRule{Rest: hoist.RestAny, Options: []string{"-y"}}, []string{"-"}, false},
		{"listed options", &hoist.ArgvRule{Rest: hoist.RestAny, Options: []string{"-y", "--"}}, []string{"-y", "--", "x"}, true},
		{"an option matched by exact", &hoist.ArgvRule{Match: exact("-l"), Options: []string{}}, []string{"-l"}, true},
		{"glob * does not let an option through", &hoist.ArgvRule{Match: []hoist.ArgPattern{{Glob: "*.deb"}}, Options: []string{}}, []string{"-o.deb"}, false},
		{"glob that names an option", &hoist.ArgvRule{Match: []hoist.ArgPattern{{Glob: "--color=*"}}, Options: []string{}}, []string{"--color=never"}, true},
		{"regex that names an option", &hoist.ArgvRule{Match: []hoist.ArgPattern{{Regex: "-j[0-9]+"}}, Options: []string{}}, []string{"-j4"}, true},
		{"each: further arguments match", &hoist.ArgvRule{Match: exact("a"), Rest: hoist.RestAny, Each: &hoist.ArgPattern{Glob: "[a-z]*"}}, []string{"a", "b", "c"}, true},
		{"each: one does not", &hoist.ArgvRule{Match: exact("a"), Rest: hoist.RestAny, Each: &hoist.ArgPattern{Glob: "[a-z]*"}}, []string{"a", "b", "./c"}, false},
		{"each does not apply to match", &hoist.ArgvRule{Match: exact("./a"), Rest: hoist.RestAny, Each: &hoist.ArgPattern{Glob: "[a-z]*"}}, []string{"./a", "b"}, true},
		{"each: an allowed option passes", &hoist.ArgvRule{Rest: hoist.RestAny, Options: []string{"-y"}, Each: &hoist.ArgPattern{Glob: "[a-z]*"}}, []string{"-y", "b"}, true},
		{"each: options nil, an option must match each", &hoist.ArgvRule{Rest: hoist.RestAny, Each: &hoist.ArgPattern{Glob: "[a-z]*"}}, []string{"-o", "b"}, false},
		{"each: an option matching each, options nil", &hoist.ArgvRule{Rest: hoist.RestAny, Each: &hoist.ArgPattern{Glob: "*"}}, []string{"-o", "b"}, true},
		{"each: an option matching each, not in options", &hoist.ArgvRule{Rest: hoist.RestAny, Options: []string{}, Each: &hoist.ArgPattern{Glob: "*"}}, []string{"-o"}, false},
		{"regex that may match an option", &hoist.ArgvRule{Match: []hoist.ArgPattern{{Regex: ".+"}}, Options: []string{}}, []string{"-j4"}, false},
		{"regex alternation with a non-option", &hoist.ArgvRule{Match: []hoist.ArgPattern{{Regex: "-a|.*"}}, Options: []string{}}, []string{"-rf"}, false},
		{"glob does not cross /", &hoist.ArgvRule{Match: []hoist.ArgPattern{{Glob: "/var/log/*"}}}, []string{"/var/log/../../etc/shadow"}, false},
		{"glob within a directory", &hoist.ArgvRule{Match: []hoist.ArgPattern{{Glob: "/var/log/*"}}}, []string{"/var/log/syslog"}, true},
		{"glob is the whole argument", &hoist.ArgvRule{Match: []hoist.ArgPattern{{Glob: "*.log"}}}, []string{"a.log.sh"}, false},
		{"regex anchored: updatex", &hoist.ArgvRule{Match: []hoist.ArgPattern{{Regex: "update|install"}}}, []string{"updatex"}, false},
		{"regex anchored: xinstall", &hoist.ArgvRule{Match: []hoist.ArgPattern{{Regex: "update|install"}}}, []string{"xinstall"}, false},
		{"regex alternation", &hoist.ArgvRule{Match: []hoist.ArgPattern{{Regex: "update|install"}}}, []string{"install"}, true},
		{"regex over one argument", &hoist.ArgvRule{Match: []hoist.ArgPattern{{Regex: "update.*"}}}, []string{"update", "-o"}, false},
		{"regex cannot close the group", &hoist.ArgvRule{Match: []hoist.ArgPattern{{Regex: "a)|(.*"}}}, []string{"anything"}, false},
		{"a pattern with two fields matches nothing", &hoist.ArgvRule{Match: []hoist.ArgPattern{{Exact: "a", Glob: "*"}}}, []string{"a"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, trail := tc.rule.Check(tc.args)
			if got != tc.want {
				t.Fatalf("Check(%q) = %v (%+v), want %v", tc.args, got, trail, tc.want)
			}
			if !got && (len(trail) == 0 || trail[len(trail)-1].OK || trail[len(trail)-1].String() == "") {
				t.Fatalf("a miss must end its trail with the failing argument: %+v", trail)
			}
		})
	}
	_, trail := (&hoist.ArgvRule{Match: exact("a", "b")}).Check([]string{"a"})
	if got, want := trail[len(trail)-1].String(), `argument 2: missing (exact "b" wanted)`; got != want {
		t.Fatalf("missing argument: %q, want %q", got, want)
	}
}

// TestLegacyArgsFailClosed: a rule that still has the joined-string args
// (stored before argv, or sent by an old server) elevates nothing, a deny
// with it denies the program whatever its arguments, and an audit audits
// every run.
func TestLegacyArgsFailClosed(t *testing.T) {
	legacy := app("Old apt", 10, hoist.ApplicationRule{Path: "/usr/bin/apt-get", Args: `^(update|install)\b`, Action: hoist.ActionElevate})
	d := hoist.Decide(hoist.Bundle{Policies: []hoist.Policy{legacy}}, aptFacts("update"))
	if d.Elevate || d.Action != hoist.ActionNone {
		t.Fatalf("a legacy args rule elevated: %+v", d)
	}
	if len(d.ArgvMisses) != 1 || !d.ArgvMisses[0].Legacy || !strings.Contains(d.Why, "old args form") {
		t.Fatalf("the refusal does not say the rule is of the old form: %+v", d)
	}
	deny := app("Old deny", 20, hoist.ApplicationRule{Path: "/usr/bin/apt-get", Args: `^remove\b`, Action: hoist.ActionDeny})
	d = hoist.Decide(hoist.Bundle{Policies: []hoist.Policy{deny, aptUpdate}}, aptFacts("update"))
	if d.Action != hoist.ActionDeny {
		t.Fatalf("a legacy deny stopped denying: %+v", d)
	}
	audit := app("Old audit", 20, hoist.ApplicationRule{Path: "/usr/bin/apt-get", Args: `^remove\b`, Action: hoist.ActionAudit})
	d = hoist.Decide(hoist.Bundle{Policies: []hoist.Policy{audit, aptUpdate}}, aptFacts("update"))
	if !d.Elevate || len(d.Audited) != 1 || d.Audited[0] != audit.Name {
		t.Fatalf("a legacy audit does not audit every run: %+v", d)
	}
}

func TestArgvValidate(t *testing.T) {
	pol := func(r hoist.ArgvRule) hoist.Policy {
		return app("Rule", 0, hoist.ApplicationRule{Path: "/usr/bin/apt-get", Action: hoist.ActionElevate, Argv: &r})
	}
	long := strings.Repeat("a", hoist.MaxArgPatternLen+1)
	many := make([]hoist.ArgPattern, hoist.MaxArgPatterns+1)
	for i := range many {
		many[i] = hoist.ArgPattern{Exact: "x"}
	}
	cases := []struct {
		name  string
		p     hoist.Policy
		field string
		says  string
	}{
		{"legacy args refused", app("Old", 0, hoist.ApplicationRule{Path: "/usr/bin/apt-get", Args: "^update", Action: hoist.ActionElevate}),
			"application.args", "no longer supported"},
		{"no field", pol(hoist.ArgvRule{Match: []hoist.ArgPattern{{Exact: "a"}, {}}}), "application.argv.match[1]", "exactly one"},
		{"two fields", pol(hoist.ArgvRule{Match: []hoist.ArgPattern{{Exact: "a", Regex: "b"}}}), "application.argv.match[0]", "exactly one"},
		{"bad regex", pol(hoist.ArgvRule{Match: []hoist.ArgPattern{{Exact: "a"}, {Regex: "(a"}}}), "application.argv.match[1].regex", "not a regular expression"},
		{"regex closing the group", pol(hoist.ArgvRule{Match: []hoist.ArgPattern{{Regex: "a)|(.*"}}}), "application.argv.match[0].regex", "not a regular expression"},
		{"long regex", pol(hoist.ArgvRule{Match: []hoist.ArgPattern{{Regex: long}}}), "application.argv.match[0].regex", "at most"},
		{"bad glob", pol(hoist.ArgvRule{Match: []hoist.ArgPattern{{Glob: "[a"}}}), "application.argv.match[0].glob", "not a valid pattern"},
		{"long exact", pol(hoist.ArgvRule{Match: []hoist.ArgPattern{{Exact: long}}}), "application.argv.match[0].exact", "at most"},
		{"bad rest", pol(hoist.ArgvRule{Rest: "some"}), "application.argv.rest", "none"},
		{"bad each", pol(hoist.ArgvRule{Rest: hoist.RestAny, Each: &hoist.ArgPattern{Regex: "(a"}}), "application.argv.each.regex", "not a regular expression"},
		{"each with two fields", pol(hoist.ArgvRule{Rest: hoist.RestAny, Each: &hoist.ArgPattern{Exact: "a", Glob: "b"}}), "application.argv.each", "exactly one"},
		{"each without rest any", pol(hoist.ArgvRule{Each: &hoist.ArgPattern{Glob: "*"}}), "application.argv.each", "rest: any"},
		{"option without -", pol(hoist.ArgvRule{Options: []string{"-y", "y"}}), "application.argv.options[1]", "begins with -"},
		{"too many patterns", pol(hoist.ArgvRule{Match: many}), "application.argv.match", "at most"},
		{"too many options", pol(hoist.ArgvRule{Options: strings.Split(strings.Repeat("-x,", hoist.MaxArgOptions+1), ",")}), "application.argv.options", "at most"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.p.Validate()
			var he *hoist.Error
			if !errors.As(err, &he) || he.Code != hoist.EInvalid {
				t.Fatalf("Validate = %v; want EInvalid", err)
			}
			if msg, ok := he.Fields[tc.field]; !ok || !strings.Contains(msg, tc.says) {
				t.Fatalf("fields %v; want %s saying %q", he.Fields, tc.field, tc.says)
			}
		})
	}
	if err := aptInstall.Validate(); err != nil {
		t.Fatalf("the documented rule does not validate: %v", err)
	}
}

// TestArgvPolicyFile reads argv as a policy file writes it: a plain string
// is exact; an object has exactly one field; and it writes back the same.
func TestArgvPolicyFile(t *testing.T) {
	const file = `
path: /usr/bin/apt-get
action: elevate
argv:
  match: [install, {glob: "*.deb"}, {regex: "[a-z]+"}]
  rest: any
  options: []
`
	var r hoist.ApplicationRule
	if err := yaml.UnmarshalStrict([]byte(file), &r); err != nil {
		t.Fatal(err)
	}
	want := []hoist.ArgPattern{{Exact: "install"}, {Glob: "*.deb"}, {Regex: "[a-z]+"}}
	if r.Argv == nil || len(r.Argv.Match) != 3 || r.Argv.Match[0] != want[0] || r.Argv.Match[1] != want[1] || r.Argv.Match[2] != want[2] {
		t.Fatalf("read %+v", r.Argv)
	}
	if r.Argv.Options == nil {
		t.Fatal("options: [] read as no allow-list")
	}
	out, err := yaml.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back hoist.ApplicationRule
	if err := yaml.UnmarshalStrict(out, &back); err != nil {
		t.Fatal(err)
	}
	if back.Argv == nil || back.Argv.Options == nil || len(back.Argv.Match) != 3 || back.Argv.Match[1] != want[1] {
		t.Fatalf("round trip lost something:\n%s", out)
	}
	if !strings.Contains(string(out), "- install\n") || !strings.Contains(string(out), "options: []") {
		t.Fatalf("written as\n%s", out)
	}
	for _, bad := range []string{
		`{"match":[{"exact":"a","glob":"b"}]}`,
		`{"match":[{"Exact":"a"}]}`,
		`{"match":[{"prefix":"a"}]}`,
		`{"match":[1]}`,
		`{"match":[{"exact":1}]}`,
	} {
		var a hoist.ArgvRule
		err := json.Unmarshal([]byte(bad), &a)
		var he *hoist.Error
		if !errors.As(err, &he) || he.Fields["application.argv.match"] == "" {
			t.Fatalf("%s: err %v; want a field error on application.argv.match", bad, err)
		}
	}
}

// TestOldAgentsAreNotSentArgv: an agent from before argv would ignore the
// field and elevate the program with any arguments.
func TestOldAgentsAreNotSentArgv(t *testing.T) {
	groups := []hoist.ComputerGroup{{Name: hoist.DefaultGroup, Priority: -1000}}
	plain := app("Any arguments", 0, hoist.ApplicationRule{Path: "/usr/bin/x", Action: hoist.ActionElevate})
	if got := aptUpdate.NeedsVersion(); got != hoist.ArgvVersion || hoist.VersionLess(got, "0.3.0") {
		t.Fatalf("NeedsVersion = %s", got)
	}
	old := hoist.AgentRecord{Hostname: "ws-1", Version: "0.2.0", OS: "linux"}
	b, held := hoist.BuildBundle(old, groups, []hoist.Policy{aptUpdate, plain})
	if len(b.Policies) != 1 || b.Policies[0].Name != plain.Name {
		t.Fatalf("an agent 0.2.0 got %v", b.Policies)
	}
	if len(held) != 1 || held[0].What != "policy "+aptUpdate.Name || held[0].Needs != "0.3.0" {
		t.Fatalf("held %v", held)
	}
	cur := old
	cur.Version = hoist.Version
	if b, held := hoist.BuildBundle(cur, groups, []hoist.Policy{aptUpdate, plain}); len(b.Policies) != 2 || len(held) != 0 {
		t.Fatalf("a current agent got %d policies, held %v", len(b.Policies), held)
	}
	legacy := app("Old", 0, hoist.ApplicationRule{Path: "/usr/bin/apt-get", Args: "^update", Action: hoist.ActionElevate})
	for _, a := range []hoist.AgentRecord{old, cur} {
		if b, _ := hoist.BuildBundle(a, groups, []hoist.Policy{legacy}); len(b.Policies) != 0 {
			t.Fatalf("agent %s was sent a legacy args policy", a.Version)
		}
	}
}
