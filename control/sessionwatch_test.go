package control_test

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/control"
	"github.com/hoist-jit/hoist/pgtest"
	"github.com/hoist-jit/hoist/testenv"
	"github.com/hoist-jit/hoist/wire"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// grantSigner signs grants and nothing else: these tests enrol no agent.
type grantSigner struct{ key ed25519.PrivateKey }

func (g grantSigner) IssueAgentCertificate(crypto.PublicKey, string, time.Time) ([]byte, error) {
	return nil, errors.New("not in these tests")
}
func (g grantSigner) GrantKey() ed25519.PrivateKey { return g.key }
func (g grantSigner) CAPEM() []byte                { return nil }
func (g grantSigner) CAFingerprint() string        { return "" }

// watch is a server on one store with one agent, ws-01, on which alice
// has a session of an hour approved at the start.
type watch struct {
	svc   *control.Service
	store hoist.Store
	clock *testenv.Clock
	agent hoist.AgentRecord
	sess  hoist.Session
}

var watchAdmin = control.Actor{Name: "admin", Role: hoist.RoleAdmin}

// onEachStore runs fn against SQLite and against PostgreSQL.
func onEachStore(t *testing.T, fn func(t *testing.T, w *watch)) {
	eachStore(t, func(t *testing.T, store hoist.Store) { fn(t, newWatch(t, store)) })
}

func newWatch(t *testing.T, store hoist.Store) *watch {
	t.Helper()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	clk := testenv.NewClock(time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC))
	svc, err := control.New(control.Config{Store: store, Settings: hoist.DefaultApprovalSettings(), Clock: clk.Now, Signer: grantSigner{key}})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Seed(ctx); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"JIT Mode (Startup and Approval)", "JIT Mode", "JIT Mode (Child Processes)"} {
		if _, err := svc.SetPolicyActive(ctx, watchAdmin, name, true); err != nil {
			t.Fatal(err)
		}
	}
	w := &watch{svc: svc, store: store, clock: clk,
		agent: hoist.AgentRecord{ID: hoist.NewID(hoist.AgentIDPrefix), Hostname: "ws-01", Version: hoist.Version, OS: "linux", EnrolledAt: clk.Now(), LastSeen: clk.Now()}}
	if err := store.Update(ctx, func(tx hoist.Tx) error { return tx.InsertAgent(ctx, w.agent) }); err != nil {
		t.Fatal(err)
	}
	r, _, err := svc.CreateRequest(ctx, control.RequestInput{User: "alice", Host: "ws-01", Agent: w.agent.ID, Reason: "driver", Duration: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	res, err := svc.Approve(ctx, watchAdmin, []string{r.ID}, time.Hour, "")
	if err != nil || !res[0].OK {
		t.Fatalf("approve: %+v %v", res, err)
	}
	w.sess = *res[0].Session
	return w
}

// report is the session as an agent reports it.
func (w *watch) report(state string) wire.AgentSession {
	return wire.AgentSession{ID: w.sess.ID, User: w.sess.User, State: state, NotAfter: w.sess.NotAfter}
}

func (w *watch) checkin(t *testing.T, ss ...wire.AgentSession) {
	t.Helper()
	if err := w.checkinErr(ss...); err != nil {
		t.Fatalf("check-in: %v", err)
	}
}

func (w *watch) checkinErr(ss ...wire.AgentSession) error {
	_, err := w.svc.Checkin(ctx, w.agent.ID, wire.AgentFacts{Hostname: "ws-01", Version: hoist.Version, OS: "linux", Kernel: "6.1", Sessions: ss})
	return err
}

// records returns the audit records of action.
func (w *watch) records(t *testing.T, action string) []hoist.AuditRecord {
	t.Helper()
	out := []hoist.AuditRecord{}
	err := w.svc.Audit(ctx, watchAdmin, hoist.AuditFilter{Action: action}, func(r hoist.AuditRecord) error {
		out = append(out, r)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// one returns the audit records of action, failing the test unless there
// is exactly one.
func (w *watch) one(t *testing.T, action string) []hoist.AuditRecord {
	t.Helper()
	recs := w.records(t, action)
	if len(recs) != 1 {
		t.Fatalf("%d records of %s, want 1", len(recs), action)
	}
	return recs
}

// alerts counts the audit records whose action starts with "alert.".
func (w *watch) alerts(t *testing.T) map[string]int {
	t.Helper()
	got := map[string]int{}
	err := w.svc.Audit(ctx, watchAdmin, hoist.AuditFilter{}, func(r hoist.AuditRecord) error {
		if strings.HasPrefix(r.Action, control.AlertPrefix) {
			got[r.Action]++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// revokes counts the revokes queued for the agent about session id.
func (w *watch) revokes(t *testing.T, id string) int {
	t.Helper()
	evs, err := w.svc.AgentEvents(ctx, w.agent.ID, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ev := range evs {
		if ev.Kind == hoist.AgentEventRevoked && ev.SessionID == id {
			n++
		}
	}
	return n
}

func (w *watch) session(t *testing.T) hoist.Session {
	t.Helper()
	s, err := w.svc.Session(ctx, watchAdmin, w.sess.ID)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// state is what any write of the watch would move: the audit log's head,
// the agent's last-seen time and its queue of events.
func (w *watch) state(t *testing.T) string {
	t.Helper()
	var seq int64
	var a hoist.AgentRecord
	err := w.store.View(ctx, func(tx hoist.Tx) (err error) {
		if seq, _, err = tx.AuditHead(ctx); err != nil {
			return err
		}
		a, err = tx.AgentByID(ctx, w.agent.ID)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	evs, _ := w.svc.AgentEvents(ctx, w.agent.ID, 0, 0)
	return fmt.Sprintf("audit head %d, last seen %s, %d events", seq, a.LastSeen.Format(time.RFC3339Nano), len(evs))
}

// auditHead is the sequence number of the last audit record.
func (w *watch) auditHead(t *testing.T) int64 {
	t.Helper()
	var seq int64
	if err := w.store.View(ctx, func(tx hoist.Tx) (err error) { seq, _, err = tx.AuditHead(ctx); return err }); err != nil {
		t.Fatal(err)
	}
	return seq
}

func wantAlerts(t *testing.T, got map[string]int, want map[string]int) {
	t.Helper()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %d alerts, want %d (all: %v)", k, got[k], v, got)
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected alert %s ×%d", k, v)
		}
	}
}

// TestHonestReportsRaiseNothing: an agent that reports its sessions as the
// server knows them — active within the window, ending, ended — causes no
// alert and no write, however often it checks in.
func TestHonestReportsRaiseNothing(t *testing.T) {
	onEachStore(t, func(t *testing.T, w *watch) {
		before := w.auditHead(t)
		for range 3 {
			w.checkin(t, w.report(wire.SessionReportActive))
			w.clock.Add(5 * time.Minute)
		}
		if after := w.auditHead(t); after != before {
			t.Errorf("check-ins of an active session wrote %d audit records", after-before)
		}
		if _, err := w.svc.Revoke(ctx, watchAdmin, []string{w.sess.ID}, "done"); err != nil {
			t.Fatal(err)
		}
		before = w.auditHead(t)
		w.clock.Add(10 * time.Minute)
		w.checkin(t, w.report(wire.SessionReportEnding))
		w.clock.Add(10 * time.Minute)
		w.checkin(t, w.report(wire.SessionReportEnded))
		if after := w.auditHead(t); after != before {
			t.Errorf("check-ins of an ended session wrote %d audit records", after-before)
		}
		wantAlerts(t, w.alerts(t), nil)
		if n := w.revokes(t, w.sess.ID); n != 1 {
			t.Errorf("%d revokes queued, want the administrator's one", n)
		}
	})
}

// TestReportedAliveAfterRevoke: a check-in that crosses the revoke's push
// is no alarm; an agent seen since the revoke that still reports the
// session active raises one alert and gets the revoke again, once.
func TestReportedAliveAfterRevoke(t *testing.T) {
	onEachStore(t, func(t *testing.T, w *watch) {
		w.clock.Add(time.Minute)
		if res, err := w.svc.Revoke(ctx, watchAdmin, []string{w.sess.ID}, "incident over"); err != nil || !res[0].OK {
			t.Fatalf("revoke: %+v %v", res, err)
		}
		w.clock.Add(time.Second)
		w.checkin(t, w.report(wire.SessionReportActive)) // has not heard yet
		wantAlerts(t, w.alerts(t), nil)
		w.clock.Add(5 * time.Minute)
		for range 3 {
			w.checkin(t, w.report(wire.SessionReportActive))
			w.clock.Add(5 * time.Minute)
		}
		wantAlerts(t, w.alerts(t), map[string]int{control.AlertSessionAliveAfterEnd: 1})
		if n := w.revokes(t, w.sess.ID); n != 2 {
			t.Errorf("%d revokes queued, want the administrator's and the alert's", n)
		}
		recs := w.one(t, control.AlertSessionAliveAfterEnd)
		var d map[string]any
		_ = json.Unmarshal(recs[0].Detail, &d)
		if recs[0].Subject != w.sess.ID || d["agent"] != w.agent.ID || d["host"] != "ws-01" || d["user"] != "alice" ||
			d["end_reason"] != "revoked" || d["reported_state"] != "active" || d["server_end"] == nil || d["reported_not_after"] == nil {
			t.Errorf("alert record: subject %s detail %s", recs[0].Subject, recs[0].Detail)
		}
	})
}

// TestReportedAliveAfterExpiry: the agent ends a session by its own
// clock, so a session reported active a while after its window raises an
// alert, even before the server's sweep recorded the expiry, and the
// server's record ends.
func TestReportedAliveAfterExpiry(t *testing.T) {
	onEachStore(t, func(t *testing.T, w *watch) {
		w.clock.Add(time.Hour + 30*time.Second)
		w.checkin(t, w.report(wire.SessionReportActive)) // within the allowance for clocks
		wantAlerts(t, w.alerts(t), nil)
		w.clock.Add(time.Minute)
		w.checkin(t, w.report(wire.SessionReportActive))
		w.checkin(t, w.report(wire.SessionReportActive))
		wantAlerts(t, w.alerts(t), map[string]int{control.AlertSessionAliveAfterEnd: 1})
		if n := w.revokes(t, w.sess.ID); n != 1 {
			t.Errorf("%d revokes queued, want 1", n)
		}
		if s := w.session(t); s.State != hoist.SessionEnded || s.EndReason != hoist.EndExpired {
			t.Errorf("the server's session is %s (%s), want ended (expired)", s.State, s.EndReason)
		}
	})
}

// TestWindowMismatch: a session the agent holds until later than the
// server granted raises an alert and is revoked, on the server and on the
// machine; an end within the encoding's rounding, or a session already
// ended on the machine, is no alarm.
func TestWindowMismatch(t *testing.T) {
	onEachStore(t, func(t *testing.T, w *watch) {
		near := w.report(wire.SessionReportActive)
		near.NotAfter = near.NotAfter.Add(500 * time.Millisecond)
		w.checkin(t, near)
		over := w.report(wire.SessionReportEnded)
		over.NotAfter = over.NotAfter.Add(3 * time.Hour)
		w.checkin(t, over)
		wantAlerts(t, w.alerts(t), nil)

		late := w.report(wire.SessionReportActive)
		late.NotAfter = late.NotAfter.Add(3 * time.Hour)
		w.checkin(t, late)
		w.checkin(t, late)
		wantAlerts(t, w.alerts(t), map[string]int{control.AlertSessionWindowMismatch: 1})
		if s := w.session(t); s.State != hoist.SessionEnded || s.EndReason != hoist.EndRevoked || s.History[len(s.History)-1].Actor != control.SystemActor {
			t.Errorf("the server's session is %s (%s, %+v), want revoked by %s", s.State, s.EndReason, s.History, control.SystemActor)
		}
		if n := w.revokes(t, w.sess.ID); n != 1 {
			t.Errorf("%d revokes queued, want 1", n)
		}
		recs := w.one(t, control.AlertSessionWindowMismatch)
		if !strings.Contains(string(recs[0].Detail), `"reported_not_after":"`+late.NotAfter.Format(time.RFC3339Nano)) {
			t.Errorf("alert detail %s does not name the reported end", recs[0].Detail)
		}
	})
}

// TestLocalSessionIsRecordedOnce: root's local grant, which the server has
// no record of, is recorded once, revokes nothing, and alarms no one; a
// session of another machine reported here counts as unknown too.
func TestLocalSessionIsRecordedOnce(t *testing.T) {
	onEachStore(t, func(t *testing.T, w *watch) {
		local := wire.AgentSession{ID: hoist.NewID(hoist.SessionIDPrefix), User: "bob", State: wire.SessionReportActive,
			NotAfter: w.clock.Now().Add(2 * time.Hour), Local: true}
		for range 3 {
			w.checkin(t, local, w.report(wire.SessionReportActive))
		}
		w.clock.Add(3 * time.Hour) // long over: a local session is not judged by the server's clock
		local.State, local.EndedAt = wire.SessionReportEnded, w.clock.Now()
		w.checkin(t, local)
		recs := w.records(t, control.AuditLocalSessionReported)
		if len(recs) != 1 || recs[0].Subject != local.ID || !strings.Contains(string(recs[0].Detail), `"local":true`) ||
			!strings.Contains(string(recs[0].Detail), `"reported_user":"bob"`) {
			t.Fatalf("records = %+v, want one for %s", recs, local.ID)
		}
		if n := w.revokes(t, local.ID); n != 0 {
			t.Errorf("%d revokes of the local session, want none", n)
		}
		wantAlerts(t, w.alerts(t), nil)
	})
}

// TestActivityAfterEnd: a command started in a session after the server
// ended it (beyond the clock skew allowed) raises one alert and revokes;
// commands within the window, within the skew, or in a session of another
// machine, do not.
func TestActivityAfterEnd(t *testing.T) {
	onEachStore(t, func(t *testing.T, w *watch) {
		started := func(id string, at time.Time) wire.AgentAuditEvent {
			return wire.AgentAuditEvent{ID: hoist.NewID("evt_"), Time: at, Action: "command.started", Actor: "alice", Subject: id,
				Detail: map[string]any{"argv": []string{"id"}}}
		}
		deliver := func(evs ...wire.AgentAuditEvent) {
			t.Helper()
			if _, err := w.svc.AgentAudit(ctx, w.agent, evs); err != nil {
				t.Fatalf("audit delivery: %v", err)
			}
		}
		deliver(started(w.sess.ID, w.clock.Now().Add(time.Minute)))
		w.clock.Add(10 * time.Minute)
		res, _ := w.svc.Revoke(ctx, watchAdmin, []string{w.sess.ID}, "incident over")
		end := res[0].Session.EndedAt
		deliver(started(w.sess.ID, end.Add(2*time.Second)))
		other := w.newSessionElsewhere(t)
		deliver(started(other.ID, other.NotAfter.Add(time.Hour)))
		wantAlerts(t, w.alerts(t), nil)

		after := started(w.sess.ID, end.Add(time.Minute))
		deliver(after, started(w.sess.ID, end.Add(30*time.Second)))
		deliver(after) // a retry after a lost answer
		deliver(started(w.sess.ID, end.Add(2*time.Minute)))
		wantAlerts(t, w.alerts(t), map[string]int{control.AlertActivityAfterEnd: 1})
		if n := w.revokes(t, w.sess.ID); n != 2 {
			t.Errorf("%d revokes queued, want the administrator's and the alert's", n)
		}
		recs := w.one(t, control.AlertActivityAfterEnd)
		if d := string(recs[0].Detail); !strings.Contains(d, `"event_id":"`+after.ID+`"`) || !strings.Contains(d, `"argv":["id"]`) {
			t.Errorf("alert detail %s does not name the latest command of the delivery", d)
		}
	})
}

// newSessionElsewhere approves a session for bob on another agent.
func (w *watch) newSessionElsewhere(t *testing.T) hoist.Session {
	t.Helper()
	other := hoist.AgentRecord{ID: hoist.NewID(hoist.AgentIDPrefix), Hostname: "ws-02", Version: hoist.Version, OS: "linux", EnrolledAt: w.clock.Now(), LastSeen: w.clock.Now()}
	if err := w.store.Update(ctx, func(tx hoist.Tx) error { return tx.InsertAgent(ctx, other) }); err != nil {
		t.Fatal(err)
	}
	r, _, err := w.svc.CreateRequest(ctx, control.RequestInput{User: "bob", Host: "ws-02", Agent: other.ID, Reason: "x", Duration: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	res, _ := w.svc.Approve(ctx, watchAdmin, []string{r.ID}, time.Minute, "")
	if !res[0].OK {
		t.Fatalf("approve: %+v", res)
	}
	return *res[0].Session
}

// TestBadReportsAreRefused: a report that is not well-formed refuses the
// check-in as invalid (400, never 500) and changes nothing: no alert, no
// revoke, not even the agent's last-seen time.
func TestBadReportsAreRefused(t *testing.T) {
	onEachStore(t, func(t *testing.T, w *watch) {
		w.clock.Add(2 * time.Hour) // every case below would be an alert if it were judged
		ok := w.report(wire.SessionReportActive)
		many := make([]wire.AgentSession, wire.MaxAgentSessions+1)
		for i := range many {
			many[i] = wire.AgentSession{ID: hoist.NewID(hoist.SessionIDPrefix), User: "bob", State: "active", NotAfter: w.clock.Now()}
		}
		with := func(f func(*wire.AgentSession)) []wire.AgentSession {
			r := ok
			f(&r)
			return []wire.AgentSession{r}
		}
		cases := []struct {
			name string
			ss   []wire.AgentSession
		}{
			{"too many", many},
			{"the same session twice", []wire.AgentSession{ok, ok}},
			{"no id", with(func(r *wire.AgentSession) { r.ID = "" })},
			{"not a session id", with(func(r *wire.AgentSession) { r.ID = "req_" + r.ID[4:] })},
			{"an id with a path", with(func(r *wire.AgentSession) { r.ID = "ses_../../../etc/pa" })},
			{"no user", with(func(r *wire.AgentSession) { r.User = "" })},
			{"a user with escapes", with(func(r *wire.AgentSession) { r.User = "ali\x1b[2Jce" })},
			{"a long user", with(func(r *wire.AgentSession) { r.User = strings.Repeat("a", 300) })},
			{"an unknown state", with(func(r *wire.AgentSession) { r.State = "zombie" })},
			{"no end", with(func(r *wire.AgentSession) { r.NotAfter = time.Time{} })},
			{"an end in 1970", with(func(r *wire.AgentSession) { r.NotAfter = time.Unix(0, 0) })},
			{"an ended_at in year 1", with(func(r *wire.AgentSession) { r.EndedAt = time.Date(1, 1, 1, 0, 0, 1, 0, time.UTC) })},
			{"a negative pid", with(func(r *wire.AgentSession) { r.Unkillable = []int{-1} })},
			{"too many pids", with(func(r *wire.AgentSession) { r.Unkillable = make([]int, wire.MaxUnkillable+1) })},
		}
		before := w.state(t)
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				if err := w.checkinErr(tc.ss...); hoist.ErrorCode(err) != hoist.EInvalid {
					t.Errorf("check-in: %v, want %s", err, hoist.EInvalid)
				}
			})
		}
		if after := w.state(t); after != before {
			t.Errorf("refused check-ins changed the records: %s, then %s", before, after)
		}
		wantAlerts(t, w.alerts(t), nil)
	})
}
