package wire_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/wire"
)

// TestFactsWithoutSessionsAreAsBefore: an agent with no session to report
// sends the facts a server older than the report knows, field for field.
func TestFactsWithoutSessionsAreAsBefore(t *testing.T) {
	body, err := json.Marshal(wire.AgentFacts{Hostname: "ws-01", Version: "0.1.0", OS: "linux", Kernel: "6.1"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(body), `{"hostname":"ws-01","version":"0.1.0","os":"linux","kernel":"6.1"}`; got != want {
		t.Fatalf("facts = %s, want %s", got, want)
	}
}

func TestSessionReportChecks(t *testing.T) {
	good := wire.AgentSession{ID: hoist.NewID(hoist.SessionIDPrefix), User: "alice", State: wire.SessionReportEnded,
		NotAfter: time.Now(), EndedAt: time.Now(), Unkillable: []int{1, 4194304}}
	far := good
	far.ID, far.NotAfter = hoist.NewID(hoist.SessionIDPrefix), time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC) // the server judges it
	if err := wire.CheckSessions([]wire.AgentSession{good, far}); err != nil {
		t.Fatalf("a good report: %v", err)
	}
	bad := func(f func(*wire.AgentSession)) wire.AgentSession { s := good; f(&s); return s }
	for name, s := range map[string]wire.AgentSession{
		"id":        bad(func(s *wire.AgentSession) { s.ID = "ses_x" }),
		"user":      bad(func(s *wire.AgentSession) { s.User = "a\nb" }),
		"long":      bad(func(s *wire.AgentSession) { s.User = strings.Repeat("u", 257) }),
		"state":     bad(func(s *wire.AgentSession) { s.State = "Active" }),
		"not_after": bad(func(s *wire.AgentSession) { s.NotAfter = time.Time{} }),
		"ended_at":  bad(func(s *wire.AgentSession) { s.EndedAt = time.Unix(1, 0) }),
		"pid":       bad(func(s *wire.AgentSession) { s.Unkillable = []int{0} }),
		"big pid":   bad(func(s *wire.AgentSession) { s.Unkillable = []int{1<<22 + 1} }),
	} {
		if err := s.Check(); hoist.ErrorCode(err) != hoist.EInvalid {
			t.Errorf("%s: %v, want %s", name, err, hoist.EInvalid)
		}
	}
	if err := wire.CheckSessions([]wire.AgentSession{good, good}); hoist.ErrorCode(err) != hoist.EInvalid {
		t.Errorf("a session twice: %v, want %s", err, hoist.EInvalid)
	}
}
