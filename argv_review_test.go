package hoist_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/hoist-jit/hoist"
	"sigs.k8s.io/yaml"
)

// Attacks from the security review of argv rules: each test is the attack,
// kept as a regression test.

// TestAptInstallRefusesLocalPackages: apt-get takes an argument that holds
// a "/" and ends in .deb as a local package file and runs its maintainer
// scripts as root, so the documented install rule must not elevate one.
func TestAptInstallRefusesLocalPackages(t *testing.T) {
	for _, args := range [][]string{
		{"install", "./evil.deb"},
		{"install", "-y", "/tmp/evil.deb"},
		{"install", "vim", "../x/evil.deb"},
		{"install", "/tmp"},
	} {
		d := hoist.Decide(aptBundle(), aptFacts(args...))
		if d.Elevate {
			t.Errorf("apt-get %q elevated by %q: a user-built package's postinst runs as root", args, d.Policy)
		}
		if len(d.ArgvMisses) == 0 || !strings.Contains(d.Why, "does not match each") && !strings.Contains(d.Why, "exact \"update\"") {
			t.Errorf("apt-get %q: the refusal does not name the argument: %s", args, d.Why)
		}
	}
	for _, args := range [][]string{{"install", "vim", "libc6:amd64", "nginx=1.24.0-1~deb12u1", "g++"}, {"install", "-y", "-q"}} {
		if d := hoist.Decide(aptBundle(), aptFacts(args...)); !d.Elevate {
			t.Errorf("apt-get %q refused: %s", args, d.Why)
		}
	}
}

// TestLegacyDenyStillDenies: a deny of the old args form used to restrict
// an elevate rule; dropping it on upgrade would elevate what it denied.
// The server sends it with args cleared: it denies the whole program.
func TestLegacyDenyStillDenies(t *testing.T) {
	elev := app("systemctl", 10, hoist.ApplicationRule{Path: "/usr/bin/systemctl", Action: hoist.ActionElevate})
	deny := app("no systemctl edit", 20, hoist.ApplicationRule{Path: "/usr/bin/systemctl", Args: "^edit", Action: hoist.ActionDeny})
	audit := app("audit systemctl", 30, hoist.ApplicationRule{Path: "/usr/bin/systemctl", Args: "^status", Action: hoist.ActionAudit})
	groups := []hoist.ComputerGroup{{Name: hoist.DefaultGroup}}
	for _, v := range []string{hoist.Version, "0.2.0"} {
		b, held := hoist.BuildBundle(hoist.AgentRecord{ID: "agt_1", Version: v}, groups, []hoist.Policy{elev, deny, audit})
		if len(b.Policies) != 3 || len(held) != 0 {
			t.Fatalf("agent %s: bundle has %d policies, held %v", v, len(b.Policies), held)
		}
		for _, p := range b.Policies {
			if p.Application.Args != "" || p.Application.Argv != nil {
				t.Fatalf("agent %s was sent args or argv for %q: %+v", v, p.Name, p.Application)
			}
		}
		data, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		pb, skipped, err := hoist.ParseBundle(data)
		if err != nil || len(pb.Policies) != 3 || len(skipped) != 0 {
			t.Fatalf("agent %s: ParseBundle kept %d of 3, skipped %v (%v)", v, len(pb.Policies), skipped, err)
		}
		for _, args := range [][]string{{"edit", "ssh"}, {"restart", "nginx"}} {
			d := hoist.Decide(pb, hoist.ProcessFacts{User: "alice", Path: "/usr/bin/systemctl", Args: args})
			if d.Action != hoist.ActionDeny || d.Policy != deny.Name {
				t.Errorf("agent %s: systemctl %q: %s by %q (%s); want the legacy deny", v, args, d.Action, d.Policy, d.Why)
			}
			if len(d.Audited) != 1 || d.Audited[0] != audit.Name {
				t.Errorf("agent %s: systemctl %q audited by %v; want the legacy audit", v, args, d.Audited)
			}
		}
	}
	// The stripped copy is the bundle's: the caller's policy keeps its args.
	if deny.Application.Args != "^edit" {
		t.Fatalf("BuildBundle changed the stored policy: %+v", deny.Application)
	}
	// A legacy elevate, allow or justify is still sent to no agent.
	for _, action := range []string{hoist.ActionElevate, hoist.ActionJustify, hoist.ActionAllow} {
		legacy := app("old "+action, 0, hoist.ApplicationRule{Path: "/usr/bin/systemctl", Args: "^status", Action: action})
		if b, _ := hoist.BuildBundle(hoist.AgentRecord{ID: "agt_1", Version: hoist.Version}, groups, []hoist.Policy{legacy}); len(b.Policies) != 0 {
			t.Errorf("a legacy %s was sent: %+v", action, b.Policies)
		}
	}
}

// TestArgvDenyReachesOldAgents: a deny with argv held back from an agent
// older than argv leaves that agent elevating what the deny was meant to
// stop. Sent, the old agent ignores argv and denies the program outright:
// the safe outcome. Only elevate and justify need an agent that reads argv.
func TestArgvDenyReachesOldAgents(t *testing.T) {
	elev := app("find", 10, hoist.ApplicationRule{Path: "/usr/bin/find", Action: hoist.ActionElevate})
	rule := &hoist.ArgvRule{Match: []hoist.ArgPattern{{Exact: "-exec"}}, Rest: hoist.RestAny}
	groups := []hoist.ComputerGroup{{Name: hoist.DefaultGroup}}
	old := hoist.AgentRecord{ID: "agt_1", Version: "0.2.0"}
	for _, action := range []string{hoist.ActionDeny, hoist.ActionAudit, hoist.ActionAllow} {
		p := app("find "+action, 20, hoist.ApplicationRule{Path: "/usr/bin/find", Action: action, Argv: rule})
		if got := p.NeedsVersion(); got != hoist.PolicyKinds[hoist.KindApplication] {
			t.Errorf("%s with argv needs agent %s", action, got)
		}
		if b, held := hoist.BuildBundle(old, groups, []hoist.Policy{elev, p}); len(held) > 0 || len(b.Policies) != 2 {
			t.Errorf("old agent: %s held back %v; bundle keeps %d policies", action, held, len(b.Policies))
		}
	}
	for _, action := range []string{hoist.ActionElevate, hoist.ActionJustify} {
		p := app("find "+action, 20, hoist.ApplicationRule{Path: "/usr/bin/find", Action: action, Argv: rule})
		if got := p.NeedsVersion(); got != hoist.ArgvVersion {
			t.Errorf("%s with argv needs agent %s, want %s", action, got, hoist.ArgvVersion)
		}
		if _, held := hoist.BuildBundle(old, groups, []hoist.Policy{p}); len(held) != 1 {
			t.Errorf("old agent was sent %s with argv (held %v)", action, held)
		}
	}
}

// TestArgvNullOptionsRefused: "options:" with no value is null in YAML,
// which would read as no allow-list at all (any option), the opposite of
// "options: []". A null options or each is refused, naming the field, and
// so is a key in another case ("Options"), which encoding/json would
// otherwise take for options.
func TestArgvNullOptionsRefused(t *testing.T) {
	for _, tc := range []struct{ src, field string }{
		{"match: [install]\nrest: any\noptions:\n", "application.argv.options"},
		{"match: [install]\nrest: any\noptions: ~\n", "application.argv.options"},
		{"match: [install]\nrest: any\noptions: null\n", "application.argv.options"},
		{"match: [install]\nrest: any\noptions: [-y]\nOptions: null\n", "application.argv"},
		{"match: [install]\nrest: any\nOptions: null\noptions: [-y]\n", "application.argv"},
		{"match: [install]\nrest: any\neach:\n", "application.argv.each"},
		{"match: [install]\nrest: any\noptons: [-y]\n", "application.argv"},
		{"match: [install]\nrest: any\neach: {glob: '*', regex: x}\n", "application.argv.each"},
	} {
		js, err := yaml.YAMLToJSON([]byte(tc.src))
		if err != nil {
			t.Fatal(err)
		}
		var r hoist.ArgvRule
		dec := json.NewDecoder(bytes.NewReader(js))
		dec.DisallowUnknownFields()
		err = dec.Decode(&r)
		var he *hoist.Error
		if !errors.As(err, &he) || he.Code != hoist.EInvalid || he.Fields[tc.field] == "" {
			t.Errorf("%q: read as %+v (err %v); want refused naming %s", tc.src, r, err, tc.field)
		}
	}
	var r hoist.ArgvRule
	if err := json.Unmarshal([]byte(`{"match":["install"],"rest":"any","options":null}`), &r); err == nil ||
		!strings.Contains(err.Error(), "write [] for no options, or leave the key out for any") {
		t.Fatalf("null options: %v", err)
	}
	// Left out and empty still mean what they did.
	if err := json.Unmarshal([]byte(`{"rest":"any"}`), &r); err != nil || r.Options != nil {
		t.Fatalf("options left out: %+v, %v", r, err)
	}
	if err := json.Unmarshal([]byte(`{"rest":"any","options":[]}`), &r); err != nil || r.Options == nil {
		t.Fatalf("options: []: %+v, %v", r, err)
	}
	// A null argv is no rule, as before.
	var a hoist.ApplicationRule
	if err := json.Unmarshal([]byte(`{"path":"/bin/x","action":"deny","argv":null}`), &a); err != nil || a.Argv != nil {
		t.Fatalf("argv: null: %+v, %v", a, err)
	}
}

// TestArgvRegexAnchoring: anchoring tricks and invalid patterns match
// nothing they should not.
func TestArgvRegexAnchoring(t *testing.T) {
	cases := []struct {
		re, arg string
	}{
		{`update|install`, "updatex"},
		{`(?m)update`, "update\n-o"},
		{`(?m:update$)`, "update\nx"},
		{`update$`, "update\n"},
		{`(?s)update.*`, "x\nupdate"},
		{`\Qupdate`, "update)$"},
		{`[a-z]+`, "update\n-o"},
		{`(?U)a+`, "aaab"},
	}
	for _, c := range cases {
		p := hoist.ArgPattern{Regex: c.re}
		if p.Match(c.arg) {
			t.Errorf("regex %q matched %q", c.re, c.arg)
		}
	}
	for _, re := range []string{`a)|(.*`, `a\`, `(?P<x>`, `\Qa)|(.*`} {
		p := hoist.ArgPattern{Regex: re}
		if p.Match("anything") {
			t.Errorf("regex %q matched anything", re)
		}
	}
	for _, g := range []string{`a[`, `*[`, `\`, `[^]`} {
		p := hoist.ArgPattern{Glob: g}
		pol := app("g", 1, hoist.ApplicationRule{Path: "/bin/x", Action: hoist.ActionElevate, Argv: &hoist.ArgvRule{Match: []hoist.ArgPattern{p}}})
		if pol.Validate() == nil {
			t.Errorf("glob %q validates", g)
		}
		if p.Match("a") || p.Match("a[") {
			t.Errorf("invalid glob %q matches", g)
		}
	}
}
