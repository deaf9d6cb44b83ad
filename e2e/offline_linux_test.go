package e2e_test

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/creack/pty"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/agent"
	"github.com/hoist-jit/hoist/control"
	"github.com/hoist-jit/hoist/server"
	"github.com/hoist-jit/hoist/testenv"
)

// offlineFleet is a fleet whose server is stopped once the machine is
// enrolled and has its JIT policies: hoistd keeps trying the closed port.
// The approver's server is the same data on another port, which the
// machine does not know. Both share the test's clock with the machine.
type offlineFleet struct {
	*fleet
	clk  *testenv.Clock
	dir  string
	addr string // where the machine looks for its server
}

func startClockedServer(t *testing.T, dir, listen string, clk *testenv.Clock) *server.Main {
	t.Helper()
	m, err := server.Start(ctx, server.Config{DataDir: dir, Listen: listen, Clock: clk.Now,
		AdminPassword: "correct horse battery staple", Settings: hoist.DefaultApprovalSettings()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func newOfflineFleet(t *testing.T) *offlineFleet {
	clk := testenv.NewClock(time.Now())
	dir := t.TempDir()
	first := startClockedServer(t, dir, "127.0.0.1:0", clk)
	f := newFleetOn(t, first, func(c *agent.Config) { c.Clock = clk })
	addr := strings.TrimPrefix(first.URL(), "https://")
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	// The approver's server: the same records, on a port the machine
	// does not know.
	f.srv = startClockedServer(t, dir, "127.0.0.1:0", clk)
	return &offlineFleet{fleet: f, clk: clk, dir: dir, addr: addr}
}

// challenge runs hoist request --offline as u and returns the challenge
// on its last line.
func (f *offlineFleet) challenge(u testenv.User, args string) hoist.Challenge {
	f.t.Helper()
	code, out, errOut := f.shAs(u, "hoist request --offline "+args)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	c, err := hoist.ParseChallenge(lines[len(lines)-1])
	if code != 0 || err != nil {
		f.t.Fatalf("hoist request --offline: exit %d, %q %q (%v)", code, out, errOut, err)
	}
	return c
}

// respond runs hoist request --response as u: its exit status and stderr.
func (f *offlineFleet) respond(u testenv.User, code string) (int, string) {
	f.t.Helper()
	status, _, errOut := f.shAs(u, "hoist request --response '"+code+"'")
	return status, errOut
}

// refusedWith expects hoist request --response to fail saying want.
func (f *offlineFleet) refusedWith(u testenv.User, code, want string) {
	f.t.Helper()
	status, errOut := f.respond(u, code)
	if status == 0 || !strings.Contains(errOut, want) {
		f.t.Fatalf("hoist request --response %s: exit %d, %q; want a refusal saying %q", code, status, errOut, want)
	}
}

// TestOfflineApproval: the machine cannot reach its server; a real user
// gets JIT mode by challenge and response read over the phone, is root
// during the window and loses it at its end; each way a response can be
// wrong is refused with its reason and audited; the approval reaches the
// server, as the approver's decision, when the machine is back online.
func TestOfflineApproval(t *testing.T) {
	f := newOfflineFleet(t)
	u := f.user
	other := testenv.NewUser(t)

	// hoist request --offline asks; the machine has no server to ask.
	if code, _, errOut := f.sh("hoist request --for 1h"); code == 0 {
		t.Fatalf("hoist request with the server down succeeded: %q", errOut)
	}
	ch := f.challenge(u, "--for 1h --reason 'no VPN in the hotel'")
	if ch.Duration() != time.Hour {
		t.Fatalf("the challenge asks %s, want 1h", ch.Duration())
	}
	view, err := f.srv.Service().DecodeOfflineChallenge(ctx, adminActor, strings.ToLower(ch.String()), "")
	if err != nil || view.AgentID != f.view().ID || view.Host == "" || view.Requested != time.Hour {
		t.Fatalf("the approver sees %+v, %v; want this machine, 1h", view, err)
	}
	// The approver cannot give more than was asked.
	if _, err := f.srv.Service().ApproveOffline(ctx, adminActor, ch.String(), "", 2*time.Hour); hoist.ErrorCode(err) != hoist.EInvalid {
		t.Fatalf("approving 2h of a 1h challenge: %v, want refused", err)
	}
	resp, err := f.srv.Service().ApproveOffline(ctx, adminActor, ch.String(), "", 30*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	r, err := hoist.ParseResponse(resp.Response)
	if err != nil || r.Duration() != 30*time.Minute {
		t.Fatalf("response %q: %+v, %v", resp.Response, r, err)
	}

	// Wrong responses, each refused with its reason.
	longer := hoist.Response{Window: ch.Window, MAC: r.MAC} // the window edited up to the 1h asked
	f.refusedWith(u, longer.String(), "not the response to your challenge")
	key := make([]byte, hoist.OfflineKeySize)
	_, _ = rand.Read(key)
	f.refusedWith(u, hoist.Respond(key, ch, r.Window).String(), "another machine") // another machine's key
	f.refusedWith(u, "0000-0000-0000", "2 tries left")
	typo := []byte(resp.Response)
	typo[0] = map[bool]byte{true: 'B', false: 'A'}[typo[0] == 'A']
	f.refusedWith(u, string(typo), "mistyped") // caught by the check character: no try spent
	// Another user on the machine, with a challenge of their own, cannot
	// use this one's response.
	code, out, errOut := f.shAs(other, "hoist request --offline --for 1h --json")
	var js struct{ Challenge, Duration string }
	if err := json.Unmarshal([]byte(out), &js); code != 0 || err != nil || js.Duration != "1h" {
		t.Fatalf("hoist request --offline --json: exit %d, %q %q", code, out, errOut)
	}
	if _, err := hoist.ParseChallenge(js.Challenge); err != nil {
		t.Fatalf("--json's challenge %q: %v", js.Challenge, err)
	}
	f.refusedWith(other, resp.Response, "another user's challenge")

	// The right one: JIT mode, as root, for the window approved.
	status, errOut := f.respond(u, strings.ToLower(strings.ReplaceAll(resp.Response, "-", " ")))
	if status != 0 {
		t.Fatalf("the right response: exit %d, %q", status, errOut)
	}
	st := f.agent.Status(u.Name)
	if st.State != "active" || st.Remaining > 30*time.Minute || st.Remaining < 29*time.Minute {
		t.Fatalf("status %+v, want active for 30m", st)
	}
	if code, out, errOut := f.sh("hoist run -- id -u"); code != 0 || out != "0\n" {
		t.Fatalf("hoist run during the offline session: %d %q %q", code, out, errOut)
	}
	prog := f.command("exec hoist run -- sleep 100419")
	if err := prog.Start(); err != nil {
		t.Fatal(err)
	}
	testenv.WaitUntil(t, "the elevated program", func() bool {
		code, out, _ := f.sh("pgrep -u 0 -f '^sleep 100419$'")
		return code == 0 && out != ""
	})
	// Each challenge is answered once.
	f.refusedWith(u, resp.Response, "already answered")

	// A restart of hoistd keeps the session: its proof is checked again.
	f.restartAgent()
	if st := f.agent.Status(u.Name); st.State != "active" {
		t.Fatalf("after a restart: %+v, want the offline session active", st)
	}

	// The end of the window ends everything, by the machine's clock.
	f.clk.Add(31 * time.Minute)
	testenv.WaitUntil(t, "the offline session's end", func() bool { return f.agent.Status(u.Name).State == "ended" })
	_ = prog.Wait()
	if code, _, _ := f.sh("pgrep -u 0 -f '^sleep 100419$'"); code == 0 {
		t.Fatal("an elevated program outlived the offline session")
	}
	if code, _, _ := f.sh("hoist run -- id -u"); code != 126 {
		t.Fatalf("hoist run after the end: exit %d, want 126", code)
	}

	// An old challenge is refused, even with its right response.
	old := f.challenge(u, "--for 15m")
	oldResp, err := f.srv.Service().ApproveOffline(ctx, adminActor, old.String(), "", 0)
	if err != nil || oldResp.Approved != 15*time.Minute {
		t.Fatalf("One Time on a 15m challenge: %+v, %v; want 15m", oldResp, err)
	}
	f.clk.Add(61 * time.Minute)
	f.refusedWith(u, oldResp.Response, "older than 1h")

	// Brute force: five wrong responses spend the challenge; then even
	// the right one is refused.
	bf := f.challenge(u, "--for 10m")
	bfResp, err := f.srv.Service().ApproveOffline(ctx, adminActor, bf.String(), "", 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for i := range agent.MaxOfflineTries {
		guess := hoist.Response{Window: bf.Window, MAC: uint64(i + 1)}
		f.refusedWith(u, guess.String(), "not the response to your challenge")
	}
	f.refusedWith(u, bfResp.Response, "spent")
	// What is typed against a spent challenge may be a guess at an
	// emergency code: it counts toward the machine's hourly limit, which
	// then refuses everything.
	spent, backoff := 1, false
	for i := 0; i < agent.MaxOfflineFailures && !backoff; i++ {
		if i%10 == 9 {
			f.clk.Add(time.Minute) // past the per-user limit on asks, well within the hour
		}
		status, errOut := f.respond(u, hoist.FormatCode(uint64(1000+i)))
		switch {
		case status == 0:
			t.Fatalf("a guess against a spent challenge was let in")
		case strings.Contains(errOut, "too many wrong offline responses"):
			backoff = true
		case strings.Contains(errOut, "spent"):
			spent++
		default:
			t.Fatalf("a guess against a spent challenge: %q", errOut)
		}
	}
	if !backoff {
		t.Fatalf("%d guesses against a spent challenge, and no back-off", agent.MaxOfflineFailures)
	}
	f.refusedWith(u, bfResp.Response, "too many wrong offline responses")

	// Back online: the machine's record reaches the server, the approval
	// as the approver's decision.
	if err := f.srv.Close(); err != nil {
		t.Fatal(err)
	}
	f.srv = startClockedServer(t, f.dir, f.addr, f.clk)
	testenv.WaitUntil(t, "the offline approval on the server", func() bool { return f.auditActions()[control.AuditOfflineUsed] == 1 })
	var used hoist.AuditRecord
	whys := map[string]int{}
	_ = f.srv.Service().Audit(ctx, adminActor, hoist.AuditFilter{}, func(rec hoist.AuditRecord) error {
		switch rec.Action {
		case control.AuditOfflineUsed:
			used = rec
		case "agent.offline.refused":
			var d struct{ Why string }
			_ = json.Unmarshal(rec.Detail, &d)
			whys[d.Why]++
		}
		return nil
	})
	if used.Actor != "admin" || used.Subject != st.SessionID {
		t.Errorf("the offline approval is recorded as %q on %q, want the approver admin on session %s", used.Actor, used.Subject, st.SessionID)
	}
	testenv.WaitUntil(t, "every refusal on the server", func() bool {
		whys = map[string]int{}
		_ = f.srv.Service().Audit(ctx, adminActor, hoist.AuditFilter{Action: "agent.offline.refused"}, func(rec hoist.AuditRecord) error {
			var d struct{ Why string }
			_ = json.Unmarshal(rec.Detail, &d)
			whys[d.Why]++
			return nil
		})
		return whys["wrong"] == 8 && whys["another user"] == 1 && whys["reused"] == 1 && whys["expired"] == 1 && whys["spent"] == spent && whys["back-off"] == 2
	})
}

// TestEmergencyCode: codes issued for the machine reach it while it is
// online (a revoked one is dropped); offline, one code gives a real user
// JIT mode once and is refused the second time; back online, the server
// records the code as used and raises the use.
func TestEmergencyCode(t *testing.T) {
	clk := testenv.NewClock(time.Now())
	dir := t.TempDir()
	first := startClockedServer(t, dir, "127.0.0.1:0", clk)
	f := newFleetOn(t, first, func(c *agent.Config) { c.Clock = clk })
	agentID := f.view().ID
	codes, err := first.Service().IssueEmergencyCodes(ctx, adminActor, agentID, "", 2, 20*time.Minute)
	if err != nil || len(codes) != 2 {
		t.Fatalf("issue: %+v, %v", codes, err)
	}
	if _, err := first.Service().RevokeEmergencyCode(ctx, adminActor, codes[1].ID); err != nil {
		t.Fatal(err)
	}
	f.settled() // the machine holds the one outstanding code
	if n := len(f.agent.Bundle().Emergency); n != 1 {
		t.Fatalf("the machine holds %d emergency codes, want 1", n)
	}
	addr := strings.TrimPrefix(first.URL(), "https://")
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	of := &offlineFleet{fleet: f, clk: clk, dir: dir, addr: addr}

	of.refusedWith(f.user, codes[1].Code, "no emergency code of this machine") // revoked
	status, errOut := of.respond(f.user, codes[0].Code)
	if status != 0 {
		t.Fatalf("the emergency code: exit %d, %q", status, errOut)
	}
	st := f.agent.Status(f.user.Name)
	if st.State != "active" || !st.Emergency || st.Remaining > 20*time.Minute {
		t.Fatalf("status %+v, want an emergency session of 20m", st)
	}
	if code, out, errOut := f.sh("hoist run -- id -u"); code != 0 || out != "0\n" {
		t.Fatalf("hoist run in the emergency session: %d %q %q", code, out, errOut)
	}
	if code, _, errOut := f.sh("hoist exit"); code != 0 {
		t.Fatalf("hoist exit: %d %q", code, errOut)
	}
	of.refusedWith(f.user, codes[0].Code, "already used")

	f.srv = startClockedServer(t, dir, addr, clk)
	testenv.WaitUntil(t, "the use on the server", func() bool { return f.auditActions()[control.AuditEmergencyUsed] == 1 })
	list, err := f.srv.Service().EmergencyCodes(ctx, adminActor)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range list {
		want := map[string]string{codes[0].ID: "used", codes[1].ID: "revoked"}[c.ID]
		if got := c.State(clk.Now()); got != want || c.ID == codes[0].ID && (c.UsedBy != f.user.Name || c.UsedOn != agentID) {
			t.Errorf("code %s: %s, used by %q on %q; want %s", c.ID, got, c.UsedBy, c.UsedOn, want)
		}
	}
	// The used code leaves the machine's bundle.
	testenv.WaitUntil(t, "the used code out of the bundle", func() bool { return len(f.agent.Bundle().Emergency) == 0 })
}

// TestOfflineConsoleInChromium: an approver answers a challenge on the
// console's Offline approval page — it shows the machine and the window
// asked, approves For 30m, and the response it shows gives the user JIT
// mode on the machine that cannot reach the server; the Emergency codes
// page issues codes (shown once) and lists them. No page reports a
// browser console error.
func TestOfflineConsoleInChromium(t *testing.T) {
	f := newOfflineFleet(t)
	b := startBrowser(t)
	base := f.srv.URL()
	b.run("sign in", chromedp.Navigate(base+"/offline"), chromedp.WaitVisible(chromedp.ID("#user")),
		chromedp.SendKeys(chromedp.ID("#user"), "admin"),
		chromedp.SendKeys(chromedp.ID("#password"), "correct horse battery staple"),
		chromedp.Submit(chromedp.ID("#password")),
		chromedp.WaitVisible(chromedp.ID("#challenge")))
	if h := b.text("h1"); h != "Offline approval" {
		t.Fatalf("after sign-in the page is %q", h)
	}
	b.clean("offline")

	ch := f.challenge(f.user, "--for 1h --reason 'printer on fire'")
	b.run("check the challenge", chromedp.SendKeys(chromedp.ID("#challenge"), strings.ToLower(ch.String())),
		chromedp.Click(chromedp.ID("#decode")), chromedp.WaitVisible(chromedp.ID("#decoded")))
	if host, window := b.text("#decoded-host"), b.text("#decoded-window"); !strings.Contains(host, f.view().Name) || window != "1h" {
		t.Fatalf("the page decodes the challenge to %q, %q; want this machine, 1h", host, window)
	}
	b.clean("offline decoded")
	b.shot("offline")
	b.run("approve for 30m", chromedp.SetValue(chromedp.ID("#for"), "30m"), chromedp.Click(chromedp.ID("#approve-for")),
		chromedp.WaitVisible(chromedp.ID("#response-code")))
	code := strings.TrimSpace(b.text("#response-code"))
	if w := b.text("#response-window"); w != "30m" {
		t.Errorf("the response approves %q, want 30m", w)
	}
	if status, errOut := f.respond(f.user, code); status != 0 {
		t.Fatalf("the console's response %q: exit %d, %q", code, status, errOut)
	}
	if st := f.agent.Status(f.user.Name); st.State != "active" {
		t.Fatalf("status %+v, want active", st)
	}
	b.clean("offline response")

	// A mistyped challenge is refused on the page, as typed.
	typo := []byte(ch.String())
	typo[1] = map[bool]byte{true: '2', false: '3'}[typo[1] == '3']
	b.run("a mistyped challenge", chromedp.Navigate(base+"/offline"), chromedp.WaitVisible(chromedp.ID("#challenge")),
		chromedp.SendKeys(chromedp.ID("#challenge"), string(typo)), chromedp.Click(chromedp.ID("#decode")),
		chromedp.WaitVisible(chromedp.CSS(".flash")))
	if msg := b.text(".flash"); !strings.Contains(msg, "mistyped") {
		t.Errorf("a mistyped challenge: the page says %q", msg)
	}

	// Emergency codes: issued and shown once, then listed without values.
	b.run("open emergency codes", chromedp.Navigate(base+"/emergency"), chromedp.WaitVisible(chromedp.ID("#issue-codes")))
	b.run("issue two", chromedp.SendKeys(chromedp.ID("#ec-target"), f.view().Name), chromedp.SetValue(chromedp.ID("#ec-count"), "2"),
		chromedp.Click(chromedp.ID("#issue")), chromedp.WaitVisible(chromedp.ID("#issued")))
	shown := b.text("#issued .issued-code")
	if _, err := hoist.ParseCode(shown, "code"); err != nil {
		t.Fatalf("the page shows %q as an issued code: %v", shown, err)
	}
	b.waitFor("two codes listed", `document.querySelectorAll("#codes tr[data-id]").length === 2`)
	b.run("reload", chromedp.Navigate(base+"/emergency"), chromedp.WaitVisible(chromedp.ID("#codes")))
	if n := b.text("body"); strings.Contains(n, shown) {
		t.Error("the code's value is shown again after the issue")
	}
	if rows := b.text("#offline-approvals"); !strings.Contains(rows, control.AuditOfflineResponse) {
		t.Errorf("the offline approvals list %q, want the response issued", rows)
	}
	b.clean("emergency")
	b.shot("emergency")
}

// TestOfflineKeyForAnAgentEnrolledBefore: a machine without an offline
// key (enrolled before offline approval) gets its key at its next
// check-in, acknowledges it, and the server never sends it again; offline
// approval then works with that key.
func TestOfflineKeyForAnAgentEnrolledBefore(t *testing.T) {
	f := newFleet(t)
	agentID := f.view().ID
	f.stopAgent()
	// As before offline approval: no key on the machine; the server's
	// record is one it never delivered.
	if err := os.Remove(agent.OfflineKeyFile(f.state)); err != nil {
		t.Fatal(err)
	}
	key := make([]byte, hoist.OfflineKeySize)
	_, _ = rand.Read(key)
	keyID := hoist.OfflineKeyID(key)
	err := f.srv.Store().Update(ctx, func(tx hoist.Tx) error {
		return tx.PutOfflineKey(ctx, hoist.OfflineKeyRecord{AgentID: agentID, Key: base64.StdEncoding.EncodeToString(key), KeyID: keyID, CreatedAt: time.Now()})
	})
	if err != nil {
		t.Fatal(err)
	}
	f.startAgent()
	testenv.WaitUntil(t, "the key on the machine", func() bool { return f.agent.OfflineKeyID() == keyID })
	testenv.WaitUntil(t, "the key acknowledged", func() bool { return f.auditActions()[control.AuditOfflineDelivered] == 1 })
	if _, _, err := f.srv.Service().AgentOfflineKey(ctx, hoist.AgentRecord{ID: agentID}); hoist.ErrorCode(err) != hoist.EConflict {
		t.Fatalf("asking again after the acknowledgement: %v, want a conflict", err)
	}
	info, err := os.Stat(agent.OfflineKeyFile(f.state))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("the key file: %v, mode %v; want 0600", err, info.Mode())
	}
	// The machine answers a challenge with that key.
	code, out, errOut := f.sh("hoist request --offline --for 15m")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	ch, perr := hoist.ParseChallenge(lines[len(lines)-1])
	if code != 0 || perr != nil {
		t.Fatalf("hoist request --offline: %d %q %q", code, out, errOut)
	}
	if status, _, errOut := f.sh("hoist request --response " + hoist.Respond(key, ch, ch.Window).String()); status != 0 {
		t.Fatalf("a response with the delivered key: exit %d, %q", status, errOut)
	}
}

// TestOfflineOnATerminal: on a terminal, hoist request --offline asks for
// the response after the challenge; a mistyped one is asked again, the
// right one starts the session and hoist exits 0.
func TestOfflineOnATerminal(t *testing.T) {
	f := newOfflineFleet(t)
	cmd := f.command("exec hoist request --offline --for 30m")
	tty, err := pty.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close()
	var screen strings.Builder
	var mu sync.Mutex
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := tty.Read(buf)
			mu.Lock()
			screen.Write(buf[:n])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	seen := func() string { mu.Lock(); defer mu.Unlock(); return screen.String() }
	testenv.WaitUntil(t, "the question for the response", func() bool { return strings.Contains(seen(), "Response (") })
	var ch hoist.Challenge
	for _, l := range strings.Split(seen(), "\n") {
		if c, err := hoist.ParseChallenge(strings.TrimSpace(l)); err == nil {
			ch = c
		}
	}
	resp, err := f.srv.Service().ApproveOffline(ctx, adminActor, ch.String(), "", 0)
	if err != nil {
		t.Fatalf("approve the challenge on %q: %v", seen(), err)
	}
	typo := []byte(resp.Response)
	typo[2] = map[bool]byte{true: 'B', false: 'A'}[typo[2] == 'A']
	if _, err := tty.Write(append(typo, '\n')); err != nil {
		t.Fatal(err)
	}
	testenv.WaitUntil(t, "the typo caught and the question asked again", func() bool {
		return strings.Contains(seen(), "mistyped") && strings.Count(seen(), "Response (") == 2
	})
	if _, err := tty.Write([]byte(resp.Response + "\n")); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("hoist request --offline on a terminal: %v\n%s", err, seen())
	}
	if st := f.agent.Status(f.user.Name); st.State != "active" {
		t.Fatalf("status %+v after %q", st, seen())
	}
	// hoist has exited; what it printed last may still be on its way
	// through the terminal to the reader.
	testenv.WaitUntil(t, "the announcement on the terminal", func() bool { return strings.Contains(seen(), "JIT elevated access is active") })
}
