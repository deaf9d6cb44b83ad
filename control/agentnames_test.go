package control_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/control"
	"github.com/hoist-jit/hoist/wire"
)

// addAgent puts a second agent beside the watch's ws-01, as enrolment
// would, under hostname.
func (w *watch) addAgent(t *testing.T, hostname string) hoist.AgentRecord {
	t.Helper()
	a := hoist.AgentRecord{ID: hoist.NewID(hoist.AgentIDPrefix), Hostname: hostname, Version: hoist.Version, OS: "linux",
		EnrolledAt: w.clock.Now(), LastSeen: w.clock.Now()}
	if err := w.store.Update(ctx, func(tx hoist.Tx) error { return tx.InsertAgent(ctx, a) }); err != nil {
		t.Fatal(err)
	}
	return a
}

// checkinAs checks agent id in, reporting hostname.
func (w *watch) checkinAs(t *testing.T, id, hostname string) {
	t.Helper()
	if _, err := w.svc.Checkin(ctx, id, wire.AgentFacts{Hostname: hostname, Version: hoist.Version, OS: "linux", Kernel: "6.1"}); err != nil {
		t.Fatalf("check-in of %s as %s: %v", id, hostname, err)
	}
}

// agentView is the agent as the agents list shows it.
func (w *watch) agentView(t *testing.T, id string) wire.AgentView {
	t.Helper()
	views, err := w.svc.AgentViews(ctx, watchAdmin)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range views {
		if v.ID == id {
			return v
		}
	}
	t.Fatalf("agent %s is not listed", id)
	return wire.AgentView{}
}

// approverSees is the request as an approver's view shows it: the request
// and the flags of the agent that filed it.
func (w *watch) approverSees(t *testing.T, r hoist.Request) wire.AgentNameFlags {
	t.Helper()
	approver := control.Actor{Name: "carol", Role: hoist.RoleApprover}
	got, err := w.svc.Request(ctx, approver, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	names, err := w.svc.AgentNames(ctx, approver)
	if err != nil {
		t.Fatal(err)
	}
	return wire.NameFlags(got.Agent, got.Host, names[got.Agent])
}

func detailOf(t *testing.T, rec hoist.AuditRecord) map[string]any {
	t.Helper()
	var d map[string]any
	if err := json.Unmarshal(rec.Detail, &d); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestAgentClaimingAnothersHostnameIsFlagged is the attack: agent B,
// enrolled as build-3, claims at check-in to be ws-01, the machine of agent
// A. Both are flagged, B's requests carry the flag and B's id to the
// approver, the change is audited once, and B cannot take over the request
// a user of A has waiting.
func TestAgentClaimingAnothersHostnameIsFlagged(t *testing.T) {
	onEachStore(t, func(t *testing.T, w *watch) {
		a := w.agent
		b := w.addAgent(t, "build-3")
		waiting, _, err := w.svc.AgentRequest(ctx, a, "bob", "deploy", time.Hour)
		if err != nil {
			t.Fatal(err)
		}

		w.checkinAs(t, b.ID, "ws-01")
		w.checkinAs(t, b.ID, "ws-01") // again: no second record

		for _, pair := range [][2]string{{a.ID, b.ID}, {b.ID, a.ID}} {
			v := w.agentView(t, pair[0])
			if !v.DuplicateHostname || !slices.Equal(v.DuplicateOf, []string{pair[1]}) || v.Name != "ws-01" {
				t.Errorf("agent %s: got name %q duplicate %v of %v, want ws-01 flagged as a duplicate of %s", pair[0], v.Name, v.DuplicateHostname, v.DuplicateOf, pair[1])
			}
		}
		recs := w.one(t, control.AuditHostnameChanged)
		if d := detailOf(t, recs[0]); recs[0].Subject != b.ID || d["old"] != "build-3" || d["new"] != "ws-01" {
			t.Errorf("hostname change record: got subject %s detail %v, want %s build-3 → ws-01", recs[0].Subject, d, b.ID)
		}
		b, err = w.svc.Agent(ctx, b.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(b.PreviousHostnames) != 1 || b.PreviousHostnames[0].Hostname != "build-3" {
			t.Errorf("previous hostnames: got %+v, want build-3", b.PreviousHostnames)
		}

		// bob's request waits on A; B asking for bob must not be handed it:
		// one open request per user and agent, so B's is its own.
		mine, created, err := w.svc.AgentRequest(ctx, b, "bob", "mine now", time.Hour)
		if err != nil || !created || mine.Agent != b.ID || mine.ID == waiting.ID {
			t.Fatalf("B asking for bob while bob waits on A: got %+v created %v, %v; want a request of B's own", mine, created, err)
		}
		got, _ := w.svc.Request(ctx, watchAdmin, waiting.ID)
		if got.Agent != a.ID || got.Reason != "deploy" {
			t.Fatalf("A's request changed: %+v", got)
		}

		// B's own request: the approver sees B's id and the warning.
		r, _, err := w.svc.AgentRequest(ctx, b, "dave", "disk", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if f := w.approverSees(t, r); f.AgentID != b.ID || !f.DuplicateHostname || !slices.Equal(f.DuplicateOf, []string{a.ID}) {
			t.Errorf("approver's view of B's request: got %+v, want agent %s flagged as a duplicate of %s", f, b.ID, a.ID)
		}
		if f := w.approverSees(t, waiting); f.AgentID != a.ID || !f.DuplicateHostname {
			t.Errorf("approver's view of A's request: got %+v, want agent %s flagged", f, a.ID)
		}

		// Revoking B ends the warning on A.
		if err := w.svc.RevokeAgent(ctx, watchAdmin, b.ID); err != nil {
			t.Fatal(err)
		}
		if v := w.agentView(t, a.ID); v.DuplicateHostname {
			t.Errorf("agent A after B's revoke: got flagged as a duplicate of %v, want not", v.DuplicateOf)
		}
	})
}

// TestHostnameLooksAlikeIsRefused: a hostname with an invisible character
// would look like another without being equal to it; check-in refuses it.
func TestHostnameLooksAlikeIsRefused(t *testing.T) {
	onEachStore(t, func(t *testing.T, w *watch) {
		b := w.addAgent(t, "build-3")
		for _, h := range []string{"ws-01\u200b", "\u202ews-01", "ws-01\t"} {
			_, err := w.svc.Checkin(ctx, b.ID, wire.AgentFacts{Hostname: h, Version: hoist.Version, OS: "linux"})
			if hoist.ErrorCode(err) != hoist.EInvalid {
				t.Errorf("check-in as %q: got %v, want invalid", h, err)
			}
		}
	})
}

// TestPinnedName: an admin pins names. The pinned name is the name of new
// requests and what group rules match; a reported hostname that differs is
// flagged and audited once; a name pinned to one agent is refused for
// another; unpinning goes back to the claim.
func TestPinnedName(t *testing.T) {
	onEachStore(t, func(t *testing.T, w *watch) {
		a := w.agent
		b := w.addAgent(t, "ws-01") // B claims A's name from the start
		if _, err := w.svc.CreateGroup(ctx, watchAdmin, hoist.ComputerGroup{Name: "builders", Rules: hoist.GroupRules{Hostname: "build-*"}}); err != nil {
			t.Fatal(err)
		}

		if _, err := w.svc.PinAgentName(ctx, watchAdmin, a.ID, "ws-01"); err != nil {
			t.Fatal(err)
		}
		if _, err := w.svc.PinAgentName(ctx, watchAdmin, b.ID, "build-3"); err != nil {
			t.Fatal(err)
		}
		if n := len(w.records(t, control.AuditNamePinned)); n != 2 {
			t.Errorf("%d records of %s, want 2", n, control.AuditNamePinned)
		}
		vb := w.agentView(t, b.ID)
		if vb.Name != "build-3" || vb.Hostname != "ws-01" || !vb.HostnameMismatch || !vb.DuplicateHostname {
			t.Errorf("B pinned build-3 reporting ws-01: got name %q hostname %q mismatch %v duplicate %v, want build-3, ws-01, both flags",
				vb.Name, vb.Hostname, vb.HostnameMismatch, vb.DuplicateHostname)
		}
		if !slices.Contains(vb.Groups, "builders") {
			t.Errorf("B pinned build-3: got groups %v, want builders (its rule matches the pinned name)", vb.Groups)
		}

		// A's claim cannot talk it into a group once its name is pinned.
		w.checkinAs(t, a.ID, "build-1")
		va := w.agentView(t, a.ID)
		if slices.Contains(va.Groups, "builders") || !va.HostnameMismatch || va.Name != "ws-01" {
			t.Errorf("A pinned ws-01 claiming build-1: got groups %v mismatch %v name %q, want not in builders, flagged, ws-01", va.Groups, va.HostnameMismatch, va.Name)
		}
		w.checkinAs(t, a.ID, "build-1")
		if recs := w.one(t, control.AuditHostnameMismatch); recs[0].Subject != a.ID {
			t.Errorf("mismatch record: got subject %s, want %s", recs[0].Subject, a.ID)
		}
		w.checkinAs(t, a.ID, "ws-01") // back to its pin: a change, no mismatch
		if n := len(w.records(t, control.AuditHostnameMismatch)); n != 1 {
			t.Errorf("%d mismatch records after A went back to its pin, want 1", n)
		}
		if n := len(w.records(t, control.AuditHostnameChanged)); n != 2 {
			t.Errorf("%d hostname change records, want 2 (ws-01 → build-1 → ws-01)", n)
		}

		// New requests carry the pinned name, though B reports ws-01.
		b, _ = w.svc.Agent(ctx, b.ID)
		r, _, err := w.svc.AgentRequest(ctx, b, "dave", "disk", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if f := w.approverSees(t, r); r.Host != "build-3" || f.ReportedHostname != "ws-01" || !f.HostnameMismatch || f.AgentID != b.ID {
			t.Errorf("B's request: got host %q flags %+v, want build-3 with ws-01 reported and the mismatch flagged", r.Host, f)
		}
		if _, err := w.svc.AgentCancelRequest(ctx, b, "dave"); err != nil {
			t.Errorf("withdraw B's request: %v", err)
		}

		// One name, one agent.
		_, err = w.svc.PinAgentName(ctx, watchAdmin, a.ID, "BUILD-3")
		if hoist.ErrorCode(err) != hoist.EConflict || !strings.Contains(err.Error(), b.ID) {
			t.Errorf("pin B's name on A: got %v, want a conflict naming %s", err, b.ID)
		}
		if v := w.agentView(t, a.ID); v.PinnedName != "ws-01" {
			t.Errorf("A after the refused pin: got pinned %q, want ws-01", v.PinnedName)
		}

		for _, tc := range []struct {
			name, id, pin string
			actor         control.Actor
			code, field   string
		}{
			{"empty", a.ID, "", watchAdmin, hoist.EInvalid, "name"},
			{"space", a.ID, "web 1", watchAdmin, hoist.EInvalid, "name"},
			{"control", a.ID, "web\x1b1", watchAdmin, hoist.EInvalid, "name"},
			{"too long", a.ID, strings.Repeat("a", 254), watchAdmin, hoist.EInvalid, "name"},
			{"leading dash", a.ID, "-web", watchAdmin, hoist.EInvalid, "name"},
			{"unknown agent", "agt_aaaaaaaaaaaaaaaa", "web-9", watchAdmin, hoist.ENotFound, ""},
			{"not an id", "../x", "web-9", watchAdmin, hoist.ENotFound, ""},
			{"approver", a.ID, "web-9", control.Actor{Name: "carol", Role: hoist.RoleApprover}, hoist.EForbidden, ""},
		} {
			_, err := w.svc.PinAgentName(ctx, tc.actor, tc.id, tc.pin)
			var herr *hoist.Error
			errors.As(err, &herr)
			if hoist.ErrorCode(err) != tc.code || (tc.field != "" && (herr == nil || herr.Fields[tc.field] == "")) {
				t.Errorf("pin %s: got %v, want %s naming field %q", tc.name, err, tc.code, tc.field)
			}
		}

		if _, err := w.svc.UnpinAgentName(ctx, watchAdmin, b.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := w.svc.UnpinAgentName(ctx, watchAdmin, b.ID); err != nil {
			t.Fatalf("unpin again: %v", err)
		}
		if recs := w.one(t, control.AuditNameUnpinned); recs[0].Subject != b.ID {
			t.Errorf("unpin record: got subject %s, want %s", recs[0].Subject, b.ID)
		}
		// Unpinned, B reports A's pinned name: it does not go by it.
		if v := w.agentView(t, b.ID); !strings.HasPrefix(v.Name, "ws-01 (unverified, ") || v.PinnedName != "" || v.HostnameMismatch || slices.Contains(v.Groups, "builders") {
			t.Errorf("B unpinned reporting A's pinned ws-01: got %+v, want ws-01 (unverified, …), out of builders", v)
		}
		if _, err := w.svc.UnpinAgentName(ctx, watchAdmin, "agt_aaaaaaaaaaaaaaaa"); hoist.ErrorCode(err) != hoist.ENotFound {
			t.Errorf("unpin an unknown agent: got %v, want not found", err)
		}
	})
}
