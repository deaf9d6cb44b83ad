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
)

// ids is a server with JIT mode on for every machine, computer groups web
// and db, and one agent in each: web-01 (enrolled into web) and db-01
// (enrolled into db). Both are also in the default group.
type ids struct {
	svc   *control.Service
	admin control.Actor
	web   hoist.AgentRecord
	db    hoist.AgentRecord
	clock *testenv.Clock
}

const idsPassword = "correct horse battery staple"

// onBothStores runs fn against a fresh ids on SQLite and on PostgreSQL.
func onBothStores(t *testing.T, fn func(t *testing.T, f *ids)) {
	eachStore(t, func(t *testing.T, store hoist.Store) { fn(t, newIDs(t, store)) })
}

func newIDs(t *testing.T, store hoist.Store) *ids {
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
	if _, err := svc.Bootstrap(ctx, idsPassword); err != nil {
		t.Fatal(err)
	}
	f := &ids{svc: svc, clock: clk}
	f.admin = f.login(t, "admin")
	for _, name := range []string{"JIT Mode (Startup and Approval)", "JIT Mode", "JIT Mode (Child Processes)"} {
		if _, err := svc.SetPolicyActive(ctx, f.admin, name, true); err != nil {
			t.Fatal(err)
		}
	}
	for _, g := range []string{"web", "db"} {
		if _, err := svc.CreateGroup(ctx, f.admin, hoist.ComputerGroup{Name: g}); err != nil {
			t.Fatal(err)
		}
	}
	agent := func(host, group string) hoist.AgentRecord {
		a := hoist.AgentRecord{ID: hoist.NewID(hoist.AgentIDPrefix), Hostname: host, Group: group, Version: hoist.Version, OS: "linux",
			EnrolledAt: clk.Now(), LastSeen: clk.Now()}
		if err := store.Update(ctx, func(tx hoist.Tx) error { return tx.InsertAgent(ctx, a) }); err != nil {
			t.Fatal(err)
		}
		return a
	}
	f.web, f.db = agent("web-01", "web"), agent("db-01", "db")
	return f
}

func (f *ids) login(t *testing.T, name string) control.Actor {
	t.Helper()
	token, _, _, err := f.svc.Login(ctx, name, idsPassword, "127.0.0.1")
	if err != nil {
		t.Fatalf("login %s: %v", name, err)
	}
	a, err := f.svc.Authenticate(ctx, token)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// account creates an approver with the lists given and logs it in.
func (f *ids) account(t *testing.T, name string, unixNames, groups []string) control.Actor {
	t.Helper()
	if _, err := f.svc.CreateAdmin(ctx, f.admin, control.AdminInput{Name: name, Role: hoist.RoleApprover, Password: idsPassword,
		UnixNames: &unixNames, ApproverGroups: &groups}); err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	return f.login(t, name)
}

// ask makes user's request on agent's machine.
func (f *ids) ask(t *testing.T, user string, agent hoist.AgentRecord) hoist.Request {
	t.Helper()
	r, _, err := f.svc.CreateRequest(ctx, control.RequestInput{User: user, Host: agent.Hostname, Agent: agent.ID, Reason: "driver", Duration: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// approve approves id as a and returns the result's error code ("" when it
// was approved) and message.
func approve(t *testing.T, svc *control.Service, a control.Actor, id string) (code, msg string) {
	t.Helper()
	res, err := svc.Approve(ctx, a, []string{id}, time.Hour, "")
	if err != nil {
		t.Fatal(err)
	}
	return res[0].Code, res[0].Error
}

// The attack of the review: approver account rt1-adm approved Unix user
// rt1's request, because only names were compared. Once rt1-adm lists rt1
// as its own, that approval is refused, even for a login made before the
// change; another approver may still approve.
func TestSelfApprovalByMappedIdentityIsRefused(t *testing.T) {
	onBothStores(t, func(t *testing.T, f *ids) {
		adm := f.account(t, "rt1-adm", nil, nil)
		carol := f.account(t, "carol", nil, nil)
		names := []string{"rt1"}
		if _, err := f.svc.UpdateAdmin(ctx, f.admin, control.AdminInput{Name: "rt1-adm", UnixNames: &names}); err != nil {
			t.Fatal(err)
		}
		r := f.ask(t, "rt1", f.web)
		code, msg := approve(t, f.svc, adm, r.ID)
		if code != hoist.EForbidden || !strings.Contains(msg, "rt1") {
			t.Fatalf("rt1-adm approving rt1: code %q (%s), want forbidden", code, msg)
		}
		got, err := f.svc.Request(ctx, f.admin, r.ID)
		if err != nil || got.State != hoist.RequestPending {
			t.Fatalf("after the refusal the request is %s (%v), want pending", got.State, err)
		}
		// Denying one's own request harms no one and stays allowed; approve
		// another request of rt1 by someone else.
		if res, err := f.svc.Deny(ctx, adm, []string{r.ID}, "not now"); err != nil || !res[0].OK {
			t.Fatalf("rt1-adm denying rt1: %+v %v", res, err)
		}
		r2 := f.ask(t, "rt1", f.db)
		if code, msg := approve(t, f.svc, carol, r2.ID); code != "" {
			t.Fatalf("carol approving rt1: %s %s", code, msg)
		}
		// Upper case on the machine does not make it someone else.
		r3 := f.ask(t, "RT1", f.web)
		if code, _ := approve(t, f.svc, adm, r3.ID); code != hoist.EForbidden {
			t.Errorf("rt1-adm approving RT1: code %q, want forbidden", code)
		}
	})
}

// The account's own name is one of its identities, whatever it lists.
func TestSelfApprovalByNameStillRefused(t *testing.T) {
	onBothStores(t, func(t *testing.T, f *ids) {
		dave := f.account(t, "dave", []string{"dave-build"}, nil)
		for _, user := range []string{"dave", "dave-build"} {
			r := f.ask(t, user, f.web)
			if code, _ := approve(t, f.svc, dave, r.ID); code != hoist.EForbidden {
				t.Errorf("dave approving %s: code %q, want forbidden", user, code)
			}
		}
		if code, _ := approve(t, f.svc, dave, f.ask(t, "erin", f.web).ID); code != "" {
			t.Errorf("dave approving erin: code %q, want approved", code)
		}
	})
}

// An approver scoped to group web decides and sees only web's machines:
// requests from db-01 are refused, left out of the list, and its sessions
// cannot be revoked by that approver.
func TestApproverScopes(t *testing.T) {
	onBothStores(t, func(t *testing.T, f *ids) {
		webby := f.account(t, "webby", nil, []string{"web"})
		fromWeb, fromDB := f.ask(t, "alice", f.web), f.ask(t, "bob", f.db)

		pending, err := f.svc.Requests(ctx, webby, hoist.RequestFilter{State: hoist.RequestPending})
		if err != nil {
			t.Fatal(err)
		}
		if len(pending) != 1 || pending[0].ID != fromWeb.ID {
			t.Errorf("webby's pending list = %v, want only %s (web-01)", requestIDs(pending), fromWeb.ID)
		}
		if all, _ := f.svc.Requests(ctx, f.admin, hoist.RequestFilter{State: hoist.RequestPending}); len(all) != 2 {
			t.Errorf("the unscoped admin sees %d pending requests, want 2", len(all))
		}
		if _, err := f.svc.Request(ctx, webby, fromDB.ID); hoist.ErrorCode(err) != hoist.EForbidden {
			t.Errorf("webby reading db-01's request: %v, want forbidden", err)
		}

		code, msg := approve(t, f.svc, webby, fromDB.ID)
		if code != hoist.EForbidden || !strings.Contains(msg, `"web"`) || !strings.Contains(msg, "db-01") {
			t.Errorf("webby approving db-01: code %q (%s), want forbidden naming web and db-01", code, msg)
		}
		if res, _ := f.svc.Deny(ctx, webby, []string{fromDB.ID}, "not yours"); res[0].Code != hoist.EForbidden {
			t.Errorf("webby denying db-01: %+v, want forbidden", res[0])
		}
		if code, msg := approve(t, f.svc, webby, fromWeb.ID); code != "" {
			t.Fatalf("webby approving web-01: %s %s", code, msg)
		}

		// Sessions: an admin approves db-01's; webby neither sees nor revokes it.
		if code, msg := approve(t, f.svc, f.admin, fromDB.ID); code != "" {
			t.Fatalf("admin approving db-01: %s %s", code, msg)
		}
		ss, err := f.svc.Sessions(ctx, webby, hoist.SessionFilter{State: hoist.SessionActive})
		if err != nil || len(ss) != 1 || ss[0].Host != "web-01" {
			t.Errorf("webby's sessions = %+v (%v), want only web-01's", ss, err)
		}
		res, err := f.svc.Revoke(ctx, webby, []string{fromDB.ID}, "")
		if err != nil || res[0].Code != hoist.EForbidden {
			t.Errorf("webby revoking db-01's session: %+v %v, want forbidden", res, err)
		}
		if res, err := f.svc.Revoke(ctx, webby, []string{fromWeb.ID}, ""); err != nil || !res[0].OK {
			t.Errorf("webby revoking web-01's session: %+v %v", res, err)
		}

		// A scope change holds at once for the login already made.
		both := []string{"web", "db"}
		if _, err := f.svc.UpdateAdmin(ctx, f.admin, control.AdminInput{Name: "webby", ApproverGroups: &both}); err != nil {
			t.Fatal(err)
		}
		if res, err := f.svc.Revoke(ctx, webby, []string{fromDB.ID}, ""); err != nil || !res[0].OK {
			t.Errorf("webby, now scoped to db too, revoking db-01's session: %+v %v", res, err)
		}
	})
}

func requestIDs(rs []hoist.Request) []string {
	out := []string{}
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

// A Unix name belongs to one account; the refusal names the other.
func TestUnixNameBelongsToOneAccount(t *testing.T) {
	onBothStores(t, func(t *testing.T, f *ids) {
		f.account(t, "rt1-adm", []string{"rt1"}, nil)
		dup := []string{"rt1"}
		_, err := f.svc.CreateAdmin(ctx, f.admin, control.AdminInput{Name: "other", Role: hoist.RoleApprover, Password: idsPassword, UnixNames: &dup})
		if hoist.ErrorCode(err) != hoist.EConflict || !strings.Contains(hoist.ErrorMessage(err), "rt1-adm") {
			t.Errorf("a second account listing rt1: %v, want a conflict naming rt1-adm", err)
		}
		f.account(t, "other", nil, nil)
		_, err = f.svc.UpdateAdmin(ctx, f.admin, control.AdminInput{Name: "other", UnixNames: &dup})
		if hoist.ErrorCode(err) != hoist.EConflict || !strings.Contains(hoist.ErrorMessage(err), "rt1-adm") {
			t.Errorf("setting rt1 on other: %v, want a conflict naming rt1-adm", err)
		}
		// Setting the same list again on its owner is no conflict.
		if _, err := f.svc.UpdateAdmin(ctx, f.admin, control.AdminInput{Name: "rt1-adm", UnixNames: &dup}); err != nil {
			t.Errorf("setting rt1 again on rt1-adm: %v", err)
		}
		accounts, err := f.svc.RequesterAccounts(ctx, f.admin, []string{"rt1", "other", "nobody"})
		if err != nil {
			t.Fatal(err)
		}
		if accounts["rt1"] != "rt1-adm" || accounts["other"] != "other" || accounts["nobody"] != "" {
			t.Errorf("requester accounts = %v, want rt1→rt1-adm, other→other, nobody unmapped", accounts)
		}
	})
}

// Bad lists are refused with the field named; an unknown group too; a
// group an account approves for cannot be deleted.
func TestIdentityInputAndGroupDeletion(t *testing.T) {
	onBothStores(t, func(t *testing.T, f *ids) {
		f.account(t, "webby", nil, []string{"web"})
		for _, tc := range []struct {
			name         string
			unix, groups []string
			field        string
		}{
			{"bad unix name", []string{"Root Shell"}, nil, "unix_names"},
			{"unknown group", nil, []string{"nowhere"}, "approver_groups"},
			{"too many names", manyNames(hoist.MaxUnixNames + 1), nil, "unix_names"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := f.svc.UpdateAdmin(ctx, f.admin, control.AdminInput{Name: "webby", UnixNames: &tc.unix, ApproverGroups: &tc.groups})
				var herr *hoist.Error
				if hoist.ErrorCode(err) != hoist.EInvalid || !errors.As(err, &herr) || herr.Fields[tc.field] == "" {
					t.Errorf("got %v, want invalid naming %s", err, tc.field)
				}
			})
		}
		err := f.svc.DeleteGroup(ctx, f.admin, "web")
		if hoist.ErrorCode(err) != hoist.EConflict || !strings.Contains(hoist.ErrorMessage(err), "webby") {
			t.Errorf("deleting web: %v, want a conflict naming webby", err)
		}
		none := []string{}
		if _, err := f.svc.UpdateAdmin(ctx, f.admin, control.AdminInput{Name: "webby", ApproverGroups: &none}); err != nil {
			t.Fatal(err)
		}
		if err := f.svc.DeleteGroup(ctx, f.admin, "web"); err != nil {
			t.Errorf("deleting web once no account approves for it: %v", err)
		}
		// The changes are audited with what changed.
		var changed map[string]any
		err = f.svc.Audit(ctx, f.admin, hoist.AuditFilter{Action: hoist.AuditAdminUpdated}, func(r hoist.AuditRecord) error {
			changed = map[string]any{}
			return json.Unmarshal(r.Detail, &changed)
		})
		if err != nil {
			t.Fatal(err)
		}
		if g, ok := changed["approver_groups"].([]any); !ok || len(g) != 0 {
			t.Errorf("last admin.updated detail = %v, want approver_groups []", changed)
		}
		as, err := f.svc.Admins(ctx, f.admin)
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(as, func(a hoist.Admin) bool { return a.Name == "webby" })
		if i < 0 || len(as[i].ApproverGroups) != 0 || as[i].UnixNames == nil {
			t.Errorf("webby = %+v", as[i])
		}
	})
}

func manyNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = "u" + strings.Repeat("x", i%20) + string(rune('a'+i%26))
	}
	return out
}

// Two admins giving one Unix name to two accounts at the same moment: one
// wins, the other is refused; never both (PostgreSQL runs them in parallel).
func TestUnixNameClaimedTwiceAtOnce(t *testing.T) {
	onBothStores(t, func(t *testing.T, f *ids) {
		f.account(t, "one", nil, nil)
		f.account(t, "two", nil, nil)
		for round := range 5 {
			name := []string{"shared" + string(rune('a'+round))}
			errs := make(chan error, 2)
			for _, acct := range []string{"one", "two"} {
				go func() {
					_, err := f.svc.UpdateAdmin(ctx, f.admin, control.AdminInput{Name: acct, UnixNames: &name})
					errs <- err
				}()
			}
			var ok, conflicts int
			for range 2 {
				switch err := <-errs; hoist.ErrorCode(err) {
				case "":
					ok++
				case hoist.EConflict:
					conflicts++
				default:
					t.Fatalf("round %d: %v", round, err)
				}
			}
			if ok != 1 || conflicts != 1 {
				t.Fatalf("round %d: %d succeeded, %d conflicts; want exactly one of each", round, ok, conflicts)
			}
			accounts, err := f.svc.RequesterAccounts(ctx, f.admin, name)
			if err != nil || accounts[name[0]] == "" {
				t.Fatalf("round %d: %s maps to %v (%v)", round, name[0], accounts, err)
			}
		}
	})
}
