package e2e_test

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/testenv"
)

// footprint is what a process holds: open fds, RSS, and goroutines (the
// server's /metrics) or threads (hoistd, from /proc).
type footprint struct {
	fds, rssKB, routines int
}

func (f footprint) String() string {
	return fmt.Sprintf("%d fds, %d goroutines/threads, %d MiB RSS", f.fds, f.routines, f.rssKB/1024)
}

// procFootprint reads pid's fds, threads and RSS from /proc.
func procFootprint(pid int) footprint {
	var f footprint
	fds, _ := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	f.fds = len(fds)
	data, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	for _, line := range strings.Split(string(data), "\n") {
		k, v, _ := strings.Cut(line, ":")
		n, _ := strconv.Atoi(strings.Fields(v + " 0")[0])
		switch k {
		case "VmRSS":
			f.rssKB = n
		case "Threads":
			f.routines = n
		}
	}
	return f
}

// serverFootprint is the server's, with its goroutines from /metrics.
func serverFootprint(s *serverProc, metrics string) footprint {
	f := procFootprint(s.cmd.Process.Pid)
	resp, err := http.Get("http://" + metrics + "/metrics")
	if err != nil {
		return f
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
			f.routines, _ = strconv.Atoi(v)
		}
	}
	return f
}

// soakWindow is each soak session's approved window: a few seconds.
const soakWindow = 5 * time.Second

// TestFaultSoak runs many short sessions for five users at once (hoist run
// and sudo in each: hoistd's sudo integration is on, under an instance of
// the test's own that is removed after), then checks that server and agent
// give back what they took — fds, goroutines or threads, and (as a figure)
// RSS — and that the audit holds every session and program once.
func TestFaultSoak(t *testing.T) {
	testenv.RequireRoot(t)
	metrics := freeAddr(t)
	s := startServerProc(t, t.TempDir(), freeAddr(t), "", "--metrics-listen", metrics)
	ad := s.admin()
	ad.enableJIT()
	agent := newHoistdSudo(t, s, ad.enrollToken())
	users := make([]testenv.User, 5)
	for i := range users {
		users[i] = testenv.NewUser(t)
	}
	total := scale(25, 1000)

	// One session each first, so that the baseline has every pool warm.
	var mu sync.Mutex
	sessions := map[string]bool{} // started on the agent
	missed := map[string]bool{}   // approved, and reached hoistd after their window
	var sudoRan, sudoTried atomic.Int64
	one := func(u testenv.User, n int) {
		id := agent.request(u, "--for 1h --reason soak")
		var ans struct {
			Results []struct {
				OK      bool `json:"ok"`
				Session *struct {
					ID string `json:"id"`
				} `json:"session"`
			} `json:"results"`
		}
		ad.must("POST", "/api/v1/requests/approve", map[string]any{"ids": []string{id}, "duration": soakWindow.String()}, &ans)
		approvedAt := time.Now()
		if len(ans.Results) != 1 || ans.Results[0].Session == nil {
			t.Errorf("approve %s: %+v", id, ans)
			return
		}
		sid := ans.Results[0].Session.ID
		// Its window may be over before a look sees it active: wait for
		// the session, active or ended. On a loaded machine the grant may
		// even reach hoistd after its window (hoistd starts grants one at
		// a time, and with sudo each start rewrites sudo's files): hoistd
		// refuses it then, as it must, and the session is counted apart.
		waitFor(t, "the soak session", 2*time.Minute, func() bool {
			return agent.status(u).SessionID == sid || time.Since(approvedAt) > soakWindow+time.Minute
		})
		if agent.status(u).SessionID != sid {
			mu.Lock()
			missed[sid] = true
			mu.Unlock()
			return
		}
		mu.Lock()
		sessions[sid] = true
		mu.Unlock()
		if code, out, errOut := agent.sh(u, "hoist run -- id -u"); code != 0 || out != "0\n" {
			// The window may end first on a loaded machine: that is the
			// refusal, not a failure.
			if !strings.Contains(errOut, "not active") {
				t.Errorf("hoist run in a soak session: %d %q %q", code, out, errOut)
			}
		}
		// sudo elevates in the session once hoistd has put the user's
		// drop-in in place, a moment after the start.
		waitFor(t, "sudo in the soak session", time.Minute, func() bool {
			st := agent.status(u)
			return st.SessionID != sid || st.State != "active" || st.Sudo
		})
		sudoTried.Add(1)
		if code, out, errOut := agent.sh(u, "sudo -n id -u"); code == 0 && out == "0\n" {
			sudoRan.Add(1)
		} else if st := agent.status(u); st.SessionID == sid && st.State == "active" {
			t.Errorf("sudo in an active soak session: %d %q %q", code, out, errOut)
		} // else the window ended first: sudo is refused then, as it should
		if n%4 != 0 {
			agent.sh(u, "hoist exit") // three in four end early, the others by their window
		}
		waitFor(t, "the soak session to end", time.Minute, func() bool { return agent.status(u).State != "active" })
	}
	var wg sync.WaitGroup
	for _, u := range users {
		wg.Add(1)
		go func() { defer wg.Done(); one(u, 0) }()
	}
	wg.Wait()
	time.Sleep(3 * time.Second) // let idle connections settle before the baseline: a measurement, not a wait for an event
	baseS, baseA := serverFootprint(s, metrics), procFootprint(agent.cmd.Process.Pid)

	start := time.Now()
	per := (total - len(users)) / len(users)
	for _, u := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range per {
				one(u, n)
			}
		}()
	}
	wg.Wait()
	ran := time.Since(start)
	var endS, endA footprint
	settle := waitFor(t, "server and agent back near their baseline", 2*time.Minute, func() bool {
		endS, endA = serverFootprint(s, metrics), procFootprint(agent.cmd.Process.Pid)
		return endS.fds <= baseS.fds+4 && endS.routines <= baseS.routines+10 && endA.fds <= baseA.fds+4
	})
	figure(t, "soak", "%d sessions for %d users in %s (%d more reached hoistd after their %s window), sudo ran in %d; server %s → %s, hoistd %s → %s (settled in %s)",
		len(sessions), len(users), ran.Round(time.Second), len(missed), soakWindow, sudoRan.Load(), baseS, endS, baseA, endA, settle.Round(10*time.Millisecond))
	if sudoRan.Load() == 0 {
		t.Errorf("sudo ran in none of the %d sessions", len(sessions))
	}

	// Every session ended, and the audit has each record once.
	waitFor(t, "every session's end on the server", 2*time.Minute, func() bool {
		n, _ := byAction(ad.audit())
		return n["agent.session.ended"] >= len(sessions)
	})
	n, ns := byAction(ad.audit())
	for sid := range missed {
		if ns["agent.session.started "+sid] != 0 {
			t.Errorf("session %s started on the agent after its window", sid)
		}
	}
	for sid := range sessions {
		for _, action := range []string{"session.started", "agent.session.started", "agent.session.ended"} {
			if ns[action+" "+sid] != 1 {
				t.Errorf("session %s: %d %s records, want 1", sid, ns[action+" "+sid], action)
			}
		}
	}
	// hoist run's and sudo's: at most two a session, each with its end —
	// a sudo whose session ended while it ran (the window, on a loaded
	// machine) too: its end comes from its close after the session's, or
	// from the session's end if the end killed it.
	recs := ad.audit()
	started, ended := viaSudo(recs, "agent.command.started"), viaSudo(recs, "agent.command.ended")
	if n["agent.command.started"] != n["agent.command.ended"] || n["agent.command.started"] > 2*len(sessions) {
		t.Errorf("%d programs started, %d ended (%d and %d of them through sudo), for %d sessions",
			n["agent.command.started"], n["agent.command.ended"], started, ended, len(sessions))
	}
	// Each sudo once: every one that ran, at most every one tried.
	if started < int(sudoRan.Load()) || started > int(sudoTried.Load()) || ended != started {
		t.Errorf("%d sudo commands started and %d ended on the server; %d ran and %d were tried", started, ended, sudoRan.Load(), sudoTried.Load())
	}
	figure(t, "soak.sudo", "sudo: %d tried, %d ran; on the server %d started, %d ended", sudoTried.Load(), sudoRan.Load(), started, ended)
	var active struct {
		Sessions []struct {
			ID string `json:"id"`
		} `json:"sessions"`
	}
	ad.must("GET", "/api/v1/sessions?state=active", nil, &active)
	if len(active.Sessions) != 0 {
		t.Errorf("%d sessions still active on the server after the soak", len(active.Sessions))
	}
	ad.verifyAudit()
}

// viaSudo counts the records of action about programs run through sudo.
func viaSudo(recs []hoist.AuditRecord, action string) int {
	n := 0
	for _, r := range recs {
		if r.Action == action && strings.Contains(string(r.Detail), `"via":"sudo"`) {
			n++
		}
	}
	return n
}
