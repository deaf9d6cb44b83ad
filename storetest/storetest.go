// Package storetest is the conformance suite every hoist.Store must pass. The
// sqlite and postgres packages run it against a real database.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
)

// Backend is what the suite needs of a store implementation.
type Backend struct {
	// Open returns a new, empty store for t and closes it when t ends.
	Open func(t *testing.T) hoist.Store
	// Exec runs one raw SQL statement against s's database over a connection
	// of its own, as someone with the database file or superuser access could.
	Exec func(t *testing.T, s hoist.Store, statement string) error
	// DropGuards are the statements that remove the append-only triggers.
	DropGuards []string
}

// Run runs the whole suite.
func Run(t *testing.T, b Backend) {
	open := b.Open
	t.Run("RequestRoundTrip", func(t *testing.T) { testRequestRoundTrip(t, open(t)) })
	t.Run("OneOpenRequestPerUserAndHost", func(t *testing.T) { testOneOpenRequest(t, open(t)) })
	t.Run("StaleUpdateConflicts", func(t *testing.T) { testStaleUpdate(t, open(t)) })
	t.Run("ConcurrentDecisionsOneWins", func(t *testing.T) { testConcurrentDecisions(t, open(t)) })
	t.Run("Filters", func(t *testing.T) { testFilters(t, open(t)) })
	t.Run("Sessions", func(t *testing.T) { testSessions(t, open(t)) })
	t.Run("Admins", func(t *testing.T) { testAdmins(t, open(t)) })
	t.Run("AdminIdentities", func(t *testing.T) { testAdminIdentities(t, open(t)) })
	t.Run("Tokens", func(t *testing.T) { testTokens(t, open(t)) })
	t.Run("RelaxedDurability", func(t *testing.T) { testRelaxedDurability(t, open(t)) })
	t.Run("RollbackKeepsNothing", func(t *testing.T) { testRollback(t, open(t)) })
	t.Run("Agents", func(t *testing.T) { testAgents(t, open(t)) })
	t.Run("EnrollTokens", func(t *testing.T) { testEnrollTokens(t, open(t)) })
	t.Run("AgentEvents", func(t *testing.T) { testAgentEvents(t, open(t)) })
	t.Run("Broadcasts", func(t *testing.T) { testBroadcasts(t, open(t)) })
	t.Run("Policies", func(t *testing.T) { testPolicies(t, open(t)) })
	t.Run("Groups", func(t *testing.T) { testGroups(t, open(t)) })
	t.Run("ReadsInTransaction", func(t *testing.T) { testReadsInTransaction(t, open(t)) })
	t.Run("ReadsOutsideTransaction", func(t *testing.T) { testReadsOutsideTransaction(t, open(t)) })
	t.Run("AuditChain", func(t *testing.T) { testAuditChain(t, open(t)) })
	t.Run("AuditConcurrentAppends", func(t *testing.T) { testAuditConcurrent(t, open(t)) })
	t.Run("AuditAppendOnly", func(t *testing.T) { testAuditAppendOnly(t, b) })
	t.Run("AuditTamperDetected", func(t *testing.T) { testAuditTamper(t, b) })
	t.Run("LoginCounters", func(t *testing.T) { testLoginCounters(t, open(t)) })
	t.Run("Integrations", func(t *testing.T) { testIntegrations(t, open(t)) })
	t.Run("Recordings", func(t *testing.T) { testRecordings(t, open(t)) })
	t.Run("AuditTimeAndPrefix", func(t *testing.T) { testAuditTimeAndPrefix(t, open(t)) })
	t.Run("OfflineKeys", func(t *testing.T) { testOfflineKeys(t, open(t)) })
	t.Run("EmergencyCodes", func(t *testing.T) { testEmergencyCodes(t, open(t)) })
	t.Run("SSOLogins", func(t *testing.T) { testSSOLogins(t, open(t)) })
	t.Run("SSOIdentities", func(t *testing.T) { testSSOIdentities(t, open(t)) })
	t.Run("Passkeys", func(t *testing.T) { testPasskeys(t, open(t)) })
	t.Run("TOTP", func(t *testing.T) { testTOTP(t, open(t)) })
	t.Run("AuditSealedAfterCommit", func(t *testing.T) { testSealAfterCommit(t, open(t)) })
	t.Run("SessionCommands", func(t *testing.T) { testSessionCommands(t, open(t)) })
}

var t0 = time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)

func ctx() context.Context { return context.Background() }

func newRequest(t *testing.T, user, host string, now time.Time) hoist.Request {
	t.Helper()
	r, err := hoist.NewRequest(user, host, "", "fix the printer driver", 45*time.Minute, hoist.DefaultApprovalSettings(), now)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func insert(t *testing.T, s hoist.Store, rs ...hoist.Request) {
	t.Helper()
	err := s.Update(ctx(), func(tx hoist.Tx) error {
		for _, r := range rs {
			if err := tx.InsertRequest(ctx(), r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("insert: %v", err)
	}
}

func getRequest(t *testing.T, s hoist.Store, id string) (r hoist.Request, err error) {
	t.Helper()
	err = s.View(ctx(), func(tx hoist.Tx) error {
		r, err = tx.Request(ctx(), id)
		return err
	})
	return r, err
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := hoist.ErrorCode(err); got != code {
		t.Fatalf("error code = %q (%v), want %q", got, err, code)
	}
}

func testRequestRoundTrip(t *testing.T, s hoist.Store) {
	r := newRequest(t, "alice", "ws-01", t0)
	insert(t, s, r)
	got, err := getRequest(t, s, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != r.ID || got.User != "alice" || got.Host != "ws-01" || got.State != hoist.RequestPending ||
		got.RequestedDuration != 45*time.Minute || !got.CreatedAt.Equal(t0) || len(got.History) != 1 {
		t.Fatalf("round trip changed the request:\n got %+v\nwant %+v", got, r)
	}
	_, err = getRequest(t, s, "req_doesnotexist00000")
	wantCode(t, err, hoist.ENotFound)
}

func testOneOpenRequest(t *testing.T, s hoist.Store) {
	first := newRequest(t, "alice", "ws-01", t0)
	insert(t, s, first)
	err := s.Update(ctx(), func(tx hoist.Tx) error { return tx.InsertRequest(ctx(), newRequest(t, "alice", "ws-01", t0)) })
	wantCode(t, err, hoist.EConflict)
	// Another machine, or another user, may ask at the same time.
	insert(t, s, newRequest(t, "alice", "ws-02", t0), newRequest(t, "bob", "ws-01", t0))
	// Once the first is decided, alice may ask again on ws-01.
	denied, err := first.Deny("carol", "not now", hoist.DefaultApprovalSettings(), t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx(), func(tx hoist.Tx) error { return tx.UpdateRequest(ctx(), denied) }); err != nil {
		t.Fatal(err)
	}
	insert(t, s, newRequest(t, "alice", "ws-01", t0.Add(2*time.Minute)))

	// With agents, one open request per user per agent: another agent
	// calling itself ws-01 does not take the real one's slot.
	onAgent := func(host, agent string) hoist.Request {
		r, err := hoist.NewRequest("erin", host, agent, "fix the printer driver", 45*time.Minute, hoist.DefaultApprovalSettings(), t0)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	realAgent, squatter := hoist.NewID(hoist.AgentIDPrefix), hoist.NewID(hoist.AgentIDPrefix)
	insert(t, s, onAgent("ws-01", squatter), onAgent("ws-01", realAgent))
	err = s.Update(ctx(), func(tx hoist.Tx) error { return tx.InsertRequest(ctx(), onAgent("ws-01-renamed", realAgent)) })
	wantCode(t, err, hoist.EConflict)
	var open []hoist.Request
	if err := s.View(ctx(), func(tx hoist.Tx) (err error) {
		open, err = tx.Requests(ctx(), hoist.RequestFilter{User: "erin", Agent: realAgent, State: hoist.RequestPending})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(open) != 1 || open[0].Agent != realAgent {
		t.Errorf("erin's open requests on agent %s: %+v, want the one", realAgent, open)
	}
}

func testStaleUpdate(t *testing.T, s hoist.Store) {
	r := newRequest(t, "alice", "ws-01", t0)
	insert(t, s, r)
	set := hoist.DefaultApprovalSettings()
	approved, _, err := r.Approve(hoist.Approval{Approver: "carol", Duration: time.Hour}, set, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	denied, err := r.Deny("dave", "no", set, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx(), func(tx hoist.Tx) error { return tx.UpdateRequest(ctx(), approved) }); err != nil {
		t.Fatal(err)
	}
	err = s.Update(ctx(), func(tx hoist.Tx) error { return tx.UpdateRequest(ctx(), denied) })
	wantCode(t, err, hoist.EConflict)
	got, _ := getRequest(t, s, r.ID)
	if got.State != hoist.RequestApproved || got.DecidedBy != "carol" {
		t.Fatalf("state = %s by %s, want approved by carol", got.State, got.DecidedBy)
	}
}

// testConcurrentDecisions has many approvers decide one request at the same
// moment, each in a transaction that reads, decides and writes, as the
// control service does: exactly one wins, the others get EConflict.
func testConcurrentDecisions(t *testing.T, s hoist.Store) {
	r := newRequest(t, "alice", "ws-01", t0)
	insert(t, s, r)
	const approvers = 8
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		errs  = make([]error, approvers)
	)
	for i := range approvers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = s.Update(ctx(), func(tx hoist.Tx) error {
				cur, err := tx.Request(ctx(), r.ID)
				if err != nil {
					return err
				}
				next, sess, err := cur.Approve(hoist.Approval{Approver: fmt.Sprintf("approver%d", i), Duration: time.Hour}, hoist.DefaultApprovalSettings(), t0.Add(time.Minute))
				if err != nil {
					return err
				}
				if err := tx.UpdateRequest(ctx(), next); err != nil {
					return err
				}
				if err := tx.InsertSession(ctx(), sess); err != nil {
					return err
				}
				_, err = tx.AppendAudit(ctx(), hoist.AuditEvent{Actor: next.DecidedBy, Action: hoist.AuditRequestApproved, Subject: r.ID}, t0)
				return err
			})
		}()
	}
	close(start)
	wg.Wait()
	wins := 0
	for _, err := range errs {
		switch hoist.ErrorCode(err) {
		case "":
			wins++
		case hoist.EConflict:
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d approvers won, want exactly 1 (errors: %v)", wins, errs)
	}
	var sessions []hoist.Session
	_ = s.View(ctx(), func(tx hoist.Tx) (err error) {
		sessions, err = tx.Sessions(ctx(), hoist.SessionFilter{})
		return err
	})
	if len(sessions) != 1 {
		t.Fatalf("%d sessions, want 1", len(sessions))
	}
	verifyChain(t, s, 1)
}

func testFilters(t *testing.T, s hoist.Store) {
	a := newRequest(t, "alice", "ws-01", t0)
	b := newRequest(t, "bob", "ws-02", t0.Add(time.Second))
	c := newRequest(t, "alice", "ws-03", t0.Add(2*time.Second))
	insert(t, s, a, b, c)
	cases := []struct {
		name string
		f    hoist.RequestFilter
		want []string
	}{
		{"all newest first", hoist.RequestFilter{}, []string{c.ID, b.ID, a.ID}},
		{"by user", hoist.RequestFilter{User: "alice"}, []string{c.ID, a.ID}},
		{"by host", hoist.RequestFilter{Host: "ws-02"}, []string{b.ID}},
		{"by ids", hoist.RequestFilter{IDs: []string{a.ID, b.ID}}, []string{b.ID, a.ID}},
		{"limit", hoist.RequestFilter{Limit: 1}, []string{c.ID}},
		{"state", hoist.RequestFilter{State: hoist.RequestDenied}, nil},
		{"pending before", hoist.RequestFilter{PendingBefore: a.ExpiresAt.Add(1500 * time.Millisecond)}, []string{b.ID, a.ID}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got []hoist.Request
			err := s.View(ctx(), func(tx hoist.Tx) (err error) {
				got, err = tx.Requests(ctx(), tc.f)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, r := range got {
				ids = append(ids, r.ID)
			}
			if fmt.Sprint(ids) != fmt.Sprint(tc.want) {
				t.Fatalf("got %v, want %v", ids, tc.want)
			}
		})
	}
}

func testSessions(t *testing.T, s hoist.Store) {
	r := newRequest(t, "alice", "ws-01", t0)
	insert(t, s, r)
	approved, sess, err := r.Approve(hoist.Approval{Approver: "carol", Duration: time.Hour}, hoist.DefaultApprovalSettings(), t0)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Update(ctx(), func(tx hoist.Tx) error {
		if err := tx.UpdateRequest(ctx(), approved); err != nil {
			return err
		}
		return tx.InsertSession(ctx(), sess)
	})
	if err != nil {
		t.Fatal(err)
	}
	var active, due []hoist.Session
	_ = s.View(ctx(), func(tx hoist.Tx) error {
		active, _ = tx.Sessions(ctx(), hoist.SessionFilter{State: hoist.SessionActive})
		due, _ = tx.Sessions(ctx(), hoist.SessionFilter{State: hoist.SessionActive, EndsBefore: t0.Add(2 * time.Hour)})
		return nil
	})
	if len(active) != 1 || active[0].ID != sess.ID || !active[0].NotAfter.Equal(t0.Add(time.Hour)) || len(due) != 1 {
		t.Fatalf("active = %+v, due = %d", active, len(due))
	}
	ended, err := sess.End(hoist.EndRevoked, "carol", "done", t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx(), func(tx hoist.Tx) error { return tx.UpdateSession(ctx(), ended) }); err != nil {
		t.Fatal(err)
	}
	err = s.Update(ctx(), func(tx hoist.Tx) error { return tx.UpdateSession(ctx(), ended) })
	wantCode(t, err, hoist.EConflict)
	var got hoist.Session
	_ = s.View(ctx(), func(tx hoist.Tx) (err error) { got, err = tx.Session(ctx(), sess.ID); return err })
	if got.State != hoist.SessionEnded || got.EndReason != hoist.EndRevoked || len(got.History) != 2 {
		t.Fatalf("session after end = %+v", got)
	}
}

func testAdmins(t *testing.T, s hoist.Store) {
	a := hoist.Admin{ID: hoist.NewID(hoist.AdminIDPrefix), Name: "carol", Role: hoist.RoleApprover, PasswordHash: "h1", CreatedAt: t0}
	if err := s.Update(ctx(), func(tx hoist.Tx) error { return tx.InsertAdmin(ctx(), a) }); err != nil {
		t.Fatal(err)
	}
	dup := a
	dup.ID = hoist.NewID(hoist.AdminIDPrefix)
	wantCode(t, s.Update(ctx(), func(tx hoist.Tx) error { return tx.InsertAdmin(ctx(), dup) }), hoist.EConflict)
	a.Role, a.PasswordHash, a.FailedLogins, a.LastFailedLogin = hoist.RoleAuditor, "h2", 3, t0.Add(time.Minute)
	if err := s.Update(ctx(), func(tx hoist.Tx) error { return tx.UpdateAdmin(ctx(), a) }); err != nil {
		t.Fatal(err)
	}
	var got hoist.Admin
	_ = s.View(ctx(), func(tx hoist.Tx) (err error) { got, err = tx.AdminByName(ctx(), "carol"); return err })
	if got.Role != hoist.RoleAuditor || got.PasswordHash != "h2" || got.FailedLogins != 3 || !got.LastFailedLogin.Equal(t0.Add(time.Minute)) {
		t.Fatalf("admin = %+v", got)
	}
	tok := hoist.Token{Hash: "abc", AdminID: a.ID, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	if err := s.Update(ctx(), func(tx hoist.Tx) error { return tx.InsertToken(ctx(), tok) }); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx(), func(tx hoist.Tx) error { return tx.DeleteAdmin(ctx(), a.ID) }); err != nil {
		t.Fatal(err)
	}
	err := s.View(ctx(), func(tx hoist.Tx) error { _, err := tx.Token(ctx(), "abc"); return err })
	wantCode(t, err, hoist.ENotFound)
	err = s.View(ctx(), func(tx hoist.Tx) error { _, err := tx.AdminByName(ctx(), "carol"); return err })
	wantCode(t, err, hoist.ENotFound)
}

// testAdminIdentities: an account's Unix names and approver groups are kept
// in order through insert and update, and an account without them reads
// back as empty lists, not nil.
func testAdminIdentities(t *testing.T, s hoist.Store) {
	plain := hoist.Admin{ID: hoist.NewID(hoist.AdminIDPrefix), Name: "plain", Role: hoist.RoleApprover, PasswordHash: "h", CreatedAt: t0}
	mapped := hoist.Admin{ID: hoist.NewID(hoist.AdminIDPrefix), Name: "rt1-adm", Role: hoist.RoleApprover, PasswordHash: "h", CreatedAt: t0,
		UnixNames: []string{"rt1", "rt1-build"}, ApproverGroups: []string{"Web servers"}}
	if err := s.Update(ctx(), func(tx hoist.Tx) error {
		return errors.Join(tx.InsertAdmin(ctx(), plain), tx.InsertAdmin(ctx(), mapped))
	}); err != nil {
		t.Fatal(err)
	}
	read := func(name string) hoist.Admin {
		t.Helper()
		var a hoist.Admin
		if err := s.View(ctx(), func(tx hoist.Tx) (err error) { a, err = tx.AdminByName(ctx(), name); return err }); err != nil {
			t.Fatal(err)
		}
		return a
	}
	if got := read("plain"); got.UnixNames == nil || len(got.UnixNames) != 0 || got.ApproverGroups == nil || len(got.ApproverGroups) != 0 {
		t.Errorf("plain account: unix names %#v, groups %#v, want empty lists", got.UnixNames, got.ApproverGroups)
	}
	got := read("rt1-adm")
	if !slices.Equal(got.UnixNames, mapped.UnixNames) || !slices.Equal(got.ApproverGroups, mapped.ApproverGroups) {
		t.Errorf("mapped account: unix names %v, groups %v, want %v, %v", got.UnixNames, got.ApproverGroups, mapped.UnixNames, mapped.ApproverGroups)
	}
	got.UnixNames, got.ApproverGroups = []string{"rt2"}, nil
	if err := s.Update(ctx(), func(tx hoist.Tx) error { return tx.UpdateAdmin(ctx(), got) }); err != nil {
		t.Fatal(err)
	}
	if again := read("rt1-adm"); !slices.Equal(again.UnixNames, []string{"rt2"}) || len(again.ApproverGroups) != 0 {
		t.Errorf("after update: unix names %v, groups %v, want [rt2], []", again.UnixNames, again.ApproverGroups)
	}
	var all []hoist.Admin
	if err := s.View(ctx(), func(tx hoist.Tx) (err error) { all, err = tx.Admins(ctx()); return err }); err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || !slices.Equal(all[1].UnixNames, []string{"rt2"}) {
		t.Errorf("Admins = %+v, want plain and rt1-adm with [rt2]", all)
	}
}

func testTokens(t *testing.T, s hoist.Store) {
	a := hoist.Admin{ID: hoist.NewID(hoist.AdminIDPrefix), Name: "admin", Role: hoist.RoleAdmin, PasswordHash: "h", CreatedAt: t0}
	live := hoist.Token{Hash: "live", AdminID: a.ID, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	old := hoist.Token{Hash: "old", AdminID: a.ID, CreatedAt: t0, ExpiresAt: t0.Add(time.Minute)}
	err := s.Update(ctx(), func(tx hoist.Tx) error {
		return errors.Join(tx.InsertAdmin(ctx(), a), tx.InsertToken(ctx(), live), tx.InsertToken(ctx(), old),
			tx.DeleteExpiredTokens(ctx(), t0.Add(30*time.Minute)))
	})
	if err != nil {
		t.Fatal(err)
	}
	err = s.View(ctx(), func(tx hoist.Tx) error {
		got, err := tx.Token(ctx(), "live")
		if err != nil || got.AdminID != a.ID || !got.ExpiresAt.Equal(live.ExpiresAt) {
			return fmt.Errorf("live token = %+v, %v", got, err)
		}
		if _, err := tx.Token(ctx(), "old"); hoist.ErrorCode(err) != hoist.ENotFound {
			return fmt.Errorf("expired token still there: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	later := t0.Add(2 * time.Hour)
	if err := s.Update(ctx(), func(tx hoist.Tx) error { return tx.ExtendToken(ctx(), "live", later) }); err != nil {
		t.Fatal(err)
	}
	_ = s.View(ctx(), func(tx hoist.Tx) error {
		if got, err := tx.Token(ctx(), "live"); err != nil || !got.ExpiresAt.Equal(later) {
			t.Errorf("extended token = %+v, %v; want it to expire at %v", got, err, later)
		}
		return nil
	})
	wantCode(t, s.Update(ctx(), func(tx hoist.Tx) error { return tx.ExtendToken(ctx(), "old", later) }), hoist.ENotFound)
	if err := s.Update(ctx(), func(tx hoist.Tx) error { return tx.DeleteToken(ctx(), "live") }); err != nil {
		t.Fatal(err)
	}
	wantCode(t, s.View(ctx(), func(tx hoist.Tx) error { _, err := tx.Token(ctx(), "live"); return err }), hoist.ENotFound)
}

func testRollback(t *testing.T, s hoist.Store) {
	r := newRequest(t, "alice", "ws-01", t0)
	boom := errors.New("boom")
	err := s.Update(ctx(), func(tx hoist.Tx) error {
		if err := tx.InsertRequest(ctx(), r); err != nil {
			return err
		}
		if _, err := tx.AppendAudit(ctx(), hoist.AuditEvent{Actor: "alice", Action: hoist.AuditRequestCreated, Subject: r.ID}, t0); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update returned %v, want boom", err)
	}
	_, err = getRequest(t, s, r.ID)
	wantCode(t, err, hoist.ENotFound)
	verifyChain(t, s, 0)
}

func appendN(t *testing.T, s hoist.Store, n int) {
	t.Helper()
	for i := range n {
		err := s.Update(ctx(), func(tx hoist.Tx) error {
			_, err := tx.AppendAudit(ctx(), hoist.AuditEvent{Actor: "alice", Action: hoist.AuditRequestCreated,
				Subject: fmt.Sprintf("req_%d", i), Detail: map[string]any{"n": i, "reason": "ünïcode ✓", "z": 1, "a": 2}}, t0.Add(time.Duration(i)*time.Second+123456789))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// verifyChain checks the whole log and that it holds want records.
func verifyChain(t *testing.T, s hoist.Store, want int64) {
	t.Helper()
	if err := Verify(s); err != nil {
		t.Fatalf("verify: %v", err)
	}
	var n int64
	_ = s.View(ctx(), func(tx hoist.Tx) error {
		return tx.Audit(ctx(), hoist.AuditFilter{}, func(hoist.AuditRecord) error { n++; return nil })
	})
	if n != want {
		t.Fatalf("%d audit records, want %d", n, want)
	}
}

// Verify checks the store's audit chain end to end, including its head.
func Verify(s hoist.Store) error {
	return s.View(ctx(), func(tx hoist.Tx) error {
		v := hoist.NewChainVerifier()
		if err := tx.Audit(ctx(), hoist.AuditFilter{}, v.Next); err != nil {
			return err
		}
		seq, hash, err := tx.AuditHead(ctx())
		if err != nil {
			return err
		}
		if gotSeq, gotHash := v.Head(); gotSeq != seq || gotHash != hash {
			return fmt.Errorf("the log ends at record %d but its head names record %d", gotSeq, seq)
		}
		return nil
	})
}

func testAuditChain(t *testing.T, s hoist.Store) {
	appendN(t, s, 20)
	verifyChain(t, s, 20)
	var recs []hoist.AuditRecord
	_ = s.View(ctx(), func(tx hoist.Tx) error {
		return tx.Audit(ctx(), hoist.AuditFilter{AfterSeq: 5, Subject: "req_7", Limit: 10}, func(r hoist.AuditRecord) error {
			recs = append(recs, r)
			return nil
		})
	})
	if len(recs) != 1 || recs[0].Seq != 8 || string(recs[0].Detail) != `{"a":2,"n":7,"reason":"ünïcode ✓","z":1}` {
		t.Fatalf("filtered audit = %+v", recs)
	}
	// The console's page: newest first, before a sequence number.
	var seqs []int64
	_ = s.View(ctx(), func(tx hoist.Tx) error {
		return tx.Audit(ctx(), hoist.AuditFilter{BeforeSeq: 15, Newest: true, Limit: 3}, func(r hoist.AuditRecord) error {
			seqs = append(seqs, r.Seq)
			return nil
		})
	})
	if !slices.Equal(seqs, []int64{14, 13, 12}) {
		t.Fatalf("newest 3 before 15 = %v, want [14 13 12]", seqs)
	}
}

func testAuditConcurrent(t *testing.T, s hoist.Store) {
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				for {
					err := s.Update(ctx(), func(tx hoist.Tx) error {
						_, err := tx.AppendAudit(ctx(), hoist.AuditEvent{Actor: "x", Action: "test"}, t0)
						return err
					})
					if hoist.ErrorCode(err) == hoist.EConflict {
						continue // a race lost cleanly may be retried
					}
					if err != nil {
						errs <- err
					}
					break
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	verifyChain(t, s, 40)
}

func testAuditAppendOnly(t *testing.T, b Backend) {
	s := b.Open(t)
	appendN(t, s, 3)
	// Even with direct access to the database, history cannot be rewritten
	// while the guards stand.
	for _, q := range []string{
		`UPDATE audit SET actor = 'mallory' WHERE seq = 2`,
		`DELETE FROM audit WHERE seq = 3`,
		`UPDATE audit_head SET seq = 1`,
	} {
		if err := b.Exec(t, s, q); err == nil {
			t.Errorf("%s: allowed, want refused", q)
		}
	}
	verifyChain(t, s, 3)
}

func testAuditTamper(t *testing.T, b Backend) {
	cases := []struct {
		name  string
		stmts []string
	}{
		{"changed", []string{`UPDATE audit SET actor = 'mallory' WHERE seq = 5`}},
		{"detail changed", []string{`UPDATE audit SET detail = '{"n":4}' WHERE seq = 5`}},
		{"removed", []string{`DELETE FROM audit WHERE seq = 5`}},
		{"removed at the end", []string{`DELETE FROM audit WHERE seq = 10`}},
		{"reordered", []string{
			`UPDATE audit SET seq = 100 WHERE seq = 4`,
			`UPDATE audit SET seq = 4 WHERE seq = 5`,
			`UPDATE audit SET seq = 5 WHERE seq = 100`,
		}},
		{"rehashed", []string{`UPDATE audit SET actor = 'mallory', hash = '` + GenesisLike + `' WHERE seq = 5`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := b.Open(t)
			appendN(t, s, 10)
			verifyChain(t, s, 10)
			for _, q := range append(append([]string(nil), b.DropGuards...), tc.stmts...) {
				if err := b.Exec(t, s, q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			if err := Verify(s); err == nil {
				t.Fatal("verify passed after tampering")
			}
		})
	}
}

// GenesisLike is a well-formed hash that matches no record.
const GenesisLike = "1111111111111111111111111111111111111111111111111111111111111111"

func testAgents(t *testing.T, s hoist.Store) {
	a := hoist.AgentRecord{ID: hoist.NewID(hoist.AgentIDPrefix), Hostname: "ws-01", Version: "0.1.0", EnrolledAt: t0, LastSeen: t0}
	if err := s.Update(ctx(), func(tx hoist.Tx) error { return tx.InsertAgent(ctx(), a) }); err != nil {
		t.Fatal(err)
	}
	a.Revoked, a.LastSeen = true, t0.Add(time.Minute)
	if err := s.Update(ctx(), func(tx hoist.Tx) error { return tx.UpdateAgent(ctx(), a) }); err != nil {
		t.Fatal(err)
	}
	var got hoist.AgentRecord
	var all []hoist.AgentRecord
	_ = s.View(ctx(), func(tx hoist.Tx) (err error) {
		if got, err = tx.AgentByID(ctx(), a.ID); err != nil {
			return err
		}
		all, err = tx.Agents(ctx())
		return err
	})
	if !got.Revoked || got.Hostname != "ws-01" || !got.LastSeen.Equal(a.LastSeen) || len(all) != 1 {
		t.Fatalf("agent = %+v, all = %d", got, len(all))
	}
	wantCode(t, s.View(ctx(), func(tx hoist.Tx) error { _, err := tx.AgentByID(ctx(), "agt_nope"); return err }), hoist.ENotFound)
}

func testEnrollTokens(t *testing.T, s hoist.Store) {
	err := s.Update(ctx(), func(tx hoist.Tx) error {
		return errors.Join(
			tx.InsertEnrollToken(ctx(), hoist.EnrollToken{Hash: "twice", Group: "devs", UsesLeft: 2, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}),
			tx.InsertEnrollToken(ctx(), hoist.EnrollToken{Hash: "old", UsesLeft: 1, CreatedAt: t0, ExpiresAt: t0.Add(time.Minute)}))
	})
	if err != nil {
		t.Fatal(err)
	}
	use := func(hash string, at time.Time) error {
		return s.Update(ctx(), func(tx hoist.Tx) error { return tx.SpendEnrollToken(ctx(), hash, at) })
	}
	left := func(hash string) int {
		t.Helper()
		var tok hoist.EnrollToken
		if err := s.View(ctx(), func(tx hoist.Tx) (err error) { tok, err = tx.EnrollToken(ctx(), hash); return err }); err != nil {
			t.Fatal(err)
		}
		if tok.Group != "devs" || !tok.ExpiresAt.Equal(t0.Add(time.Hour)) {
			t.Fatalf("token read back as %+v", tok)
		}
		return tok.UsesLeft
	}
	for i := range 2 {
		if got, want := left("twice"), 2-i; got != want {
			t.Fatalf("uses left before use %d = %d, want %d", i, got, want)
		}
		if err := use("twice", t0); err != nil {
			t.Fatalf("use %d: %v", i, err)
		}
	}
	if got := left("twice"); got != 0 {
		t.Fatalf("uses left after both = %d, want 0", got)
	}
	wantCode(t, use("twice", t0), hoist.ENotFound)
	wantCode(t, s.View(ctx(), func(tx hoist.Tx) error { _, err := tx.EnrollToken(ctx(), "unknown"); return err }), hoist.ENotFound)
	wantCode(t, use("old", t0.Add(time.Hour)), hoist.ENotFound)
	wantCode(t, use("unknown", t0), hoist.ENotFound)
}

func testAgentEvents(t *testing.T, s hoist.Store) {
	var seqs []int64
	err := s.Update(ctx(), func(tx hoist.Tx) error {
		for i, agent := range []string{"agt_a", "agt_b", "agt_a"} {
			seq, err := tx.AppendAgentEvent(ctx(), hoist.AgentEvent{AgentID: agent, Kind: hoist.AgentEventApproved, RequestID: fmt.Sprint("req_", i), CreatedAt: t0})
			if err != nil {
				return err
			}
			seqs = append(seqs, seq)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !(seqs[0] < seqs[1] && seqs[1] < seqs[2]) {
		t.Fatalf("sequence numbers %v do not grow", seqs)
	}
	var evs []hoist.AgentEvent
	_ = s.View(ctx(), func(tx hoist.Tx) (err error) { evs, err = tx.AgentEvents(ctx(), "agt_a", 0, 0); return err })
	if len(evs) != 2 || evs[0].RequestID != "req_0" || evs[1].RequestID != "req_2" || evs[1].Seq != seqs[2] {
		t.Fatalf("events of agt_a = %+v", evs)
	}
	_ = s.View(ctx(), func(tx hoist.Tx) (err error) { evs, err = tx.AgentEvents(ctx(), "agt_a", seqs[0], 0); return err })
	if len(evs) != 1 || evs[0].Seq != seqs[2] {
		t.Fatalf("events after %d = %+v", seqs[0], evs)
	}
	for i, want := range []bool{true, false} {
		var fresh bool
		err := s.Update(ctx(), func(tx hoist.Tx) (err error) {
			fresh, err = tx.MarkDelivered(ctx(), "evt_1")
			if err != nil {
				return err
			}
			// The transaction must still work after a repeat.
			_, err = tx.AppendAgentEvent(ctx(), hoist.AgentEvent{AgentID: "agt_c", Kind: hoist.AgentEventDenied, CreatedAt: t0})
			return err
		})
		if err != nil || fresh != want {
			t.Fatalf("delivery %d: fresh %v (%v), want %v", i, fresh, err, want)
		}
	}
}

func testBroadcasts(t *testing.T, s hoist.Store) {
	var seqs []int64
	err := s.Update(ctx(), func(tx hoist.Tx) error {
		for _, to := range []string{hoist.AllAgents, "agt_a", hoist.AllAgents, "agt_b"} {
			seq, err := tx.AppendAgentEvent(ctx(), hoist.AgentEvent{AgentID: to, Kind: hoist.AgentEventPolicy, CreatedAt: t0})
			if err != nil {
				return err
			}
			seqs = append(seqs, seq)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var evs []hoist.AgentEvent
	_ = s.View(ctx(), func(tx hoist.Tx) (err error) { evs, err = tx.AgentEvents(ctx(), "agt_a", 0, 0); return err })
	// Its own event, and only the latest broadcast.
	if len(evs) != 2 || evs[0].Seq != seqs[1] || evs[1].Seq != seqs[2] || evs[1].AgentID != hoist.AllAgents {
		t.Fatalf("events of agt_a = %+v (seqs %v)", evs, seqs)
	}
}

func testPolicies(t *testing.T, s hoist.Store) {
	samples := hoist.SamplePolicies(t0)
	err := s.Update(ctx(), func(tx hoist.Tx) error {
		for _, p := range samples {
			if err := tx.InsertPolicy(ctx(), p); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	dup := samples[0]
	dup.ID = hoist.NewID(hoist.PolicyIDPrefix)
	err = s.Update(ctx(), func(tx hoist.Tx) error { return tx.InsertPolicy(ctx(), dup) })
	if hoist.ErrorCode(err) != hoist.EConflict {
		t.Fatalf("a second policy with the same name: %v, want conflict", err)
	}
	var got hoist.Policy
	for _, key := range []string{samples[1].ID, samples[1].Name} {
		err = s.View(ctx(), func(tx hoist.Tx) (err error) { got, err = tx.Policy(ctx(), key); return err })
		if err != nil || got.ID != samples[1].ID || got.Mode == nil || !got.CreatedAt.Equal(t0) {
			t.Fatalf("Policy(%q) = %+v, %v", key, got, err)
		}
	}
	got.Active, got.Version = true, got.Version+1
	if err := s.Update(ctx(), func(tx hoist.Tx) error { return tx.UpdatePolicy(ctx(), got) }); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx(), func(tx hoist.Tx) error { return tx.UpdatePolicy(ctx(), got) }); hoist.ErrorCode(err) != hoist.EConflict {
		t.Fatalf("a stale update: %v, want conflict", err)
	}
	renamed := got
	renamed.Name, renamed.Version = samples[0].Name, got.Version+1
	if err := s.Update(ctx(), func(tx hoist.Tx) error { return tx.UpdatePolicy(ctx(), renamed) }); hoist.ErrorCode(err) != hoist.EConflict {
		t.Fatalf("a rename onto another policy's name: %v, want conflict", err)
	}
	var all []hoist.Policy
	_ = s.View(ctx(), func(tx hoist.Tx) (err error) { all, err = tx.Policies(ctx()); return err })
	if len(all) != 3 || all[0].Name != "JIT Mode" || !all[0].Active {
		t.Fatalf("policies = %+v", all)
	}
	if err := s.Update(ctx(), func(tx hoist.Tx) error { return tx.DeletePolicy(ctx(), got.ID) }); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx(), func(tx hoist.Tx) error { return tx.DeletePolicy(ctx(), got.ID) }); hoist.ErrorCode(err) != hoist.ENotFound {
		t.Fatalf("deleting twice: %v, want not found", err)
	}
	err = s.View(ctx(), func(tx hoist.Tx) (err error) { _, err = tx.Policy(ctx(), got.ID); return err })
	if hoist.ErrorCode(err) != hoist.ENotFound {
		t.Fatalf("a deleted policy: %v", err)
	}
}

func testGroups(t *testing.T, s hoist.Store) {
	yes := true
	g := hoist.ComputerGroup{ID: hoist.NewID(hoist.GroupIDPrefix), Name: "devs", Priority: 5, Rules: hoist.GroupRules{Hostname: "dev-*"},
		Config: hoist.AgentConfig{CreateJITShortcut: &yes}, Version: 1, CreatedAt: t0, UpdatedAt: t0}
	if err := s.Update(ctx(), func(tx hoist.Tx) error { return tx.InsertGroup(ctx(), g) }); err != nil {
		t.Fatal(err)
	}
	same := g
	same.ID = hoist.NewID(hoist.GroupIDPrefix)
	if err := s.Update(ctx(), func(tx hoist.Tx) error { return tx.InsertGroup(ctx(), same) }); hoist.ErrorCode(err) != hoist.EConflict {
		t.Fatalf("a second group named devs: %v", err)
	}
	var got hoist.ComputerGroup
	err := s.View(ctx(), func(tx hoist.Tx) (err error) { got, err = tx.Group(ctx(), "devs"); return err })
	if err != nil || got.ID != g.ID || got.Config.CreateJITShortcut == nil || !*got.Config.CreateJITShortcut || got.Rules.Hostname != "dev-*" {
		t.Fatalf("Group(devs) = %+v, %v", got, err)
	}
	got.Priority, got.Version = 9, 2
	if err := s.Update(ctx(), func(tx hoist.Tx) error { return tx.UpdateGroup(ctx(), got) }); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx(), func(tx hoist.Tx) error { return tx.UpdateGroup(ctx(), got) }); hoist.ErrorCode(err) != hoist.EConflict {
		t.Fatalf("a stale group update: %v", err)
	}
	var all []hoist.ComputerGroup
	_ = s.View(ctx(), func(tx hoist.Tx) (err error) { all, err = tx.Groups(ctx()); return err })
	if len(all) != 1 || all[0].Priority != 9 {
		t.Fatalf("groups = %+v", all)
	}
	if err := s.Update(ctx(), func(tx hoist.Tx) error { return tx.DeleteGroup(ctx(), g.ID) }); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx(), func(tx hoist.Tx) error { return tx.DeleteGroup(ctx(), g.ID) }); hoist.ErrorCode(err) != hoist.ENotFound {
		t.Fatalf("deleting a group twice: %v", err)
	}
}

// testRelaxedDurability: a transaction that does not wait for the disk
// still commits, and one that fails still rolls back.
func testRelaxedDurability(t *testing.T, s hoist.Store) {
	a := hoist.Admin{ID: hoist.NewID(hoist.AdminIDPrefix), Name: "relaxed", Role: hoist.RoleAdmin, PasswordHash: "h", CreatedAt: t0}
	err := s.Update(ctx(), func(tx hoist.Tx) error {
		return errors.Join(tx.RelaxDurability(ctx()), tx.InsertAdmin(ctx(), a))
	})
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	b := hoist.Admin{ID: hoist.NewID(hoist.AdminIDPrefix), Name: "rolled", Role: hoist.RoleAdmin, PasswordHash: "h", CreatedAt: t0}
	if err := s.Update(ctx(), func(tx hoist.Tx) error {
		return errors.Join(tx.RelaxDurability(ctx()), tx.InsertAdmin(ctx(), b), boom)
	}); !errors.Is(err, boom) {
		t.Fatalf("failing relaxed transaction: %v", err)
	}
	_ = s.View(ctx(), func(tx hoist.Tx) error {
		if _, err := tx.AdminByName(ctx(), "relaxed"); err != nil {
			t.Errorf("the relaxed write is not there: %v", err)
		}
		if _, err := tx.AdminByName(ctx(), "rolled"); hoist.ErrorCode(err) != hoist.ENotFound {
			t.Errorf("the failed relaxed write is there: %v", err)
		}
		return nil
	})
}
