package control_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/control"
	"github.com/hoist-jit/hoist/pgtest"
	"github.com/hoist-jit/hoist/postgres"
	"github.com/hoist-jit/hoist/sqlite"
	"github.com/hoist-jit/hoist/testenv"
)

// TestLegacyArgsPoliciesDeactivatedAtStart: a policy stored with the old
// joined-string args (which `apt-get update -o …` satisfied) is turned off
// when the server starts, audited, kept for the admin to rewrite, and
// cannot be turned on again as it is. On both stores.
func TestLegacyArgsPoliciesDeactivatedAtStart(t *testing.T) {
	open := map[string]func(t *testing.T) hoist.Store{
		"sqlite": func(t *testing.T) hoist.Store {
			s, err := sqlite.Open(ctx, t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		"postgres": func(t *testing.T) hoist.Store {
			s, err := postgres.Open(ctx, pgtest.URL(t))
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	}
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			store := open[name](t)
			t.Cleanup(func() { store.Close() })
			testLegacyArgsDeactivated(t, store)
		})
	}
}

func testLegacyArgsDeactivated(t *testing.T, store hoist.Store) {
	clk := testenv.NewClock(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))
	start := func() *control.Service {
		svc, err := control.New(control.Config{Store: store, Settings: hoist.DefaultApprovalSettings(), Clock: clk.Now})
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
	if err := store.Update(ctx, func(tx hoist.Tx) error {
		for _, p := range []hoist.Policy{legacy, off, modern} {
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
	for _, p := range []hoist.Policy{off, modern} {
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
