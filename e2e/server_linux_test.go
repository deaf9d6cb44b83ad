package e2e_test

import (
	"strings"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/link"
	"github.com/hoist-jit/hoist/pgtest"
	"github.com/hoist-jit/hoist/server"
	"github.com/hoist-jit/hoist/testenv"
)

// TestReplicasOnPostgreSQL runs two servers on one database: the agent
// long-polls one, the approval is made on the other, and it still arrives
// at once (PostgreSQL NOTIFY), with the shared CA and grant key.
func TestReplicasOnPostgreSQL(t *testing.T) {
	url := pgtest.URL(t)
	dir := t.TempDir() // the replicas share the CA and the grant key
	start := func() *server.Main {
		m, err := server.Start(ctx, server.Config{DataDir: dir, DatabaseURL: url, Listen: "127.0.0.1:0",
			AdminPassword: "correct horse battery staple", Settings: hoist.DefaultApprovalSettings()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		return m
	}
	a, b := start(), start()
	f := newFleetOn(t, a) // enrolled with a, polling a
	id := f.request("--for 1h")
	approved := time.Now()
	if res, err := b.Service().Approve(ctx, adminActor, []string{id}, time.Hour, ""); err != nil || !res[0].OK {
		t.Fatalf("approve on the other replica: %+v %v", res, err)
	}
	testenv.WaitUntil(t, "the approval made on replica b to reach the agent on replica a", func() bool {
		return f.agent.Status(f.user.Name).State == "active"
	})
	took := time.Since(approved)
	t.Logf("approval on b reached the agent polling a in %s", took)
	if took > link.PollWait/2 {
		t.Fatalf("the approval took %s: it waited for a poll to time out instead of being pushed", took)
	}
	if code, out, _ := f.sh("hoist run -- id -u"); code != 0 || out != "0\n" {
		t.Fatalf("hoist run after a cross-replica approval: %d %q", code, out)
	}
}

// TestServerOutageMidSession stops the server in the middle of a session:
// the agent goes on by its own clock — programs run, the window ends on
// time — and when the server is back, everything the agent recorded
// arrives, once.
func TestServerOutageMidSession(t *testing.T) {
	dir := t.TempDir()
	first := startServerAt(t, dir, "127.0.0.1:0")
	addr := strings.TrimPrefix(first.URL(), "https://")
	f := newFleetOn(t, first)
	id := f.request("--for 4s")
	if res, _ := first.Service().Approve(ctx, adminActor, []string{id}, 4*time.Second, ""); !res[0].OK {
		t.Fatalf("approve: %+v", res)
	}
	testenv.WaitUntil(t, "the session", func() bool { return f.agent.Status(f.user.Name).State == "active" })
	// Let what happened so far arrive, so that the counts below are the
	// outage's own.
	testenv.WaitUntil(t, "the session start on the server", func() bool { return countActions(first)["agent.session.started"] == 1 })
	before := countActions(first)
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	// The server is gone: elevation still works until the window's end…
	if code, out, errOut := f.sh("hoist run -- id -u; hoist run -- true"); code != 0 || out != "0\n" {
		t.Fatalf("hoist run during the outage: %d %q %q", code, out, errOut)
	}
	// …and the window still ends on time, by the agent's clock.
	testenv.WaitUntil(t, "the session to end by the agent's clock", func() bool { return f.agent.Status(f.user.Name).State == "ended" })
	if st := f.agent.Status(f.user.Name); st.EndReason != "expired" {
		t.Fatalf("end reason %q, want expired", st.EndReason)
	}

	second := startServerAt(t, dir, addr) // same data, same address
	want := map[string]int{"agent.command.started": 2, "agent.command.ended": 2, "agent.session.ended": 1}
	got := map[string]int{}
	testenv.WaitUntil(t, "the queued events on the restarted server", func() bool {
		got = countActions(second)
		for k, n := range want {
			if got[k]-before[k] < n {
				return false
			}
		}
		return true
	})
	// Deliver again and again: nothing is recorded twice.
	for range 3 {
		if err := f.link.Deliver(ctx); err != nil {
			t.Fatal(err)
		}
	}
	after := countActions(second)
	for k, n := range want {
		if after[k]-before[k] != n {
			t.Errorf("%s: %d records for this outage, want exactly %d", k, after[k]-before[k], n)
		}
	}
	rep, err := second.Service().VerifyAudit(ctx, adminActor)
	if err != nil || !rep.OK {
		t.Fatalf("audit chain after the outage: %+v %v", rep, err)
	}
}

// TestConnectedAgentSaysConnected: while hoistd holds its long poll the
// agents view says connected (the console shows that instead of "last
// seen"); once hoistd stops, no longer.
func TestConnectedAgentSaysConnected(t *testing.T) {
	f := newFleet(t)
	testenv.WaitUntil(t, "the agent connected", func() bool { return f.view().Connected })
	f.stopAgent()
	testenv.WaitUntil(t, "the agent no longer connected", func() bool { return !f.view().Connected })
}
