package hoist_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
)

func app(name string, prio int, rule hoist.ApplicationRule) hoist.Policy {
	return hoist.Policy{ID: "pol_" + strings.ReplaceAll(name, " ", ""), Name: name, Kind: hoist.KindApplication, Groups: []string{hoist.DefaultGroup},
		Active: true, Priority: prio, Application: &rule}
}

func jitBundle(active bool) hoist.Bundle {
	ps := hoist.SamplePolicies(time.Now())
	for i := range ps {
		ps[i].Active = active
	}
	return hoist.Bundle{Groups: []string{hoist.DefaultGroup}, Policies: ps}
}

func TestDecide(t *testing.T) {
	const aptSum = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	hash := func(sum string) func() (string, error) { return func() (string, error) { return sum, nil } }
	elevateApt := app("Elevate apt-get for devs", 10, hoist.ApplicationRule{Path: "/usr/bin/apt-get", UnixGroups: []string{"devs"}, Action: hoist.ActionElevate})
	denyAptRemove := app("No removals", 0, hoist.ApplicationRule{Path: "/usr/bin/apt*", Argv: &hoist.ArgvRule{Match: []hoist.ArgPattern{{Regex: "remove|purge"}}, Rest: hoist.RestAny}, Action: hoist.ActionDeny})
	pinned := app("Pinned tool", 5, hoist.ApplicationRule{Path: "/usr/local/bin/tool", SHA256: aptSum, Action: hoist.ActionElevate})
	justified := app("Reboot with a reason", 5, hoist.ApplicationRule{Path: "/usr/sbin/reboot", Action: hoist.ActionJustify})
	audited := app("Watch curl", 0, hoist.ApplicationRule{Path: "/usr/bin/curl", Action: hoist.ActionAudit})
	allowed := app("Let top run", 0, hoist.ApplicationRule{Path: "/usr/bin/top", Action: hoist.ActionAllow})
	jit := jitBundle(true)
	jit.Policies[1].Mode.Exclude = []string{"/usr/bin/passwd"}
	withApps := func(b hoist.Bundle, ps ...hoist.Policy) hoist.Bundle {
		b.Policies = append(append([]hoist.Policy{}, b.Policies...), ps...)
		return b
	}
	alice := hoist.ProcessFacts{User: "alice", UnixGroups: []string{"alice", "devs"}}
	bob := hoist.ProcessFacts{User: "bob", UnixGroups: []string{"bob"}}
	with := func(f hoist.ProcessFacts, path string, args ...string) hoist.ProcessFacts {
		f.Path, f.Args = path, args
		return f
	}
	cases := []struct {
		name       string
		bundle     hoist.Bundle
		facts      hoist.ProcessFacts
		wantAction string
		wantPolicy string
	}{
		{"no policy, no session", hoist.Bundle{}, with(alice, "/usr/bin/id"), hoist.ActionNone, ""},
		{"elevated for a member of devs", withApps(hoist.Bundle{}, elevateApt), with(alice, "/usr/bin/apt-get", "update"), hoist.ActionElevate, elevateApt.Name},
		{"not for a user outside devs", withApps(hoist.Bundle{}, elevateApt), with(bob, "/usr/bin/apt-get", "update"), hoist.ActionNone, ""},
		{"deny beats elevate", withApps(hoist.Bundle{}, elevateApt, denyAptRemove), with(alice, "/usr/bin/apt-get", "remove", "bash"), hoist.ActionDeny, denyAptRemove.Name},
		{"deny beats a JIT session", withApps(jit, denyAptRemove), func() hoist.ProcessFacts {
			f := with(alice, "/usr/bin/apt", "purge", "x")
			f.Session = true
			return f
		}(), hoist.ActionDeny, denyAptRemove.Name},
		{"the session elevates everything else", jit, func() hoist.ProcessFacts { f := with(bob, "/usr/bin/id"); f.Session = true; return f }(), hoist.ActionElevate, "JIT Mode"},
		{"JIT Mode exclusions", jit, func() hoist.ProcessFacts { f := with(bob, "/usr/bin/passwd"); f.Session = true; return f }(), hoist.ActionNone, "JIT Mode"},
		{"a matching hash", withApps(hoist.Bundle{}, pinned), func() hoist.ProcessFacts {
			f := with(bob, "/usr/local/bin/tool")
			f.SHA256 = hash(aptSum)
			return f
		}(), hoist.ActionElevate, pinned.Name},
		{"a changed binary no longer matches", withApps(hoist.Bundle{}, pinned), func() hoist.ProcessFacts {
			f := with(bob, "/usr/local/bin/tool")
			f.SHA256 = hash(strings.Repeat("0", 64))
			return f
		}(), hoist.ActionNone, ""},
		{"an unhashable binary does not match", withApps(hoist.Bundle{}, pinned), func() hoist.ProcessFacts {
			f := with(bob, "/usr/local/bin/tool")
			f.SHA256 = func() (string, error) { return "", errors.New("too big") }
			return f
		}(), hoist.ActionNone, ""},
		{"a writable binary is not elevated by policy", withApps(hoist.Bundle{}, elevateApt), func() hoist.ProcessFacts {
			f := with(alice, "/usr/bin/apt-get")
			f.Untrusted = "/usr/bin is writable by group 1000"
			return f
		}(), hoist.ActionNone, elevateApt.Name},
		{"justify without a reason", withApps(hoist.Bundle{}, justified), with(bob, "/usr/sbin/reboot"), hoist.ActionJustify, justified.Name},
		{"justify with a reason", withApps(hoist.Bundle{}, justified), func() hoist.ProcessFacts { f := with(bob, "/usr/sbin/reboot"); f.Reason = "INC42"; return f }(), hoist.ActionElevate, justified.Name},
		{"allow runs as the user", withApps(hoist.Bundle{}, allowed), with(bob, "/usr/bin/top"), hoist.ActionAllow, allowed.Name},
		{"audit decides nothing", withApps(hoist.Bundle{}, audited), with(bob, "/usr/bin/curl"), hoist.ActionNone, ""},
		{"inactive policies do nothing", withApps(hoist.Bundle{}, func() hoist.Policy { p := elevateApt; p.Active = false; return p }()), with(alice, "/usr/bin/apt-get"), hoist.ActionNone, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := hoist.Decide(tc.bundle, tc.facts)
			if got.Action != tc.wantAction || got.Policy != tc.wantPolicy || got.Elevate != (tc.wantAction == hoist.ActionElevate) {
				t.Fatalf("Decide = %+v; want action %s by %q", got, tc.wantAction, tc.wantPolicy)
			}
			if got.Why == "" {
				t.Fatal("a decision must say why")
			}
		})
	}
	if got := hoist.Decide(withApps(hoist.Bundle{}, audited), with(bob, "/usr/bin/curl")); len(got.Audited) != 1 || got.Audited[0] != audited.Name {
		t.Fatalf("audit-only match not reported: %+v", got)
	}
}

func TestJITNeedsAllThreePoliciesActive(t *testing.T) {
	if _, ok := jitBundle(false).JIT(); ok {
		t.Fatal("inactive sample policies made JIT mode available")
	}
	b := jitBundle(true)
	if j, ok := b.JIT(); !ok || j.Group != hoist.DefaultGroup || j.Children.Children == nil {
		t.Fatalf("JIT() = %+v, %v", j, ok)
	}
	for i := range b.Policies {
		b2 := jitBundle(true)
		b2.Policies[i].Active = false
		if _, ok := b2.JIT(); ok {
			t.Fatalf("JIT available with %s inactive", b2.Policies[i].Name)
		}
		b3 := jitBundle(true)
		b3.Policies[i].Groups = []string{"Elsewhere"}
		if _, ok := b3.JIT(); ok {
			t.Fatalf("JIT available with %s targeting another group", b3.Policies[i].Name)
		}
	}
}

func TestMayRequest(t *testing.T) {
	s := &hoist.JITStartup{UnixGroups: []string{"devs"}, Durations: []hoist.Duration{hoist.Duration(time.Hour), hoist.Duration(30 * time.Minute)},
		DefaultDuration: hoist.Duration(30 * time.Minute), MaxDuration: hoist.Duration(2 * time.Hour), ReasonRequired: true}
	if d, err := s.MayRequest("alice", []string{"devs"}, 0, "INC1"); err != nil || d != 30*time.Minute {
		t.Fatalf("default: %v %v", d, err)
	}
	for _, tc := range []struct {
		user   string
		groups []string
		d      time.Duration
		reason string
		code   string
	}{
		{"bob", nil, time.Hour, "x", hoist.EForbidden},
		{"alice", []string{"devs"}, 3 * time.Hour, "x", hoist.EInvalid},
		{"alice", []string{"devs"}, 45 * time.Minute, "x", hoist.EInvalid},
		{"alice", []string{"devs"}, time.Hour, " ", hoist.EInvalid},
	} {
		if _, err := s.MayRequest(tc.user, tc.groups, tc.d, tc.reason); hoist.ErrorCode(err) != tc.code {
			t.Errorf("%+v: %v, want %s", tc, err, tc.code)
		}
	}
}

func TestPolicyValidationNamesTheField(t *testing.T) {
	good := app("Elevate apt", 0, hoist.ApplicationRule{Path: "/usr/bin/apt-get", Action: hoist.ActionElevate})
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, s := range hoist.SamplePolicies(time.Now()) {
		if err := s.Validate(); err != nil {
			t.Fatalf("sample %s: %v", s.Name, err)
		}
	}
	cases := []struct {
		field string
		edit  func(p *hoist.Policy)
	}{
		{"name", func(p *hoist.Policy) { p.Name = "" }},
		{"kind", func(p *hoist.Policy) { p.Kind = "firewall" }},
		{"groups", func(p *hoist.Policy) { p.Groups = nil }},
		{"application.path", func(p *hoist.Policy) { p.Application.Path = "apt-get" }},
		{"application.path", func(p *hoist.Policy) { p.Application.Path = "/usr/bin/[" }},
		{"application.sha256", func(p *hoist.Policy) { p.Application.SHA256 = "abc" }},
		{"application.args", func(p *hoist.Policy) { p.Application.Args = "(" }},
		{"application.action", func(p *hoist.Policy) { p.Application.Action = "sudo" }},
		{"application.users", func(p *hoist.Policy) { p.Application.Users = []string{"Robert'); DROP"} }},
		{"min_agent_version", func(p *hoist.Policy) { p.MinAgentVersion = "latest" }},
		{"startup", func(p *hoist.Policy) { p.Startup = &hoist.JITStartup{} }},
		{"children.reminder_every", func(p *hoist.Policy) {
			p.Kind, p.Application, p.Children = hoist.KindJITChildren, nil, &hoist.JITChildren{ReminderEvery: ptr(hoist.Duration(10 * time.Second))}
		}},
		{"children.reminder_every", func(p *hoist.Policy) {
			p.Kind, p.Application, p.Children = hoist.KindJITChildren, nil, &hoist.JITChildren{ReminderEvery: ptr(hoist.Duration(-time.Minute))}
		}},
	}
	for _, tc := range cases {
		p := good
		rule := *good.Application
		p.Application = &rule
		tc.edit(&p)
		err := p.Validate()
		var he *hoist.Error
		if !errors.As(err, &he) || he.Code != hoist.EInvalid || he.Fields[tc.field] == "" {
			t.Errorf("%s: %v; want an invalid error naming %s", tc.field, err, tc.field)
		}
	}
}

// TestReminderEvery: the period is checked with its field named (0 is
// none, allowed), merged like every field, held back from an agent too old
// for it, and shown with where it comes from.
func TestReminderEvery(t *testing.T) {
	for _, tc := range []struct {
		every time.Duration
		ok    bool
	}{{0, true}, {time.Minute, true}, {30 * time.Minute, true}, {24 * time.Hour, true}, {59 * time.Second, false}, {25 * time.Hour, false}, {-time.Minute, false}} {
		g := hoist.ComputerGroup{Name: "devs", Config: hoist.AgentConfig{ReminderEvery: ptr(hoist.Duration(tc.every))}}
		err := g.Validate()
		var he *hoist.Error
		if tc.ok != (err == nil) || (!tc.ok && (!errors.As(err, &he) || he.Fields["config.reminder_every"] == "")) {
			t.Errorf("reminder_every %s: %v", tc.every, err)
		}
	}
	groups := []hoist.ComputerGroup{{Name: hoist.DefaultGroup, Config: hoist.AgentConfig{ReminderEvery: ptr(hoist.Duration(time.Hour)), Reminders: []hoist.Duration{hoist.Duration(10 * time.Minute)}}}}
	now := hoist.AgentRecord{Hostname: "pc", Version: hoist.ReminderEveryVersion, OS: "linux"}
	if b, held := hoist.BuildBundle(now, groups, nil); b.Config.ReminderEvery == nil || b.Config.ReminderEvery.D() != time.Hour || len(held) != 0 {
		t.Fatalf("an agent of %s: config %+v, held %v", hoist.ReminderEveryVersion, b.Config, held)
	}
	old := now
	old.Version = "0.2.0"
	b, held := hoist.BuildBundle(old, groups, nil)
	if b.Config.ReminderEvery != nil || len(b.Config.Reminders) != 1 || len(held) != 1 || held[0].What != "config reminder_every" {
		t.Fatalf("an agent of 0.2.0: config %+v, held %v; want the final marks without the period", b.Config, held)
	}
	var got string
	for _, v := range hoist.EffectiveConfig(hoist.ComputerGroup{Name: "devs"}, groups[0]) {
		if v.Field == "reminder_every" {
			got = v.Value + " (" + v.From + ")"
		}
	}
	if got != "every 1h of time left (inherited from group "+hoist.DefaultGroup+")" {
		t.Errorf("effective reminder_every: %q", got)
	}
}

func TestBundleGatingAndRevision(t *testing.T) {
	groups := []hoist.ComputerGroup{
		{Name: hoist.DefaultGroup, Config: hoist.AgentConfig{CreateJITShortcut: ptr(false), Grace: ptr(hoist.Duration(5 * time.Second))}},
		{Name: "devs", Priority: 10, Config: hoist.AgentConfig{CreateJITShortcut: ptr(true)}},
		{Name: "web", Rules: hoist.GroupRules{Hostname: "web-*"}, Priority: 20, Config: hoist.AgentConfig{Grace: ptr(hoist.Duration(time.Second))}},
	}
	future := app("Needs a new agent", 0, hoist.ApplicationRule{Path: "/usr/bin/x", Action: hoist.ActionElevate})
	future.MinAgentVersion = "9.0.0"
	future.Active = false
	elsewhere := app("Other group", 0, hoist.ApplicationRule{Path: "/usr/bin/y", Action: hoist.ActionElevate})
	elsewhere.Groups = []string{"db"}
	policies := append(hoist.SamplePolicies(time.Now()), future, elsewhere)
	agent := hoist.AgentRecord{Hostname: "web-1", Version: "0.2.0", Group: "devs", OS: "linux"}
	b, held := hoist.BuildBundle(agent, groups, policies)
	if strings.Join(b.Groups, ",") != "web,devs,Linux Computers" {
		t.Fatalf("groups %v", b.Groups)
	}
	// Priority decides a conflict: devs (10) over the default group for the
	// shortcut; web (20) over the default group for the grace.
	if b.Config.CreateJITShortcut == nil || !*b.Config.CreateJITShortcut || b.Config.Grace.D() != time.Second {
		t.Fatalf("merged config %+v", b.Config)
	}
	if len(b.Policies) != 0 {
		t.Fatalf("inactive or foreign policies sent: %v", b.Policies)
	}
	if len(held) != 0 {
		t.Fatalf("held back from an up-to-date agent: %v", held)
	}
	for i := range policies {
		policies[i].Active = true
	}
	b2, held := hoist.BuildBundle(agent, groups, policies)
	if len(b2.Policies) != 3 || len(held) != 1 || held[0].What != "policy Needs a new agent" || held[0].Needs != "9.0.0" {
		t.Fatalf("policies %d, held %v", len(b2.Policies), held)
	}
	if b2.Revision == b.Revision {
		t.Fatal("the revision did not change with the content")
	}
	if b3, _ := hoist.BuildBundle(agent, groups, policies); b3.Revision != b2.Revision {
		t.Fatal("the revision changed without a change")
	}
	old := agent
	old.Version = "0.1.0"
	b4, held := hoist.BuildBundle(old, groups, policies)
	if len(b4.Policies) != 0 || b4.Config.CreateJITShortcut != nil || len(held) != 6 {
		t.Fatalf("an old agent got %d policies, config %+v, held %v", len(b4.Policies), b4.Config, held)
	}
}

func TestParseBundleSkipsWhatItCannotProcess(t *testing.T) {
	good := jitBundle(true)
	data, _ := json.Marshal(good)
	var raw map[string]any
	_ = json.Unmarshal(data, &raw)
	ps := raw["policies"].([]any)
	ps = append(ps, map[string]any{"id": "pol_new", "name": "From the future", "kind": "kernel-module", "groups": []string{"x"}})
	ps = append(ps, "not even an object")
	raw["policies"] = ps
	data, _ = json.Marshal(raw)
	b, skipped, err := hoist.ParseBundle(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Policies) != 3 {
		t.Fatalf("kept %d policies, want the 3 it knows", len(b.Policies))
	}
	if _, ok := b.JIT(); !ok {
		t.Fatal("one unknown policy stopped the processing of the rest")
	}
	if len(skipped) != 2 || skipped[0].Name != "From the future" || !strings.Contains(skipped[0].Reason, "unknown policy kind") {
		t.Fatalf("skipped = %+v", skipped)
	}
	if _, _, err := hoist.ParseBundle([]byte("[")); err == nil {
		t.Fatal("garbage parsed as a bundle")
	}
}

func TestVersionLess(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{{"0.1.0", "0.2.0", true}, {"0.10.0", "0.9.0", false}, {"1.0", "1.0.0", false}, {"v1.2.3", "1.2.4", true}, {"garbage", "0.0.1", true}, {"0.2.0", "garbage", false}} {
		if got := hoist.VersionLess(tc.a, tc.b); got != tc.want {
			t.Errorf("VersionLess(%q, %q) = %v", tc.a, tc.b, got)
		}
	}
}

func ptr[T any](v T) *T { return &v }

func TestStartupRulesTakeTheConfiguration(t *testing.T) {
	b := jitBundle(true)
	j, _ := b.JIT()
	j.Startup.Startup.DefaultDuration, j.Startup.Startup.MaxDuration = 0, hoist.Duration(4*time.Hour)
	b.Config = hoist.AgentConfig{DefaultDuration: ptr(hoist.Duration(time.Hour)), MaxDuration: ptr(hoist.Duration(2 * time.Hour))}
	r := b.StartupRules(j)
	if r.DefaultDuration.D() != time.Hour || r.MaxDuration.D() != 2*time.Hour {
		t.Fatalf("rules = %+v: want the configuration's default and its tighter max", r)
	}
	if _, err := r.CheckWindow(3*time.Hour, ""); hoist.ErrorCode(err) != hoist.EInvalid {
		t.Fatalf("3h past a 2h max: %v", err)
	}
	b.Config.MaxDuration = ptr(hoist.Duration(8 * time.Hour))
	if r := b.StartupRules(j); r.MaxDuration.D() != 4*time.Hour {
		t.Fatalf("a looser configured max overrode the policy: %s", r.MaxDuration)
	}
}

func TestDenyMatchesTheNameTypedToo(t *testing.T) {
	b := hoist.Bundle{Policies: []hoist.Policy{
		app("Elevate usr bin", 0, hoist.ApplicationRule{Path: "/usr/bin/*", Action: hoist.ActionElevate}),
		app("No vi", 0, hoist.ApplicationRule{Path: "/usr/bin/vi", Action: hoist.ActionDeny}),
	}}
	// /usr/bin/vi is a link to /usr/bin/vim.basic: the deny on the name
	// typed still holds.
	d := hoist.Decide(b, hoist.ProcessFacts{User: "bob", Path: "/usr/bin/vim.basic", Typed: "/usr/bin/vi"})
	if d.Action != hoist.ActionDeny || d.Policy != "No vi" {
		t.Fatalf("Decide = %+v, want the deny", d)
	}
	// An elevate policy matches the real file only: a link named like an
	// allowed program elevates nothing else.
	b = hoist.Bundle{Policies: []hoist.Policy{app("Elevate id", 0, hoist.ApplicationRule{Path: "/usr/bin/id", Action: hoist.ActionElevate})}}
	if d := hoist.Decide(b, hoist.ProcessFacts{User: "bob", Path: "/usr/bin/bash", Typed: "/usr/bin/id"}); d.Elevate {
		t.Fatalf("a link named id elevated bash: %+v", d)
	}
}

func TestTheDefaultIsAnAllowedDuration(t *testing.T) {
	s := &hoist.JITStartup{Durations: []hoist.Duration{hoist.Duration(time.Hour), hoist.Duration(2 * time.Hour)}}
	if d, err := s.CheckWindow(0, ""); err != nil || d != time.Hour {
		t.Fatalf("the default with a list of durations: %v, %v; want the first allowed", d, err)
	}
	p := hoist.Policy{Name: "S", Kind: hoist.KindJITStartup, Groups: []string{"g"},
		Startup: &hoist.JITStartup{Durations: s.Durations, DefaultDuration: hoist.Duration(30 * time.Minute)}}
	var he *hoist.Error
	if err := p.Validate(); !errors.As(err, &he) || he.Fields["startup.default_duration"] == "" {
		t.Fatalf("a default outside the allowed durations: %v", err)
	}
}
