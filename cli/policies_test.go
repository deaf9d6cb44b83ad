package cli_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/control"
)

// TestAdminPolicies drives hoist admin policies against a real server:
// the shipped JIT policies, a policy from YAML, the edits, and files that
// are refused before anything is stored.
func TestAdminPolicies(t *testing.T) {
	m := startServer(t)
	admin := loggedInAdmin(t, m)
	var ps []hoist.Policy
	if err := json.Unmarshal([]byte(admin.ok("", "admin", "policies", "ls", "--json")), &ps); err != nil {
		t.Fatal(err)
	}
	if len(ps) != 3 {
		t.Fatalf("a new server has %d policies, want the three JIT samples", len(ps))
	}
	for _, p := range ps {
		if p.Active || p.Groups[0] != hoist.DefaultGroup {
			t.Fatalf("sample %q: active %v, groups %v; want inactive, for %s", p.Name, p.Active, p.Groups, hoist.DefaultGroup)
		}
	}
	table := admin.ok("", "admin", "policies", "ls")
	for _, want := range []string{"JIT Mode (Startup and Approval)", "jit-children", "Linux Computers"} {
		if !strings.Contains(table, want) {
			t.Fatalf("policies table lacks %q:\n%s", want, table)
		}
	}

	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	admin.ok("", "admin", "groups", "create", "devs", "--priority", "10", "--hostname", "dev-*")
	good := write("apt.yaml", `
name: Elevate apt-get for devs
description: package installs without a JIT session
kind: application
groups: [devs]
priority: 5
application:
  path: /usr/bin/apt-get
  argv: {match: [{exact: update}]}
  unix_groups: [devs]
  action: elevate
`)
	if out := admin.ok("", "admin", "policies", "create", "-f", good); !strings.Contains(out, `created policy "Elevate apt-get for devs"`) || !strings.Contains(out, "inactive") {
		t.Fatalf("create said %q", out)
	}

	// Refused before anything is stored, each with the field named.
	bad := []struct{ file, body, want string }{
		{"typo.yaml", "name: X\nkind: application\ngroups: [devs]\napplication: {path: /bin/x, action: elevate, pahts: []}\n", "unknown field"},
		{"pattern.yaml", "name: X\nkind: application\ngroups: [devs]\napplication: {path: 'bin/[', action: elevate}\n", "application.path"},
		{"hash.yaml", "name: X\nkind: application\ngroups: [devs]\napplication: {path: /bin/x, sha256: abc, action: elevate}\n", "application.sha256"},
		{"action.yaml", "name: X\nkind: application\ngroups: [devs]\napplication: {path: /bin/x, action: sudo}\n", "unknown action"},
		{"kind.yaml", "name: X\nkind: firewall\ngroups: [devs]\n", "unknown kind"},
		{"group.yaml", "name: X\nkind: application\ngroups: [nobody-has-this]\napplication: {path: /bin/x, action: elevate}\n", "unknown computer group"},
		{"notyaml.yaml", "{{{", "not YAML or JSON"},
	}
	for _, b := range bad {
		r := admin.run("", "admin", "policies", "create", "-f", write(b.file, b.body))
		if r.code == 0 || !strings.Contains(r.stderr, b.want) {
			t.Errorf("%s: exit %d, stderr %q; want a refusal naming %q", b.file, r.code, r.stderr, b.want)
		}
	}
	if n := strings.Count(admin.ok("", "admin", "policies", "ls"), "\n"); n != 5 {
		t.Fatalf("a refused file changed the policies: %d lines", n)
	}

	// Show by name, edit with a stale version, activate, duplicate, delete.
	shown := admin.ok("", "admin", "policies", "show", "Elevate apt-get for devs")
	if !strings.Contains(shown, "path: /usr/bin/apt-get") || !strings.Contains(shown, "version: 1") {
		t.Fatalf("show:\n%s", shown)
	}
	edited := write("edited.yaml", strings.Replace(shown, "priority: 5", "priority: 7", 1))
	if out := admin.ok("", "admin", "policies", "edit", "Elevate apt-get for devs", "-f", edited); !strings.Contains(out, "version 2") {
		t.Fatalf("edit said %q", out)
	}
	if r := admin.run("", "admin", "policies", "edit", "Elevate apt-get for devs", "-f", edited); r.code == 0 || !strings.Contains(r.stderr, "changed by someone else") {
		t.Fatalf("a stale edit: exit %d, %q", r.code, r.stderr)
	}
	admin.ok("", "admin", "policies", "activate", "JIT Mode", "Elevate apt-get for devs")
	admin.ok("", "admin", "groups", "create", "web", "--hostname", "web-*")
	if out := admin.ok("", "admin", "policies", "duplicate", "JIT Mode", "--name", "JIT Mode for web", "--group", "web"); !strings.Contains(out, "for web, inactive") {
		t.Fatalf("duplicate said %q", out)
	}
	p, err := m.Service().Policy(context.Background(), control.Actor{Name: "admin", Role: hoist.RoleAdmin}, "JIT Mode for web")
	if err != nil || p.Kind != hoist.KindJITMode || p.Active || p.Groups[0] != "web" {
		t.Fatalf("the copy: %+v, %v", p, err)
	}
	if r := admin.run("", "admin", "groups", "delete", "web"); r.code == 0 || !strings.Contains(r.stderr, "JIT Mode for web") {
		t.Fatalf("deleting a targeted group: exit %d, %q", r.code, r.stderr)
	}
	if r := admin.run("", "admin", "policies", "delete", "JIT Mode for web"); r.code == 0 || !strings.Contains(r.stderr, "--yes") {
		t.Fatalf("deleting a JIT policy without --yes: exit %d, %q", r.code, r.stderr)
	}
	admin.ok("", "admin", "policies", "delete", "JIT Mode for web", "--yes")
	if r := admin.run("", "admin", "policies", "frob"); r.code == 0 || !strings.Contains(r.stderr, "unknown command") {
		t.Fatalf("an unknown subcommand: exit %d, %q", r.code, r.stderr)
	}
	admin.ok("", "admin", "groups", "delete", "web")
	if r := admin.run("", "admin", "groups", "delete", hoist.DefaultGroup); r.code == 0 || !strings.Contains(r.stderr, "cannot be deleted") {
		t.Fatalf("deleting the default group: exit %d, %q", r.code, r.stderr)
	}

	// Agent configuration per group.
	admin.ok("", "admin", "config", "set", "devs", "create_jit_shortcut=yes", "reminders=10m,1m", "grace=30s")
	var cfg hoist.AgentConfig
	if err := json.Unmarshal([]byte(admin.ok("", "admin", "config", "show", "devs", "--json")), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.CreateJITShortcut == nil || !*cfg.CreateJITShortcut || len(cfg.Reminders) != 2 || cfg.Grace.D().String() != "30s" {
		t.Fatalf("config = %+v", cfg)
	}
	// Periodic reminders: as a field, or "every" among the marks; 0 is off.
	admin.ok("", "admin", "config", "set", "devs", "reminders=every 45m,10m,1m")
	cfg = hoist.AgentConfig{}
	if err := json.Unmarshal([]byte(admin.ok("", "admin", "config", "show", "devs", "--json")), &cfg); err != nil || cfg.ReminderEvery == nil || cfg.ReminderEvery.D() != 45*time.Minute || len(cfg.Reminders) != 2 {
		t.Fatalf("after reminders=every 45m,10m,1m: %+v, %v", cfg, err)
	}
	if out := admin.ok("", "admin", "config", "show", "devs"); !strings.Contains(out, "every 45m of time left") {
		t.Errorf("config show does not say the period:\n%s", out)
	}
	admin.ok("", "admin", "config", "set", "devs", "reminder_every=0")
	cfg = hoist.AgentConfig{}
	if err := json.Unmarshal([]byte(admin.ok("", "admin", "config", "show", "devs", "--json")), &cfg); err != nil || cfg.ReminderEvery == nil || *cfg.ReminderEvery != 0 {
		t.Fatalf("after reminder_every=0: %+v, %v", cfg, err)
	}
	if r := admin.run("", "admin", "config", "set", "devs", "reminder_every=10s"); r.code == 0 || !strings.Contains(r.stderr, "reminder_every") {
		t.Errorf("reminder_every=10s: exit %d, %q", r.code, r.stderr)
	}
	admin.ok("", "admin", "config", "set", "devs", "grace=")
	for _, bad := range []string{"grace=forever", "colour=blue", "create_jit_shortcut=maybe", "grace=1h", "noequals"} {
		if r := admin.run("", "admin", "config", "set", "devs", bad); r.code == 0 || r.stderr == "" {
			t.Errorf("config set %s: exit %d, %q", bad, r.code, r.stderr)
		}
	}
	cfg = hoist.AgentConfig{}
	if err := json.Unmarshal([]byte(admin.ok("", "admin", "config", "show", "devs", "--json")), &cfg); err != nil || cfg.Grace != nil || cfg.CreateJITShortcut == nil {
		t.Fatalf("after unsetting grace and bad sets: %+v, %v", cfg, err)
	}

	// Every change is in the audit log.
	actions := map[string]int{}
	_ = m.Service().Audit(context.Background(), control.Actor{Name: "admin", Role: hoist.RoleAdmin}, hoist.AuditFilter{}, func(r hoist.AuditRecord) error {
		actions[r.Action]++
		return nil
	})
	for _, a := range []string{"policy.created", "policy.updated", "policy.activated", "policy.duplicated", "policy.deleted", "group.created", "group.deleted", "group.config_changed"} {
		if actions[a] == 0 {
			t.Errorf("no %s in the audit log: %v", a, actions)
		}
	}
}

// TestOnlyAdminsChangePolicies: an approver reads policies but cannot
// change them.
func TestOnlyAdminsChangePolicies(t *testing.T) {
	m := startServer(t)
	svc := m.Service()
	root := control.Actor{Name: "admin", Role: hoist.RoleAdmin}
	approver := control.Actor{Name: "ann", Role: hoist.RoleApprover}
	if _, err := svc.Policies(context.Background(), approver); err != nil {
		t.Fatalf("an approver cannot read policies: %v", err)
	}
	if _, err := svc.SetPolicyActive(context.Background(), approver, "JIT Mode", true); hoist.ErrorCode(err) != hoist.EForbidden {
		t.Fatalf("an approver activated a policy: %v", err)
	}
	if _, err := svc.CreateGroup(context.Background(), approver, hoist.ComputerGroup{Name: "x"}); hoist.ErrorCode(err) != hoist.EForbidden {
		t.Fatalf("an approver made a group: %v", err)
	}
	if _, err := svc.SetPolicyActive(context.Background(), root, "JIT Mode", true); err != nil {
		t.Fatal(err)
	}
}

// TestAdminPoliciesLint: create and edit print the policy linter's warnings
// to stderr and are refused for its refusals; lint -f reads a file offline.
func TestAdminPoliciesLint(t *testing.T) {
	m := startServer(t)
	admin := loggedInAdmin(t, m)
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	shell := write("shell.yaml", "name: Root shell\nkind: application\ngroups: [Linux Computers]\napplication: {path: /usr/bin/bash, action: elevate}\n")
	reboot := write("reboot.yaml", "name: Reboot\nkind: application\ngroups: [Linux Computers]\napplication: {path: /usr/sbin/reboot, action: justify}\n")
	safe := write("safe.yaml", "name: Update\nkind: application\ngroups: [Linux Computers]\napplication: {path: /usr/bin/apt-get, argv: {match: [{exact: update}]}, action: elevate}\n")

	r := admin.run("", "admin", "policies", "create", "-f", shell)
	if r.code == 0 || !strings.Contains(r.stderr, "application.path") || !strings.Contains(r.stderr, "shell") {
		t.Errorf("create of a root shell: exit %d, stderr %q; want a refusal naming application.path", r.code, r.stderr)
	}
	r = admin.run("", "admin", "policies", "create", "-f", reboot)
	if r.code != 0 || !strings.Contains(r.stderr, "warning: application.argv: /usr/sbin/reboot runs as root with whatever arguments") {
		t.Errorf("create with a warning: exit %d, stderr %q; want the warning on stderr", r.code, r.stderr)
	}
	shown := admin.ok("", "admin", "policies", "show", "Reboot")
	r = admin.run("", "admin", "policies", "edit", "Reboot", "-f", write("reboot2.yaml", strings.Replace(shown, "priority: 0", "priority: 3", 1)))
	if r.code != 0 || !strings.Contains(r.stderr, "warning: application.argv:") {
		t.Errorf("edit with a warning: exit %d, stderr %q", r.code, r.stderr)
	}
	shown = admin.ok("", "admin", "policies", "show", "Reboot")
	r = admin.run("", "admin", "policies", "edit", "Reboot", "-f", write("reboot3.yaml", strings.Replace(shown, "/usr/sbin/reboot", "/usr/bin/find", 1)))
	if r.code == 0 || !strings.Contains(r.stderr, "application.argv") {
		t.Errorf("edit to find with any arguments: exit %d, stderr %q; want a refusal", r.code, r.stderr)
	}

	// lint works without logging in: a fresh home has no server.
	nobody := user{t: t, home: t.TempDir()}
	for _, tc := range []struct {
		file, want string
		code       int
	}{
		{shell, "refusal: application.path:", 1},
		{reboot, "warning: application.argv:", 0},
		{safe, "no findings", 0},
	} {
		r := nobody.run("", "admin", "policies", "lint", "-f", tc.file)
		if r.code != tc.code || !strings.Contains(r.stdout, tc.want) {
			t.Errorf("lint %s: exit %d, stdout %q, stderr %q; want exit %d and %q", filepath.Base(tc.file), r.code, r.stdout, r.stderr, tc.code, tc.want)
		}
	}
	r = nobody.run("", "admin", "policies", "lint", "--json", "-f", shell)
	var fs []hoist.LintFinding
	if err := json.Unmarshal([]byte(r.stdout), &fs); err != nil || r.code != 1 || len(fs) == 0 || fs[0].Code != hoist.LintShell {
		t.Errorf("lint --json: exit %d, %q, %v", r.code, r.stdout, err)
	}
}
