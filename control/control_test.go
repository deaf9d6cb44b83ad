package control_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/control"
	"github.com/hoist-jit/hoist/sqlite"
	"github.com/hoist-jit/hoist/testenv"
	"github.com/hoist-jit/hoist/wire"
)

type fixture struct {
	svc      *control.Service
	store    hoist.Store
	clock    *testenv.Clock
	admin    control.Actor
	approver control.Actor
	auditor  control.Actor
}

var ctx = context.Background()

func newFixture(t *testing.T, mutate ...func(*hoist.ApprovalSettings)) *fixture {
	t.Helper()
	store, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	set := hoist.DefaultApprovalSettings()
	for _, m := range mutate {
		m(&set)
	}
	clk := testenv.NewClock(time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC))
	svc, err := control.New(control.Config{Store: store, Settings: set, Clock: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Bootstrap(ctx, "correct horse battery staple"); err != nil {
		t.Fatal(err)
	}
	f := &fixture{svc: svc, store: store, clock: clk}
	f.admin = f.login(t, "admin", "correct horse battery staple")
	for _, u := range []struct {
		name string
		role hoist.Role
	}{{"carol", hoist.RoleApprover}, {"audrey", hoist.RoleAuditor}} {
		if _, err := svc.CreateAdmin(ctx, f.admin, control.AdminInput{Name: u.name, Role: u.role, Password: "password-of-" + u.name}); err != nil {
			t.Fatal(err)
		}
	}
	f.approver = f.login(t, "carol", "password-of-carol")
	f.auditor = f.login(t, "audrey", "password-of-audrey")
	return f
}

func (f *fixture) login(t *testing.T, name, pw string) control.Actor {
	t.Helper()
	token, _, _, err := f.svc.Login(ctx, name, pw, "127.0.0.1")
	if err != nil {
		t.Fatalf("login %s: %v", name, err)
	}
	a, err := f.svc.Authenticate(ctx, token)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func (f *fixture) request(t *testing.T, user, host string) hoist.Request {
	t.Helper()
	r, _, err := f.svc.CreateRequest(ctx, control.RequestInput{User: user, Host: host, Reason: "driver", Duration: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestAskingAgainReturnsTheOpenRequest(t *testing.T) {
	f := newFixture(t)
	first, created, err := f.svc.CreateRequest(ctx, control.RequestInput{User: "alice", Host: "ws-01"})
	if err != nil || !created {
		t.Fatalf("first request: created %v, %v", created, err)
	}
	again, created, err := f.svc.CreateRequest(ctx, control.RequestInput{User: "alice", Host: "ws-01", Reason: "again"})
	if err != nil || created || again.ID != first.ID {
		t.Fatalf("asking again: id %s created %v err %v; want the open request %s", again.ID, created, err, first.ID)
	}
	// Once it expires undecided, asking again makes a new one.
	f.clock.Add(hoist.DefaultPendingTTL)
	third, created, err := f.svc.CreateRequest(ctx, control.RequestInput{User: "alice", Host: "ws-01"})
	if err != nil || !created || third.ID == first.ID {
		t.Fatalf("after expiry: id %s created %v err %v", third.ID, created, err)
	}
	old, _ := f.svc.Request(ctx, f.admin, first.ID)
	if old.State != hoist.RequestExpired {
		t.Fatalf("old request is %s, want expired", old.State)
	}
}

func TestApproveSelected(t *testing.T) {
	f := newFixture(t)
	a, b, own := f.request(t, "alice", "ws-01"), f.request(t, "bob", "ws-02"), f.request(t, "carol", "ws-03")
	results, err := f.svc.Approve(ctx, f.approver, []string{a.ID, b.ID, own.ID, "req_nope", a.ID}, time.Hour, "")
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		ok   bool
		code string
	}{{true, ""}, {true, ""}, {false, hoist.EForbidden}, {false, hoist.ENotFound}, {false, hoist.EConflict}}
	for i, w := range want {
		if results[i].OK != w.ok || results[i].Code != w.code {
			t.Errorf("result %d (%s) = ok %v code %q (%s), want ok %v code %q", i, results[i].ID, results[i].OK, results[i].Code, results[i].Error, w.ok, w.code)
		}
	}
	s := results[0].Session
	if s == nil || s.NotAfter.Sub(s.NotBefore) != time.Hour || s.User != "alice" {
		t.Fatalf("session = %+v", s)
	}
	sessions, _ := f.svc.Sessions(ctx, f.auditor, hoist.SessionFilter{State: hoist.SessionActive})
	if len(sessions) != 2 {
		t.Fatalf("%d active sessions, want 2", len(sessions))
	}
}

func TestOneTimeUsesTheSetting(t *testing.T) {
	f := newFixture(t, func(s *hoist.ApprovalSettings) { s.OneTimeDuration = 20 * time.Minute })
	r := f.request(t, "alice", "ws-01")
	results, _ := f.svc.Approve(ctx, f.approver, []string{r.ID}, 0, "")
	if !results[0].OK || results[0].Request.GrantedDuration != 20*time.Minute || !results[0].Request.OneTime {
		t.Fatalf("one-time approval = %+v", results[0])
	}
	// The history says which the approver chose, as it is read back.
	stored, err := f.svc.Request(ctx, f.admin, r.ID)
	if err != nil || !stored.OneTime {
		t.Fatalf("the stored one-time approval: %+v, %v", stored, err)
	}
	r2 := f.request(t, "bob", "ws-02")
	results, _ = f.svc.Approve(ctx, f.approver, []string{r2.ID}, 20*time.Minute, "")
	if !results[0].OK || results[0].Request.OneTime {
		t.Fatalf("an approval For 20m is marked One Time: %+v", results[0])
	}
}

func TestRolesAreEnforced(t *testing.T) {
	f := newFixture(t)
	r := f.request(t, "alice", "ws-01")
	if _, err := f.svc.Approve(ctx, f.auditor, []string{r.ID}, time.Hour, ""); hoist.ErrorCode(err) != hoist.EForbidden {
		t.Fatalf("auditor approving: %v, want forbidden", err)
	}
	if _, err := f.svc.Deny(ctx, f.auditor, []string{r.ID}, ""); hoist.ErrorCode(err) != hoist.EForbidden {
		t.Fatalf("auditor denying: %v, want forbidden", err)
	}
	if err := f.svc.Audit(ctx, f.approver, hoist.AuditFilter{}, func(hoist.AuditRecord) error { return nil }); hoist.ErrorCode(err) != hoist.EForbidden {
		t.Fatalf("approver reading audit: %v, want forbidden", err)
	}
	if _, err := f.svc.CreateAdmin(ctx, f.approver, control.AdminInput{Name: "eve", Role: hoist.RoleAdmin, Password: "long enough password"}); hoist.ErrorCode(err) != hoist.EForbidden {
		t.Fatalf("approver creating an admin: %v, want forbidden", err)
	}
	got, _ := f.svc.Request(ctx, f.admin, r.ID)
	if got.State != hoist.RequestPending {
		t.Fatalf("refused calls changed the request to %s", got.State)
	}
}

func TestRevokeAndSweep(t *testing.T) {
	f := newFixture(t)
	a, b := f.request(t, "alice", "ws-01"), f.request(t, "bob", "ws-02")
	results, _ := f.svc.Approve(ctx, f.approver, []string{a.ID, b.ID}, time.Hour, "")
	// Revoke by request id: the session it started ends.
	rev, err := f.svc.Revoke(ctx, f.approver, []string{a.ID}, "done early")
	if err != nil || !rev[0].OK || rev[0].Session.EndReason != hoist.EndRevoked {
		t.Fatalf("revoke = %+v, %v", rev, err)
	}
	again, _ := f.svc.Revoke(ctx, f.approver, []string{results[0].Session.ID}, "")
	if again[0].Code != hoist.EConflict {
		t.Fatalf("revoking twice = %+v, want conflict", again[0])
	}
	f.clock.Add(time.Hour)
	n, err := f.svc.Sweep(ctx)
	if err != nil || n != 1 {
		t.Fatalf("sweep changed %d (%v), want 1", n, err)
	}
	s, _ := f.svc.Session(ctx, f.admin, results[1].Session.ID)
	if s.State != hoist.SessionEnded || s.EndReason != hoist.EndExpired {
		t.Fatalf("bob's session = %s (%s), want ended (expired)", s.State, s.EndReason)
	}
	if n, _ := f.svc.Sweep(ctx); n != 0 {
		t.Fatalf("second sweep changed %d, want 0", n)
	}
}

func TestDecisionOnExpiredRequestIsRefused(t *testing.T) {
	f := newFixture(t)
	r := f.request(t, "alice", "ws-01")
	f.clock.Add(hoist.DefaultPendingTTL + time.Second)
	results, _ := f.svc.Approve(ctx, f.approver, []string{r.ID}, time.Hour, "")
	if results[0].OK || results[0].Code != hoist.EConflict {
		t.Fatalf("approving an expired request = %+v", results[0])
	}
	got, _ := f.svc.Request(ctx, f.admin, r.ID)
	if got.State != hoist.RequestExpired {
		t.Fatalf("state = %s, want expired", got.State)
	}
}

func TestFailedLoginsAreSlowed(t *testing.T) {
	f := newFixture(t)
	for i := range 5 {
		if _, _, _, err := f.svc.Login(ctx, "carol", "wrong", "10.0.0.9"); hoist.ErrorCode(err) != hoist.EUnauthorized {
			t.Fatalf("attempt %d: %v, want unauthorized", i, err)
		}
	}
	// Even the right password must wait now.
	if _, _, _, err := f.svc.Login(ctx, "carol", "password-of-carol", "10.0.0.9"); hoist.ErrorCode(err) != hoist.ERateLimited {
		t.Fatalf("after 5 failures: %v, want rate_limited", err)
	}
	f.clock.Add(2 * time.Second)
	if _, _, _, err := f.svc.Login(ctx, "carol", "password-of-carol", "10.0.0.9"); err != nil {
		t.Fatalf("after the delay: %v", err)
	}
	// Names no account can have are refused the same way, NUL bytes and all.
	for _, name := range []string{"ad\x00min", "ad\xffmin", "ADMIN"} {
		if _, _, _, err := f.svc.Login(ctx, name, "x", ""); hoist.ErrorCode(err) != hoist.EUnauthorized {
			t.Errorf("login as %q: %v, want unauthorized", name, err)
		}
	}
	// Unknown users get the same answer as wrong passwords.
	_, _, _, err := f.svc.Login(ctx, "nobody", "whatever", "10.0.0.9")
	if hoist.ErrorCode(err) != hoist.EUnauthorized || hoist.ErrorMessage(err) != "wrong user name or password" {
		t.Fatalf("unknown user: %v", err)
	}
}

func TestTokensExpireAndRevoke(t *testing.T) {
	f := newFixture(t)
	token, _, _, err := f.svc.Login(ctx, "carol", "password-of-carol", "")
	if err != nil {
		t.Fatal(err)
	}
	a, err := f.svc.Authenticate(ctx, token)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Logout(ctx, a, token); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Authenticate(ctx, token); hoist.ErrorCode(err) != hoist.EUnauthorized {
		t.Fatalf("after logout: %v, want unauthorized", err)
	}
	// A new password ends the logins of the old one.
	token, _, _, _ = f.svc.Login(ctx, "carol", "password-of-carol", "")
	if _, err := f.svc.UpdateAdmin(ctx, f.admin, control.AdminInput{Name: "carol", Password: "a brand new password"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Authenticate(ctx, token); hoist.ErrorCode(err) != hoist.EUnauthorized {
		t.Fatalf("token after a password change: %v, want unauthorized", err)
	}
	token, _, _, _ = f.svc.Login(ctx, "carol", "a brand new password", "")
	f.clock.Add(12 * time.Hour)
	if _, err := f.svc.Authenticate(ctx, token); hoist.ErrorCode(err) != hoist.EUnauthorized {
		t.Fatalf("after 12h: %v, want unauthorized", err)
	}
	for _, bad := range []string{"", "hst_", "Bearer x", "hst_" + string(make([]byte, 200))} {
		if _, err := f.svc.Authenticate(ctx, bad); hoist.ErrorCode(err) != hoist.EUnauthorized {
			t.Errorf("token %q: %v, want unauthorized", bad, err)
		}
	}
}

func TestEveryChangeIsAudited(t *testing.T) {
	f := newFixture(t)
	a, b := f.request(t, "alice", "ws-01"), f.request(t, "bob", "ws-02")
	_, _ = f.svc.Approve(ctx, f.approver, []string{a.ID}, time.Hour, "")
	_, _ = f.svc.Deny(ctx, f.approver, []string{b.ID}, "no")
	_, _ = f.svc.Revoke(ctx, f.approver, []string{a.ID}, "")
	var actions []string
	_ = f.svc.Audit(ctx, f.auditor, hoist.AuditFilter{}, func(r hoist.AuditRecord) error {
		actions = append(actions, r.Action)
		return nil
	})
	want := map[string]int{hoist.AuditRequestCreated: 2, hoist.AuditRequestApproved: 1, hoist.AuditSessionStarted: 1,
		hoist.AuditRequestDenied: 1, hoist.AuditSessionEnded: 1, hoist.AuditLogin: 3, hoist.AuditAdminCreated: 3}
	got := map[string]int{}
	for _, a := range actions {
		got[a]++
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%d %s records, want %d (all: %v)", got[k], k, n, actions)
		}
	}
	rep, err := f.svc.VerifyAudit(ctx, f.auditor)
	if err != nil || !rep.OK || rep.Records != int64(len(actions)) {
		t.Fatalf("verify = %+v, %v", rep, err)
	}
}

func TestAdminsCannotLockThemselvesOut(t *testing.T) {
	f := newFixture(t)
	yes := true
	if _, err := f.svc.UpdateAdmin(ctx, f.admin, control.AdminInput{Name: "admin", Disabled: &yes}); hoist.ErrorCode(err) != hoist.EConflict {
		t.Fatalf("disabling oneself: %v, want conflict", err)
	}
	if err := f.svc.DeleteAdmin(ctx, f.admin, "admin"); hoist.ErrorCode(err) != hoist.EConflict {
		t.Fatalf("deleting oneself: %v, want conflict", err)
	}
	if _, err := f.svc.UpdateAdmin(ctx, f.admin, control.AdminInput{Name: "carol", Disabled: &yes}); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := f.svc.Login(ctx, "carol", "password-of-carol", ""); hoist.ErrorCode(err) != hoist.EUnauthorized {
		t.Fatalf("disabled login: %v, want unauthorized", err)
	}
	for _, in := range []control.AdminInput{
		{Name: "Bad Name", Role: hoist.RoleAdmin, Password: "long enough password"},
		{Name: "eve", Role: "root", Password: "long enough password"},
		{Name: "eve", Role: hoist.RoleAdmin, Password: "short"},
	} {
		if _, err := f.svc.CreateAdmin(ctx, f.admin, in); hoist.ErrorCode(err) != hoist.EInvalid {
			t.Errorf("create %+v: %v, want invalid", in, err)
		}
	}
}

func TestAgentAuditIsStoredOnce(t *testing.T) {
	f := newFixture(t)
	rec := hoist.AgentRecord{ID: hoist.NewID(hoist.AgentIDPrefix), Hostname: "ws-01"}
	if err := f.store.Update(ctx, func(tx hoist.Tx) error { return tx.InsertAgent(ctx, rec) }); err != nil {
		t.Fatal(err)
	}
	events := []wire.AgentAuditEvent{
		{ID: "evt_1", Action: "command.started", Actor: "alice", Detail: map[string]any{"argv": []string{"id"}, "agent": "agt_forged", "host": "elsewhere"}},
		{ID: "evt_2", Action: "command.ended", Actor: "alice"},
	}
	for i, want := range []int{2, 0, 0} {
		n, err := f.svc.AgentAudit(ctx, rec, events)
		if err != nil || n != want {
			t.Fatalf("delivery %d stored %d (%v), want %d", i, n, err, want)
		}
	}
	var got []hoist.AuditRecord
	_ = f.svc.Audit(ctx, f.auditor, hoist.AuditFilter{Action: "agent.command.started"}, func(r hoist.AuditRecord) error {
		got = append(got, r)
		return nil
	})
	if len(got) != 1 || !strings.Contains(string(got[0].Detail), `"agent":"`+rec.ID+`"`) || !strings.Contains(string(got[0].Detail), `"host":"ws-01"`) {
		t.Fatalf("stored = %+v; want one record naming the real agent and host", got)
	}
	for _, bad := range []wire.AgentAuditEvent{
		{ID: "x", Action: "command.started"},
		{ID: "evt_3", Action: "nodot"},
		{ID: "evt_4", Action: "command.started", Actor: "al\u202eice"},
	} {
		if _, err := f.svc.AgentAudit(ctx, rec, []wire.AgentAuditEvent{bad}); hoist.ErrorCode(err) != hoist.EInvalid {
			t.Errorf("event %+v: %v, want invalid", bad, err)
		}
	}
}

// TestConsoleLoginSlidesButNeverOutlivesItsDay: a console login lasts its
// idle time, each use moves that on, and no use keeps it past the token
// lifetime (12 hours) from sign-in.
func TestConsoleLoginSlidesButNeverOutlivesItsDay(t *testing.T) {
	f := newFixture(t)
	token, _, expires, err := f.svc.LoginConsole(ctx, "admin", "correct horse battery staple", "127.0.0.1", 30*time.Minute)
	if err != nil || !expires.Equal(f.clock.Now().Add(30*time.Minute)) {
		t.Fatalf("console login: expires %v, %v", expires, err)
	}
	start := f.clock.Now()
	for f.clock.Now().Sub(start) < 12*time.Hour-20*time.Minute {
		f.clock.Add(20 * time.Minute)
		if _, err := f.svc.Authenticate(ctx, token); err != nil {
			t.Fatalf("used every 20 minutes, the login ended after %v: %v", f.clock.Now().Sub(start), err)
		}
		if err := f.svc.KeepAlive(ctx, token, 30*time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	f.clock.Add(30 * time.Minute)
	if _, err := f.svc.Authenticate(ctx, token); hoist.ErrorCode(err) != hoist.EUnauthorized {
		t.Fatalf("still signed in %v after sign-in: %v", f.clock.Now().Sub(start), err)
	}
	// Left alone, it ends after the idle time.
	token, _, _, _ = f.svc.LoginConsole(ctx, "admin", "correct horse battery staple", "127.0.0.1", 30*time.Minute)
	f.clock.Add(30 * time.Minute)
	if _, err := f.svc.Authenticate(ctx, token); hoist.ErrorCode(err) != hoist.EUnauthorized {
		t.Fatalf("an idle console login still works: %v", err)
	}
	if err := f.svc.KeepAlive(ctx, token, 30*time.Minute); hoist.ErrorCode(err) != hoist.EUnauthorized {
		t.Fatalf("an expired login was kept alive: %v", err)
	}
}

// blockingWriter holds every write until it is released, as a reader that
// stopped reading would.
type blockingWriter struct{ entered, release chan struct{} }

func (w blockingWriter) Write(b []byte) (int, error) {
	w.entered <- struct{}{}
	<-w.release
	return len(b), nil
}

// TestAuditExportInBatches: an export of more records than a batch writes
// them all, in order, each once; a third export while two are stalled is
// refused, and the stalled ones hold no transaction (a write goes through).
func TestAuditExportInBatches(t *testing.T) {
	f := newFixture(t)
	err := f.store.Update(ctx, func(tx hoist.Tx) error {
		for i := range 2500 {
			if _, err := tx.AppendAudit(ctx, hoist.AuditEvent{Actor: "t", Action: "test.filler", Subject: fmt.Sprint(i)}, f.clock.Now()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if _, err := f.svc.ExportAudit(ctx, f.auditor, hoist.AuditFilter{}, nil, &out, nil); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	rep, _ := f.svc.VerifyAudit(ctx, f.auditor)
	if int64(len(lines)) != rep.Records {
		t.Fatalf("exported %d lines of %d records", len(lines), rep.Records)
	}
	for i, l := range lines {
		var r hoist.AuditRecord
		if err := json.Unmarshal([]byte(l), &r); err != nil || r.Seq != int64(i+1) {
			t.Fatalf("line %d: seq %d, %v", i+1, r.Seq, err)
		}
	}
	stall := blockingWriter{entered: make(chan struct{}, 10), release: make(chan struct{})}
	done := make(chan error, 2)
	for range 2 {
		go func() {
			_, err := f.svc.ExportAudit(ctx, f.auditor, hoist.AuditFilter{}, nil, stall, nil)
			done <- err
		}()
	}
	<-stall.entered
	<-stall.entered
	if _, err := f.svc.ExportAudit(ctx, f.auditor, hoist.AuditFilter{}, nil, io.Discard, nil); hoist.ErrorCode(err) != hoist.ERateLimited {
		t.Fatalf("a third export ran beside two stalled ones: %v", err)
	}
	// The stalled exports hold no transaction: an approval still goes through.
	wctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if _, _, err := f.svc.CreateRequest(wctx, control.RequestInput{User: "alice", Host: "ws-01", Reason: "x", Duration: time.Hour}); err != nil {
		t.Fatalf("a write while exports stall: %v", err)
	}
	close(stall.release) // (entered has room for the writes that follow)
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

// TestLoginThrottlePerSource: a guesser trying many accounts from one
// address is slowed down after twenty failures, even for a right password;
// another address is not, and the wait passes.
func TestLoginThrottlePerSource(t *testing.T) {
	f := newFixture(t)
	for i := range 20 {
		if _, _, _, err := f.svc.Login(ctx, fmt.Sprintf("user%d", i), "some guess here", "203.0.113.7"); hoist.ErrorCode(err) != hoist.EUnauthorized {
			t.Fatalf("guess %d: %v", i, err)
		}
	}
	if _, _, _, err := f.svc.Login(ctx, "admin", "correct horse battery staple", "203.0.113.7"); hoist.ErrorCode(err) != hoist.ERateLimited {
		t.Fatalf("after 20 failures from one address, a login from it: %v", err)
	}
	if _, _, _, err := f.svc.Login(ctx, "admin", "correct horse battery staple", "198.51.100.1"); err != nil {
		t.Fatalf("another address was slowed down: %v", err)
	}
	f.clock.Add(2 * time.Second)
	if _, _, _, err := f.svc.Login(ctx, "admin", "correct horse battery staple", "203.0.113.7"); err != nil {
		t.Fatalf("after the wait: %v", err)
	}
}

// TestAgentCancelRequest: a user's waiting request is withdrawn only
// through the agent that filed it, and only that user's.
func TestAgentCancelRequest(t *testing.T) {
	f := newFixture(t)
	r, _, err := f.svc.CreateRequest(ctx, control.RequestInput{User: "alice", Host: "ws-01", Agent: "agt_aaaaaaaaaaaaaaaa", Reason: "x", Duration: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	other := hoist.AgentRecord{ID: "agt_bbbbbbbbbbbbbbbb", Hostname: "ws-01"}
	if _, err := f.svc.AgentCancelRequest(ctx, other, "alice"); hoist.ErrorCode(err) != hoist.ENotFound {
		t.Fatalf("another agent withdrew the request: %v", err)
	}
	mine := hoist.AgentRecord{ID: "agt_aaaaaaaaaaaaaaaa", Hostname: "ws-01"}
	if _, err := f.svc.AgentCancelRequest(ctx, mine, ""); hoist.ErrorCode(err) != hoist.EInvalid {
		t.Fatalf("withdrawal for no user: %v", err)
	}
	if _, err := f.svc.AgentCancelRequest(ctx, mine, "bob"); hoist.ErrorCode(err) != hoist.ENotFound {
		t.Fatalf("another user's withdrawal: %v", err)
	}
	got, err := f.svc.AgentCancelRequest(ctx, mine, "alice")
	if err != nil || got.ID != r.ID || got.State != hoist.RequestCancelled {
		t.Fatalf("withdraw: %+v, %v", got, err)
	}
	if _, err := f.svc.AgentCancelRequest(ctx, mine, "alice"); hoist.ErrorCode(err) != hoist.ENotFound {
		t.Fatalf("a second withdrawal: %v", err)
	}
}
