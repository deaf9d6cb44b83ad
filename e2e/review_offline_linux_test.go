package e2e_test

import (
	"crypto/rand"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/agent"
	"github.com/hoist-jit/hoist/testenv"
)

// TestReviewOtherUserCannotBurnEmergencyCodes: another local account
// (one the JIT policy never lets ask, a service account for instance) types
// well-formed guesses at hoist request --response. The machine's back-off
// must not lock the rightful user's emergency code out: the break-glass
// path is exactly for when nothing else works.
func TestReviewOtherUserCannotBurnEmergencyCodes(t *testing.T) {
	of, code := offlineWithEmergencyCode(t)
	f := of.fleet

	mallory := testenv.NewUser(t)
	for i := range agent.MaxOfflineFailures {
		if i > 0 && i%10 == 0 {
			of.clk.Add(time.Minute) // past the per-user ask limit, well within the back-off's hour
		}
		var b [8]byte
		_, _ = rand.Read(b[:])
		if status, _ := of.respond(mallory, hoist.FormatCode(binary.BigEndian.Uint64(b[:]))); status == 0 {
			t.Fatal("a random guess was accepted")
		}
	}
	if status, errOut := of.respond(f.user, code); status != 0 {
		t.Fatalf("after another account's %d guesses, the rightful user's emergency code: exit %d, %q", agent.MaxOfflineFailures, status, errOut)
	}
}

// TestReviewOneUserCannotExhaustChallenges: one user asking for offline
// challenges over and over must not leave another user unable to get one.
func TestReviewOneUserCannotExhaustChallenges(t *testing.T) {
	f := newOfflineFleet(t)
	other := testenv.NewUser(t)
	for i := 0; i < 300; i++ {
		if i > 0 && i%15 == 0 {
			f.clk.Add(time.Minute + time.Second) // past the per-user ask limit
		}
		status, _, errOut := f.shAs(f.user, "hoist request --offline --for 10m")
		if status != 0 {
			if strings.Contains(errOut, "too many offline challenges") {
				break
			}
			t.Fatalf("challenge %d: exit %d, %q", i, status, errOut)
		}
	}
	if status, _, errOut := f.shAs(other, "hoist request --offline --for 10m"); status != 0 {
		t.Fatalf("after one user's challenges, another user's: exit %d, %q", status, errOut)
	}
}

// TestReviewOfflineStateSurvivesRestart: what users can put in the offline
// state (challenges with their reasons) must keep it readable at the next
// start; a state file past hoistd's read limit is taken as damaged, which
// forgets the emergency codes used here and locks every response out.
func TestReviewOfflineStateSurvivesRestart(t *testing.T) {
	f := newOfflineFleet(t)
	reason := strings.Repeat("<", 1000) // JSON writes each as \u003c
	for i := 0; i < 300; i++ {
		if i > 0 && i%15 == 0 {
			f.clk.Add(time.Minute + time.Second)
		}
		status, _, errOut := f.shAs(f.user, "hoist request --offline --for 10m --reason '"+reason+"'")
		if status != 0 {
			if strings.Contains(errOut, "too many offline challenges") {
				break
			}
			t.Fatalf("challenge %d: exit %d, %q", i, status, errOut)
		}
	}
	st, err := os.Stat(filepath.Join(f.state, "offline.json"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() > 1<<20 {
		t.Fatalf("offline.json is %d bytes, past the 1 MiB hoistd reads back at its start: the next start treats it as damaged", st.Size())
	}
}

// TestReviewUsedEmergencyCodeStaysUsedAcrossRestart: docs/offline.md says a
// machine refuses a used emergency code a second time even offline and
// across restarts. The user who used it fills the offline state with
// challenges (long reasons), hoistd restarts and takes the file as damaged;
// once its back-off hour is over the code must still be refused.
func TestReviewUsedEmergencyCodeStaysUsedAcrossRestart(t *testing.T) {
	of, code := offlineWithEmergencyCode(t)
	f := of.fleet
	if status, errOut := of.respond(f.user, code); status != 0 {
		t.Fatalf("the emergency code, first use: exit %d, %q", status, errOut)
	}
	of.clk.Add(21 * time.Minute)
	testenv.WaitUntil(t, "the emergency session to end", func() bool { return f.agent.Status(f.user.Name).State != "active" })
	reason := strings.Repeat("<", 1000)
	for i := 0; i < 300; i++ {
		if i > 0 && i%15 == 0 {
			of.clk.Add(time.Minute + time.Second)
		}
		status, _, errOut := f.shAs(f.user, "hoist request --offline --for 10m --reason '"+reason+"'")
		if status != 0 {
			if strings.Contains(errOut, "too many offline challenges") {
				break
			}
			t.Fatalf("challenge %d: exit %d, %q", i, status, errOut)
		}
	}
	f.restartAgent()
	of.clk.Add(61 * time.Minute)
	if status, _ := of.respond(f.user, code); status == 0 {
		t.Fatal("a used emergency code started a second session after a restart")
	}
}

// TestReviewExpiredEmergencyCodeRefusedOffline: an emergency code expires
// 90 days after its issue (control.EmergencyCodeTTL); a machine that has
// been offline since must refuse it then, as the server would.
func TestReviewExpiredEmergencyCodeRefusedOffline(t *testing.T) {
	of, code := offlineWithEmergencyCode(t)
	f := of.fleet
	of.clk.Add(91 * 24 * time.Hour)
	if status, _ := of.respond(f.user, code); status == 0 {
		t.Fatal("an emergency code 91 days after its issue (expired) started a session on a machine offline since")
	}
}

// offlineWithEmergencyCode is a machine that received one emergency code
// (20 minutes) in its bundle and then lost its server for good.
func offlineWithEmergencyCode(t *testing.T) (*offlineFleet, string) {
	t.Helper()
	clk := testenv.NewClock(time.Now())
	dir := t.TempDir()
	srv := startClockedServer(t, dir, "127.0.0.1:0", clk)
	f := newFleetOn(t, srv, func(c *agent.Config) { c.Clock = clk })
	codes, err := srv.Service().IssueEmergencyCodes(ctx, adminActor, f.view().ID, "", 1, 20*time.Minute)
	if err != nil || len(codes) != 1 {
		t.Fatalf("issue: %+v, %v", codes, err)
	}
	f.settled()
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	return &offlineFleet{fleet: f, clk: clk, dir: dir, addr: strings.TrimPrefix(srv.URL(), "https://")}, codes[0].Code
}
