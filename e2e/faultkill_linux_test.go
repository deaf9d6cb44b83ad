package e2e_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/testenv"
	"github.com/hoist-jit/hoist/wire"
)

// batch posts one batch decision (approve for 1h, or revoke) and returns
// the results, or nil when no whole answer came back.
func batch(a *admin, what string, ids []string) []wire.ResultView {
	var body any = wire.BatchBody{IDs: ids, Reason: "fault suite"}
	if what == "approve" {
		body = wire.ApproveBody{IDs: ids, Duration: "1h"}
	}
	path := "/api/v1/requests/approve"
	if what == "revoke" {
		path = "/api/v1/sessions/revoke"
	}
	r := a.do("POST", path, body)
	var ans struct {
		Results []wire.ResultView `json:"results"`
	}
	if r.err != nil || r.status != 200 || json.Unmarshal(r.body, &ans) != nil {
		return nil
	}
	return ans.Results
}

// requestView is GET /api/v1/requests/{id}.
func (a *admin) requestView(id string) wire.RequestView {
	a.t.Helper()
	var v wire.RequestView
	a.must("GET", "/api/v1/requests/"+id, nil, &v)
	return v
}

// TestFaultServerKill9 kills hoist-server with SIGKILL while it works
// through batches of approvals and revokes. After the restart each
// decision happened entirely or not at all: a request is approved with its
// session and both audit records, or still pending with neither; and once
// the approver finishes the batches, the agent converges (approved users
// active, revoked ones ended).
func TestFaultServerKill9(t *testing.T) {
	testenv.RequireRoot(t)
	dir := t.TempDir()
	s := startServerProc(t, dir, freeAddr(t), "")
	ad := s.admin()
	ad.enableJIT()
	agent := newHoistd(t, s, ad.enrollToken(), "")
	users := make([]testenv.User, scale(6, 12)) // even: pairs
	for i := range users {
		users[i] = testenv.NewUser(t)
	}
	var killedAt []time.Duration
	var recovered, afterUp, afterDecided []time.Duration
	var landed []string      // approvals committed before each kill
	all := map[string]bool{} // request id → revoked
	for round := range scale(3, 12) {
		ids := make([]string, len(users))
		for i, u := range users {
			ids[i] = agent.request(u, fmt.Sprintf("--for 1h --reason round-%d", round))
		}
		var revoke []string
		for i, id := range ids {
			all[id] = i%2 == 0
			if i%2 == 0 {
				revoke = append(revoke, id)
			}
		}
		// The approver's batches, and SIGKILL somewhere inside them.
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Batches of two approvals, each followed by the revoke of one
			// of the two, until the server stops answering.
			for i := 0; i+1 < len(ids); i += 2 {
				if batch(ad, "approve", ids[i:i+2]) == nil || batch(ad, "revoke", ids[i:i+1]) == nil {
					return
				}
			}
		}()
		delay := time.Duration(rand.N(int64(120 * time.Millisecond)))
		time.Sleep(delay) // where the kill lands: the fault, not a wait
		s.kill9()
		killedAt = append(killedAt, delay)
		wg.Wait()
		start := time.Now()
		s.start()
		up := time.Now()
		ad = s.admin()

		// All or nothing, for every decision of the round.
		recs := ad.audit()
		_, ns := byAction(recs)
		done := 0
		for _, id := range ids {
			v := ad.requestView(id)
			switch v.State {
			case hoist.RequestPending:
				if ns["request.approved "+id] != 0 || v.SessionID != "" {
					t.Errorf("request %s is pending but has an approval record (%d) or a session %q", id, ns["request.approved "+id], v.SessionID)
				}
			case hoist.RequestApproved:
				done++
				if ns["request.approved "+id] != 1 || v.SessionID == "" || ns["session.started "+v.SessionID] != 1 {
					t.Errorf("request %s is approved: %d approval records, session %q with %d start records; want 1, a session, 1",
						id, ns["request.approved "+id], v.SessionID, ns["session.started "+v.SessionID])
				}
			default:
				t.Errorf("request %s is %s after the kill", id, v.State)
			}
		}
		landed = append(landed, fmt.Sprintf("%d/%d", done, len(ids)))
		// The approver finishes the batches on the restarted server.
		for _, res := range batch(ad, "approve", ids) {
			if !res.OK && res.Code != hoist.EConflict {
				t.Errorf("approve again %s: %+v", res.ID, res)
			}
		}
		for _, res := range batch(ad, "revoke", revoke) {
			if !res.OK && res.Code != hoist.EConflict && res.Code != hoist.ENotFound {
				t.Errorf("revoke again %s: %+v", res.ID, res)
			}
		}
		decided := time.Now()
		testenv.WaitUntil(t, "the agent to converge: approved users active, revoked ones ended", func() bool {
			for i, u := range users {
				st := agent.status(u).State
				if (i%2 == 0) != (st != "active") {
					return false
				}
			}
			return true
		})
		recovered = append(recovered, time.Since(start))
		afterUp = append(afterUp, time.Since(up))
		afterDecided = append(afterDecided, time.Since(decided))
		for i, u := range users {
			if i%2 == 1 {
				if code, _, errOut := agent.sh(u, "hoist exit"); code != 0 {
					t.Fatalf("hoist exit: %d %s", code, errOut)
				}
			}
		}
	}
	figure(t, "kill9.rounds", "%d rounds of %d approvals and %d revokes; SIGKILL %v after the batch began, with %v approvals committed; agent converged %v after the restart began",
		len(killedAt), len(users), (len(users)+1)/2, roundAll(killedAt), landed, roundAll(recovered))
	// The part that is the agent's: the restart itself and the approver's
	// checks and decisions on the restarted server come first.
	figure(t, "kill9.agent", "agent converged %v after the restarted server answered /healthz, %v after the approver's last decision", roundAll(afterUp), roundAll(afterDecided))

	// Everything once, and the chain intact.
	testenv.WaitUntil(t, "every session's end on the server", func() bool {
		n, _ := byAction(ad.audit())
		return n["agent.session.ended"] >= len(all)
	})
	n, ns := byAction(ad.audit())
	for id := range all {
		if ns["request.approved "+id] != 1 {
			t.Errorf("request %s: %d approval records, want 1", id, ns["request.approved "+id])
		}
	}
	if n["session.started"] != len(all) || n["agent.session.started"] != len(all) {
		t.Errorf("%d sessions started on the server, %d on the agent; want %d each", n["session.started"], n["agent.session.started"], len(all))
	}
	ad.verifyAudit()
}

func roundAll(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(10 * time.Millisecond)
	}
	return out
}
