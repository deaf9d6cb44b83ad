package postgres_test

import (
	"context"
	"sync"
	"testing"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/control"
	"github.com/hoist-jit/hoist/pgtest"
	"github.com/hoist-jit/hoist/postgres"
)

// TestAdminsDemotingEachOtherLeaveOne: two admins who demote each other at
// the same moment, on PostgreSQL (read committed), must not both succeed —
// that would leave no admin at all.
func TestAdminsDemotingEachOtherLeaveOne(t *testing.T) {
	ctx := context.Background()
	s, err := postgres.Open(ctx, pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	svc, err := control.New(control.Config{Store: s, Settings: hoist.DefaultApprovalSettings()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Bootstrap(ctx, "correct horse battery staple"); err != nil {
		t.Fatal(err)
	}
	root := control.Actor{Name: "admin", Role: hoist.RoleAdmin}
	for round := range 40 {
		// Two admins, each about to demote the other.
		a, b := "ann", "bob"
		for _, name := range []string{a, b} {
			if _, err := svc.CreateAdmin(ctx, root, control.AdminInput{Name: name, Role: hoist.RoleAdmin, Password: "password of " + name}); err != nil {
				t.Fatal(err)
			}
		}
		if err := svc.DeleteAdmin(ctx, control.Actor{Name: a, Role: hoist.RoleAdmin}, "admin"); err != nil && round == 0 {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make([]error, 2)
		start := make(chan struct{})
		for i, pair := range [][2]string{{a, b}, {b, a}} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, errs[i] = svc.UpdateAdmin(ctx, control.Actor{Name: pair[0], Role: hoist.RoleAdmin}, control.AdminInput{Name: pair[1], Role: hoist.RoleAuditor})
			}()
		}
		close(start)
		wg.Wait()
		as, err := svc.Admins(ctx, control.Actor{Name: "check", Role: hoist.RoleAdmin})
		if err != nil {
			t.Fatal(err)
		}
		admins := 0
		for _, x := range as {
			if x.Role == hoist.RoleAdmin && !x.Disabled {
				admins++
			}
		}
		if admins != 1 || (errs[0] == nil) == (errs[1] == nil) {
			t.Fatalf("round %d: %d admins left; errors %v / %v", round, admins, errs[0], errs[1])
		}
		// Reset: the survivor restores a root admin and removes both.
		survivor := a
		if errs[1] == nil {
			survivor = b
		}
		sa := control.Actor{Name: survivor, Role: hoist.RoleAdmin}
		if _, err := svc.CreateAdmin(ctx, sa, control.AdminInput{Name: "admin", Role: hoist.RoleAdmin, Password: "correct horse battery staple"}); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{a, b} {
			if err := svc.DeleteAdmin(ctx, root, name); err != nil {
				t.Fatal(err)
			}
		}
	}
}
