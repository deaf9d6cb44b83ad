package control_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/control"
	"github.com/hoist-jit/hoist/testenv"
	"github.com/hoist-jit/hoist/wire"
)

// TestLegacyArgsPoliciesDeactivatedAtStart: an elevate policy stored with
// the old joined-string args (which `apt-get update -o …` satisfied) is
// turned off when the server starts, audited, kept for the admin to
// rewrite, and cannot be turned on again as it is. A legacy deny or audit
// stays on and reaches agents without its args: the deny denies the whole
// program (it used to stop "systemctl edit" under a broader elevate), the
// audit records every run. On both stores.
func TestLegacyArgsPoliciesDeactivatedAtStart(t *testing.T) {
	eachStore(t, testLegacyArgsDeactivated)
}

func testLegacyArgsDeactivated(t *testing.T, store hoist.Store) {
	clk := testenv.NewClock(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	start := func() *control.Service {
		svc, err := control.New(control.Config{Store: store, Settings: hoist.DefaultApprovalSettings(), Clock: clk.Now, Signer: grantSigner{key}})
		if err != nil {
			t.Fatal(err)
		}
		if err := svc.Seed(ctx); err != nil {
			t.Fatal(err)
		}
		return svc
	}
	start()
	// What a server before argv stored: written straight to the store, as
	// validation now refuses it.
	mk := func(name string, active bool, rule hoist.ApplicationRule) hoist.Policy {
		return hoist.Policy{ID: hoist.NewID(hoist.PolicyIDPrefix), Name: name, Kind: hoist.KindApplication, Groups: []string{hoist.DefaultGroup},
			Active: active, Application: &rule, Version: 1, CreatedAt: clk.Now(), UpdatedAt: clk.Now(), UpdatedBy: "admin"}
	}
	legacy := mk("Apt for devs", true, hoist.ApplicationRule{Path: "/usr/bin/apt-get", Args: `^(update|install)\b`, Action: hoist.ActionElevate})
	off := mk("Old and off", false, hoist.ApplicationRule{Path: "/usr/bin/find", Args: `^/var`, Action: hoist.ActionElevate})
	modern := mk("Apt update", true, hoist.ApplicationRule{Path: "/usr/bin/apt-get", Action: hoist.ActionElevate,
		Argv: &hoist.ArgvRule{Match: []hoist.ArgPattern{{Exact: "update"}}}})
	elevSystemctl := mk("Systemctl", true, hoist.ApplicationRule{Path: "/usr/bin/systemctl", Action: hoist.ActionElevate})
	denyEdit := mk("No systemctl edit", true, hoist.ApplicationRule{Path: "/usr/bin/systemctl", Args: `^edit\b`, Action: hoist.ActionDeny})
	auditStatus := mk("Audit systemctl status", true, hoist.ApplicationRule{Path: "/usr/bin/systemctl", Args: `^status`, Action: hoist.ActionAudit})
	agent := hoist.AgentRecord{ID: hoist.NewID(hoist.AgentIDPrefix), Hostname: "ws-01", Version: hoist.Version, OS: "linux", EnrolledAt: clk.Now(), LastSeen: clk.Now()}
	if err := store.Update(ctx, func(tx hoist.Tx) error {
		if err := tx.InsertAgent(ctx, agent); err != nil {
			return err
		}
		for _, p := range []hoist.Policy{legacy, off, modern, elevSystemctl, denyEdit, auditStatus} {
			if err := tx.InsertPolicy(ctx, p); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	svc := start() // the upgraded server's first start
	admin := control.Actor{Name: "admin", Role: hoist.RoleAdmin}
	got, err := svc.Policy(ctx, admin, legacy.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Active || got.Application.Args != legacy.Application.Args || got.UpdatedBy != "hoist" {
		t.Fatalf("legacy policy after start: active %v args %q by %q; want inactive, args kept, by hoist", got.Active, got.Application.Args, got.UpdatedBy)
	}
	var he *hoist.Error
	if err := got.Validate(); !errors.As(err, &he) || !strings.Contains(he.Fields["application.args"], "application.argv") {
		t.Fatalf("the stored policy does not say how to migrate it: %v", err)
	}
	for _, p := range []hoist.Policy{off, modern, denyEdit, auditStatus} {
		if now, _ := svc.Policy(ctx, admin, p.ID); now.Active != p.Active || now.Version != 1 {
			t.Fatalf("%s was changed: active %v version %d", p.Name, now.Active, now.Version)
		}
	}
	records := deactivations(t, store)
	if len(records) != 1 || records[0].Subject != legacy.ID || records[0].Actor != "hoist" {
		t.Fatalf("audit: %+v; want one policy.deactivated of %s by hoist", records, legacy.ID)
	}
	var detail map[string]any
	_ = json.Unmarshal(records[0].Detail, &detail)
	if r, _ := detail["reason"].(string); !strings.Contains(r, "no longer supported") || detail["args"] != legacy.Application.Args {
		t.Fatalf("audit detail %s does not say why", records[0].Detail)
	}

	checkLegacyDenyDelivered(t, svc, key.Public().(ed25519.PublicKey), agent, denyEdit, auditStatus)

	start() // every later start changes nothing
	if n := len(deactivations(t, store)); n != 1 {
		t.Fatalf("%d deactivations after a second start; want still 1", n)
	}
	if _, err := svc.SetPolicyActive(ctx, admin, legacy.ID, true); hoist.ErrorCode(err) != hoist.EInvalid {
		t.Fatalf("activating the legacy policy: %v; want EInvalid", err)
	}
	// Rewritten as argv, it may be turned on again.
	got.Application.Args = ""
	got.Application.Argv = &hoist.ArgvRule{Match: []hoist.ArgPattern{{Exact: "update"}}, Rest: hoist.RestNone}
	got.Active = true
	if _, err := svc.UpdatePolicy(ctx, admin, legacy.ID, got); err != nil {
		t.Fatalf("migrating: %v", err)
	}
}

// checkLegacyDenyDelivered checks agent in and reads its bundle as the
// agent does: the legacy deny and audit are in it without args, pass the
// agent's validation, and deny (audit) systemctl whatever its arguments,
// though an elevate policy names it.
func checkLegacyDenyDelivered(t *testing.T, svc *control.Service, pub ed25519.PublicKey, agent hoist.AgentRecord, deny, audit hoist.Policy) {
	t.Helper()
	ans, err := svc.Checkin(ctx, agent.ID, wire.AgentFacts{Hostname: agent.Hostname, Version: agent.Version, OS: "linux", Kernel: "6.1"})
	if err != nil || ans == nil {
		t.Fatalf("check-in: %v, %v", ans, err)
	}
	if err := hoist.VerifyBundle(pub, ans.Bundle, ans.Signature); err != nil {
		t.Fatal(err)
	}
	b, skipped, err := hoist.ParseBundle(ans.Bundle)
	if err != nil || len(skipped) != 0 {
		t.Fatalf("the agent skipped %v (%v)", skipped, err)
	}
	for _, want := range []hoist.Policy{deny, audit} {
		i := slices.IndexFunc(b.Policies, func(p hoist.Policy) bool { return p.ID == want.ID })
		if i < 0 {
			t.Fatalf("%q is not in the bundle: %+v", want.Name, b.Policies)
		}
		if a := b.Policies[i].Application; a.Args != "" || a.Argv != nil {
			t.Fatalf("%q delivered with args %q argv %+v", want.Name, a.Args, a.Argv)
		}
	}
	for _, args := range [][]string{{"edit", "ssh"}, {"restart", "nginx"}} {
		d := hoist.Decide(b, hoist.ProcessFacts{User: "alice", Path: "/usr/bin/systemctl", Args: args})
		if d.Action != hoist.ActionDeny || d.Policy != deny.Name || !slices.Contains(d.Audited, audit.Name) {
			t.Fatalf("systemctl %q on the agent: %s by %q, audited %v; want denied by %q and audited", args, d.Action, d.Policy, d.Audited, deny.Name)
		}
	}
}

func deactivations(t *testing.T, store hoist.Store) []hoist.AuditRecord {
	t.Helper()
	var out []hoist.AuditRecord
	err := store.View(ctx, func(tx hoist.Tx) error {
		return tx.Audit(ctx, hoist.AuditFilter{Action: "policy.deactivated"}, func(r hoist.AuditRecord) error { out = append(out, r); return nil })
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
