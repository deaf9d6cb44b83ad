package e2e_test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hoist-jit/hoist/link"
	"github.com/hoist-jit/hoist/testenv"
	"github.com/hoist-jit/hoist/wire"
)

// prober asks a server's API questions without pause and keeps what it
// saw: every status, and each answer that breaks the promise (a 5xx other
// than 503, or a 503 without Retry-After).
type prober struct {
	mu     sync.Mutex
	counts map[string]int
	broken []string
	stop   chan struct{}
	done   sync.WaitGroup
}

func newProber() *prober { return &prober{counts: map[string]int{}, stop: make(chan struct{})} }

// watch probes a's server: an authenticated read, and /healthz, which
// answers even without the database.
func (p *prober) watch(name string, a *admin) {
	p.done.Add(1)
	go func() {
		defer p.done.Done()
		for {
			select {
			case <-p.stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			for _, path := range []string{"/api/v1/requests", "/api/v1/sessions", "/healthz"} {
				r := a.do("GET", path, nil)
				p.note(name, path, r)
			}
		}
	}()
}

func (p *prober) note(name, path string, r reply) {
	p.mu.Lock()
	defer p.mu.Unlock()
	key := fmt.Sprintf("%s %d", name, r.status)
	if r.err != nil {
		key = name + " no answer"
	}
	p.counts[key]++
	switch {
	case r.err != nil:
		p.broken = append(p.broken, fmt.Sprintf("%s %s: no answer: %v", name, path, r.err))
	case path == "/healthz" && r.status != 200:
		p.broken = append(p.broken, fmt.Sprintf("%s %s: %d, want 200 (the process is alive)", name, path, r.status))
	case r.status == 503 && r.retryAfter == "":
		p.broken = append(p.broken, fmt.Sprintf("%s %s: 503 without Retry-After: %s", name, path, r.body))
	case r.status >= 500 && r.status != 503:
		p.broken = append(p.broken, fmt.Sprintf("%s %s: %d: %s", name, path, r.status, r.body))
	}
}

// finish stops probing and fails t for every broken promise.
func (p *prober) finish(t *testing.T) {
	t.Helper()
	close(p.stop)
	p.done.Wait()
	keys := make([]string, 0, len(p.counts))
	for k := range p.counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s: %d", k, p.counts[k]))
	}
	figure(t, "postgres.probes", "%s", strings.Join(parts, ", "))
	for i, b := range p.broken {
		if i == 10 {
			t.Errorf("… and %d more", len(p.broken)-10)
			break
		}
		t.Error(b)
	}
}

// approveUntil approves id on a (for 1h), asking again while the answer
// is a 503 or none at all; it returns the session the approval made.
// Anything else is a failure.
func approveUntil(t *testing.T, a *admin, id string) (session string, tries int) {
	for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		tries++
		r := a.do("POST", "/api/v1/requests/approve", wire.ApproveBody{IDs: []string{id}, Duration: "1h"})
		if r.err != nil || r.status == 503 {
			continue
		}
		var ans struct {
			Results []wire.ResultView `json:"results"`
		}
		if r.status != 200 || json.Unmarshal(r.body, &ans) != nil || len(ans.Results) != 1 {
			t.Errorf("approve %s: %d %s", id, r.status, r.body)
			return "", tries
		}
		res := ans.Results[0]
		switch {
		case res.OK && res.Session != nil:
			return res.Session.ID, tries
		case res.Code == "unavailable":
			continue
		case res.Code == "conflict" && tries > 1:
			// An earlier try was committed but its answer lost (the
			// connection dropped after the commit): the request is
			// approved already. The test finds its session below.
			return "", tries
		}
		t.Errorf("approve %s: %+v", id, res)
		return "", tries
	}
	t.Errorf("approve %s: no answer but 503 for 90s", id)
	return "", tries
}

// TestFaultPostgresRestart restarts PostgreSQL under two hoist-server
// replicas while an agent polls one of them and an approver approves on
// the other: the servers answer 503 with Retry-After while the database
// is gone (never 500), reconnect by themselves, and afterwards every
// approval exists once, every grant reached the agent once, and the audit
// chain verifies. While the database is down, a session already running
// goes on.
func TestFaultPostgresRestart(t *testing.T) {
	testenv.RequireRoot(t)
	pg := newPGCluster(t)
	url := pg.url("hoist")
	dir := t.TempDir()
	a := startServerProc(t, dir, freeAddr(t), url)
	b := startServerProc(t, dir, freeAddr(t), url, "--audit-checkpoints", filepath.Join(dir, "audit-checkpoints-b"))
	adA, adB := a.admin(), b.admin()
	adA.enableJIT()
	agent := newHoistd(t, a, adA.enrollToken(), "") // polls replica a
	keeper := testenv.NewUser(t)
	users := make([]testenv.User, scale(3, 6))
	for i := range users {
		users[i] = testenv.NewUser(t)
	}
	// A session that runs through every outage.
	keep := agent.request(keeper, "--for 1h --reason keeper")
	if s, _ := approveUntil(t, adB, keep); s == "" {
		t.Fatal("the keeper's approval failed")
	}
	testenv.WaitUntil(t, "the keeper's session", func() bool { return agent.status(keeper).State == "active" })

	probes := newProber()
	probes.watch("a", adA)
	probes.watch("b", adB)

	approved := map[string]string{} // request → session, as the approval answered
	cases := []struct {
		mode string
		down time.Duration // 0: pg_ctl restart; else stopped this long
	}{{"fast", 0}, {"immediate", 0}, {"fast", 3 * time.Second}, {"immediate", 3 * time.Second}}
	for round := range scale(1, 3) {
		for _, tc := range cases {
			ids := make([]string, len(users))
			for i, u := range users {
				ids[i] = agent.request(u, "--for 1h --reason "+tc.mode)
			}
			var restarted sync.WaitGroup
			restarted.Add(1)
			var back time.Time
			go func() {
				defer restarted.Done()
				if tc.down == 0 {
					pg.restart(tc.mode)
				} else {
					pg.stopFor(tc.mode, tc.down)
				}
				back = time.Now()
			}()
			// While it is down: the agent's session goes on.
			if code, out, errOut := agent.sh(keeper, "hoist run -- id -u"); code != 0 || out != "0\n" {
				t.Errorf("%s: hoist run in a running session while PostgreSQL restarts: %d %q %q", tc.mode, code, out, errOut)
			}
			tries := 0
			for i, id := range ids {
				ad := adB
				if i%2 == 1 {
					ad = adA
				}
				s, n := approveUntil(t, ad, id)
				tries += n
				approved[id] = s
			}
			restarted.Wait()
			testenv.WaitUntil(t, "every approved user's session on the agent", func() bool {
				for _, u := range users {
					if agent.status(u).State != "active" {
						return false
					}
				}
				return true
			})
			took := time.Since(back)
			figure(t, fmt.Sprintf("postgres.%s.down%s.round%d", tc.mode, tc.down, round),
				"%d approvals took %d tries; every session active on the agent %s after PostgreSQL accepted connections",
				len(ids), tries, took.Round(10*time.Millisecond))
			// Not a timing window: a push arrives in well under a second, a
			// missed one only when the long poll times out (link.PollWait).
			if took > link.PollWait/2 {
				t.Errorf("%s: the approvals reached the agent %s after the restart: a notification was lost and the long poll timed out", tc.mode, took)
			}
			for _, u := range users {
				if code, _, errOut := agent.sh(u, "hoist exit"); code != 0 {
					t.Fatalf("hoist exit: %d %s", code, errOut)
				}
			}
		}
	}
	probes.finish(t)
	if code, out, _ := agent.sh(keeper, "hoist run -- id -u"); code != 0 || out != "0\n" {
		t.Errorf("the keeper's session after every restart: %d %q", code, out)
	}

	// Everything the agent recorded has arrived; then each approval is
	// there once and each grant started one session.
	var recs []map[string]int
	testenv.WaitUntil(t, "the agent's records of every session on the server", func() bool {
		n, ns := byAction(adA.audit())
		recs = []map[string]int{n, ns}
		return n["agent.session.ended"] >= len(approved)
	})
	n, ns := recs[0], recs[1]
	for id, s := range approved {
		if got := ns["request.approved "+id]; got != 1 {
			t.Errorf("request %s: %d request.approved records, want 1", id, got)
		}
		if s != "" {
			if got := ns["agent.session.started "+s]; got != 1 {
				t.Errorf("session %s: started %d times on the agent, want once", s, got)
			}
		}
	}
	if got, want := n["request.approved"], len(approved)+1; got != want {
		t.Errorf("%d request.approved records, want %d (one per approval and the keeper's)", got, want)
	}
	if got, want := n["agent.session.started"], len(approved)+1; got != want {
		t.Errorf("%d agent.session.started records, want %d", got, want)
	}
	adA.verifyAudit()
	adB.verifyAudit()
}
