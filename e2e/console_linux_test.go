package e2e_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/agent"
	"github.com/hoist-jit/hoist/testenv"
)

// browser is a headless Chromium driven over the DevTools protocol, with
// every console error and uncaught exception of its pages recorded.
type browser struct {
	t      *testing.T
	ctx    context.Context
	mu     sync.Mutex
	errors []string
	shots  string // directory for screenshots, from HOIST_SCREENSHOTS
}

func findChromium() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

func startBrowser(t *testing.T) *browser {
	t.Helper()
	path := findChromium()
	testenv.Require(t, path != "", "needs Chromium (apt-get install chromium)")
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // the tests run as root, where Chromium's sandbox will not start
		chromedp.WindowSize(1366, 900),
		// The server's certificate comes from its own test CA, and so does the
		// forger's page; nothing else is loaded.
		chromedp.IgnoreCertErrors,
		chromedp.UserDataDir(t.TempDir()),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	b := &browser{t: t, ctx: ctx, shots: os.Getenv("HOIST_SCREENSHOTS")}
	// Every console message of the tab, in order: calls of the console API,
	// uncaught exceptions, and the browser's own log (CSP violations, failed
	// loads). Anything but log and info counts as an error of the page.
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			switch m.Type {
			case chromedp.ConsoleLog, "info", "debug":
			default:
				b.record(fmt.Sprintf("%s [%s] %s (%s:%d)", m.Type, m.Source, m.Text, m.URL, m.Line))
			}
		}
	}()
	err := chromedp.Listen(ctx, func(ev any) {
		if _, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			// The console asks before it ends anything; the tests say yes.
			// (Not from this goroutine: it reads the browser's messages.)
			go func() {
				_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
			}()
		}
	})
	if err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return b
}

func (b *browser) record(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.errors = append(b.errors, s)
}

// takeErrors returns what the pages reported since the last call.
func (b *browser) takeErrors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := b.errors
	b.errors = nil
	return out
}

// fail ends the test with what the page showed.
func (b *browser) fail(what string, err error) {
	b.t.Helper()
	// Bounded: a browser that stopped answering must not hang the test here.
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	body, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
	b.t.Fatalf("%s: %v\npage text:\n%s", what, err, body)
}

// browserStep bounds one step of a test in Chromium. Generous: it only says
// how long a broken step takes to fail, and on a loaded 2-core machine the
// first pages of a fresh Chromium take far longer than on a quiet one.
const browserStep = time.Minute

// run runs steps with a time limit, and fails the test with what the page
// showed when one does not complete.
func (b *browser) run(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserStep)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.fail(what, err)
	}
}

// text returns the text of the first element the CSS selector matches.
func (b *browser) text(sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserStep)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.fail("read "+sel, err)
	}
	return s
}

// attr returns an attribute of the first element the CSS selector matches.
func (b *browser) attr(sel, name string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserStep)
	defer cancel()
	res, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(sel), name))
	if err != nil {
		b.fail("read "+sel+" "+name, err)
	}
	return res.Value
}

// clean fails the test if the page reported any error.
func (b *browser) clean(page string) {
	b.t.Helper()
	if errs := b.takeErrors(); len(errs) > 0 {
		b.t.Errorf("browser console errors on %s:\n%s", page, strings.Join(errs, "\n"))
	}
}

// shot saves a PNG of what a 1366×900 laptop screen shows, when
// HOIST_SCREENSHOTS names a directory (the pictures in docs/console are made
// so).
func (b *browser) shot(name string) {
	b.t.Helper()
	if b.shots == "" {
		return
	}
	png, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.fail("screenshot", err)
	}
	if err := os.WriteFile(filepath.Join(b.shots, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// submit clears the page's message, runs steps that send a form, and
// returns the message the next page shows.
func (b *browser) submit(what string, steps ...chromedp.Action[chromedp.Void]) string {
	b.t.Helper()
	clear := chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Evaluate[any](`document.querySelectorAll(".flash").forEach(e => e.remove())`)(ctx, t)
		return err
	})
	b.run(what, append([]chromedp.Action[chromedp.Void]{clear}, append(steps, chromedp.WaitVisible(chromedp.CSS(".flash")))...)...)
	return b.text(".flash")
}

// waitFor polls the page until cond (a JavaScript expression) is true.
func (b *browser) waitFor(what, cond string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserStep)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](cond, chromedp.WithPollingTimeout(browserStep))); err != nil {
		b.fail("wait for "+what, err)
	}
}

// TestConsoleInChromium drives the web console in a real Chromium against a
// real server and a real agent: sign in, decide requests as they arrive,
// revoke, switch a policy and the launcher and watch the machine follow,
// see form errors beside their fields — and a cross-site forgery refused.
// No page may report a browser console error.
func TestConsoleInChromium(t *testing.T) {
	f := newFleet(t)
	b := startBrowser(t)
	base := f.srv.URL()
	svc := f.srv.Service()

	// Sign in: any page sends a stranger to the login first.
	b.run("open the console", chromedp.Navigate(base+"/approvals"), chromedp.WaitVisible(chromedp.ID("#user")))
	b.clean("login")
	b.shot("login")
	b.run("sign in",
		chromedp.SendKeys(chromedp.ID("#user"), "admin"),
		chromedp.SendKeys(chromedp.ID("#password"), "correct horse battery staple"),
		chromedp.Submit(chromedp.ID("#password")),
		chromedp.WaitVisible(chromedp.ID("#pending-rows")))
	if h := b.text("h1"); h != "Manage Approvals" {
		t.Fatalf("after sign-in the page is %q", h)
	}

	// Four users ask while the page is open; their requests appear without a
	// reload.
	users := []testenv.User{f.user, testenv.NewUser(t), testenv.NewUser(t), testenv.NewUser(t)}
	ids := map[string]string{}
	for i, u := range users {
		code, out, errOut := f.shAs(u, fmt.Sprintf("hoist request --for 2h --reason 'ticket %d'", 100+i))
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if code != 0 || !hoist.ValidID(hoist.RequestIDPrefix, lines[len(lines)-1]) {
			t.Fatalf("hoist request as %s: exit %d %q %q", u.Name, code, out, errOut)
		}
		ids[u.Name] = lines[len(lines)-1]
	}
	b.waitFor("four pending requests", `document.querySelectorAll("#pending-rows tr[data-id]").length === 4`)
	if n := b.text("#pending-count"); n != "4" {
		t.Errorf("pending count shows %q, want 4", n)
	}
	b.clean("approvals")
	b.shot("approvals")

	tick := func(u testenv.User) chromedp.Action[chromedp.Void] {
		return chromedp.Click(chromedp.CSS(fmt.Sprintf(`#pending-rows tr[data-id=%q] input[type=checkbox]`, ids[u.Name])))
	}
	// Approve two at once, For 1h.
	msg := b.submit("approve two for 1h", tick(users[0]), tick(users[1]),
		chromedp.SetValue(chromedp.ID("#for"), "1h"),
		chromedp.Click(chromedp.ID("#approve")))
	if !strings.Contains(msg, "Approved for 1h: ") || !strings.Contains(msg, users[0].Name+" on ") || !strings.Contains(msg, users[1].Name+" on ") {
		t.Errorf("after Approve Selected the page says %q", msg)
	}
	for _, u := range users[:2] {
		r, err := svc.Request(ctx, adminActor, ids[u.Name])
		if err != nil || r.State != hoist.RequestApproved || r.GrantedDuration != time.Hour || r.DecidedBy != "admin" {
			t.Fatalf("request of %s after Approve Selected For 1h: %+v, %v", u.Name, r, err)
		}
	}
	// The machine follows: the user is root through hoist run.
	testenv.WaitUntil(t, "the first user's session on the machine", func() bool {
		_, out, _ := f.shAs(users[0], "hoist run -- id -u")
		return strings.TrimSpace(out) == "0"
	})

	// One Time for the third, by keyboard alone: Space ticks, Enter presses.
	box := chromedp.CSS(fmt.Sprintf(`#pending-rows tr[data-id=%q] input[type=checkbox]`, ids[users[2].Name]))
	if msg := b.submit("approve one time by keyboard", chromedp.Focus(box), chromedp.KeyEvent(" "),
		chromedp.Focus(chromedp.ID("#once")), chromedp.KeyEvent("\r")); !strings.Contains(msg, "Approved One Time: "+users[2].Name+" on ") {
		t.Errorf("after One Time the page says %q", msg)
	}
	if r, _ := svc.Request(ctx, adminActor, ids[users[2].Name]); r.State != hoist.RequestApproved || r.GrantedDuration != 30*time.Minute {
		t.Fatalf("One Time: %+v, want approved for 30m", r)
	}

	// Deny the fourth, with a reason; the user is told it.
	if msg := b.submit("deny with a reason", tick(users[3]),
		chromedp.SendKeys(chromedp.ID("#deny-reason"), "use the ticket queue"),
		chromedp.Click(chromedp.ID("#deny"))); !strings.Contains(msg, "Denied: "+users[3].Name+" on ") {
		t.Errorf("after Deny Selected the page says %q", msg)
	}
	if r, _ := svc.Request(ctx, adminActor, ids[users[3].Name]); r.State != hoist.RequestDenied || r.DecisionReason != "use the ticket queue" {
		t.Fatalf("Deny Selected: %+v", r)
	}
	testenv.WaitUntil(t, "the denial on the machine", func() bool {
		_, out, _ := f.shAs(users[3], "hoist status")
		return strings.Contains(out, "use the ticket queue")
	})
	b.waitFor("three active sessions", `document.querySelectorAll("#session-rows tr[data-id]").length === 3`)
	// While nothing changes, the live update leaves the rows alone (focus
	// and screen readers stay put), though the countdowns tick.
	b.run("mark a row", chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Evaluate[any](`document.querySelector("#session-rows tr").marked = true`)(ctx, t)
		return err
	}))
	before := b.text("#session-rows td.left")
	time.Sleep(4500 * time.Millisecond) // two live updates
	b.waitFor("the same row", `document.querySelector("#session-rows tr").marked === true`)
	if b.text("#session-rows td.left") == before {
		t.Errorf("the countdown did not tick: %q", before)
	}
	b.clean("approvals after decisions")
	b.shot("approvals-sessions")

	// Revoke the first user's session: it ends on the machine.
	r0, _ := svc.Request(ctx, adminActor, ids[users[0].Name])
	if msg := b.submit("revoke", chromedp.Click(chromedp.CSS(fmt.Sprintf(`#session-rows tr[data-id=%q] button`, r0.SessionID)))); !strings.Contains(msg, "Revoked the session of: "+users[0].Name+" on ") {
		t.Errorf("after Revoke the page says %q", msg)
	}
	if s, _ := svc.Session(ctx, adminActor, r0.SessionID); s.State == hoist.SessionActive || s.EndReason != hoist.EndRevoked {
		t.Fatalf("after Revoke: %+v", s)
	}
	testenv.WaitUntil(t, "the revoke on the machine", func() bool {
		code, _, _ := f.shAs(users[0], "hoist run -- id -u")
		return code == 126
	})
	b.clean("approvals after revoke")

	// History, filtered.
	b.run("filter the history", chromedp.Navigate(base+"/approvals?state=denied"), chromedp.WaitVisible(chromedp.ID("#history")))
	if hist := b.text("#history tbody"); !strings.Contains(hist, users[3].Name) || strings.Contains(hist, users[1].Name) {
		t.Errorf("history filtered to denied shows:\n%s", hist)
	}
	b.clean("history")

	// Policies: switching a JIT policy off reaches the agent, and back on.
	startup := `button[aria-label="Active: JIT Mode (Startup and Approval)"]`
	b.run("open policies", chromedp.Navigate(base+"/policies"), chromedp.WaitVisible(chromedp.CSS(startup)))
	b.clean("policies")
	b.shot("policies")
	if on := b.text(startup); on != "On" {
		t.Fatalf("the startup policy shows %q, want On", on)
	}
	if msg := b.submit("switch the startup policy off", chromedp.Click(chromedp.CSS(startup))); !strings.Contains(msg, "Turned off policy JIT Mode (Startup and Approval)") {
		t.Errorf("after the toggle the page says %q", msg)
	}
	if off := b.text(startup); off != "Off" {
		t.Errorf("the switched-off policy shows %q", off)
	}
	testenv.WaitUntil(t, "JIT mode off on the machine", func() bool { _, ok := f.agent.Bundle().JIT(); return !ok })
	if code, _, errOut := f.shAs(users[3], "hoist request --for 10m --reason again"); code == 0 {
		t.Errorf("a request was taken with JIT mode off: %s", errOut)
	}
	if msg := b.submit("switch it back on", chromedp.Click(chromedp.CSS(startup))); !strings.Contains(msg, "Turned on policy") {
		t.Errorf("after the toggle the page says %q", msg)
	}
	testenv.WaitUntil(t, "JIT mode on again", func() bool { _, ok := f.agent.Bundle().JIT(); return ok })
	b.clean("policies after toggles")

	// Edit a policy with a bad value: the error stands beside the field and
	// nothing is saved.
	children, _ := svc.Policy(ctx, adminActor, "JIT Mode (Child Processes)")
	b.run("edit a policy", chromedp.Navigate(base+"/policies/"+children.ID), chromedp.WaitVisible(chromedp.ID("#f-children-grace")),
		chromedp.SetValue(chromedp.ID("#f-children-grace"), "20m"),
		chromedp.Submit(chromedp.ID("#f-children-grace")),
		chromedp.WaitVisible(chromedp.ID("#f-children-grace-err")))
	if msg := b.text("#f-children-grace-err"); !strings.Contains(msg, "between 0 seconds and 10 minutes") {
		t.Errorf("the grace field's error says %q", msg)
	}
	if described := b.attr("#f-children-grace", "aria-describedby"); !strings.Contains(described, "f-children-grace-err") {
		t.Errorf("the grace input is not described by its error: %q", described)
	}
	if after, _ := svc.Policy(ctx, adminActor, children.ID); after.Version != children.Version {
		t.Errorf("a refused edit changed the policy: version %d → %d", children.Version, after.Version)
	}
	b.clean("policy form")
	b.shot("policy-form-errors")

	// Agent configuration: Create JIT mode shortcut Yes installs the
	// launcher on the machine, No removes it.
	launcher := filepath.Join(f.desktop, agent.DesktopFile)
	group, _ := svc.Group(ctx, adminActor, hoist.DefaultGroup)
	for _, choice := range []string{"yes", "no"} {
		b.run("open the group", chromedp.Navigate(base+"/groups/"+group.ID), chromedp.WaitVisible(chromedp.ID("#f-config-create_jit_shortcut")))
		if msg := b.submit("set the shortcut "+choice, chromedp.SetValue(chromedp.ID("#f-config-create_jit_shortcut"), choice),
			chromedp.Click(chromedp.ID("#save-config"))); !strings.Contains(msg, "Saved the agent configuration") {
			t.Errorf("after saving the configuration the page says %q", msg)
		}
		testenv.WaitUntil(t, "the launcher to follow "+choice, func() bool {
			_, err := os.Stat(launcher)
			return (err == nil) == (choice == "yes")
		})
		if choice == "yes" {
			b.shot("group-config")
		}
	}
	b.clean("group configuration")

	// Agents and audit.
	host, _ := os.Hostname()
	b.run("open agents", chromedp.Navigate(base+"/agents"), chromedp.WaitVisible(chromedp.ID("#agents")))
	if row := b.text("#agents tbody"); !strings.Contains(row, host) || !strings.Contains(row, hoist.Version) {
		t.Errorf("agents page shows:\n%s", row)
	}
	b.clean("agents")
	b.shot("agents")
	b.run("search the audit", chromedp.Navigate(base+"/audit?action=request.denied"), chromedp.WaitVisible(chromedp.ID("#chain")))
	if chain := b.text("#chain"); !strings.Contains(chain, "Hash chain intact") {
		t.Errorf("audit page chain state: %q", chain)
	}
	if rows := b.text("#audit tbody"); !strings.Contains(rows, "use the ticket queue") || strings.Contains(rows, "request.approved") {
		t.Errorf("audit filtered to request.denied shows:\n%s", rows)
	}
	b.clean("audit")
	b.run("open the whole audit", chromedp.Navigate(base+"/audit"), chromedp.WaitVisible(chromedp.ID("#chain")))
	b.shot("audit")
	b.clean("audit")

	// A forged cross-site POST: another site's page, open in the same
	// signed-in browser, submits Approve for a pending request. It must be
	// refused and change nothing.
	code, out, _ := f.shAs(users[3], "hoist request --for 10m --reason 'after the denial'")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	pendingID := lines[len(lines)-1]
	if code != 0 || !hoist.ValidID(hoist.RequestIDPrefix, pendingID) {
		t.Fatalf("a new request: exit %d, %q", code, out)
	}
	evil := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, `<!doctype html><form id="f" method="post" action="%s/approvals/decide">
<input name="id" value="%s"><input name="action" value="approve"><input name="for" value="1h"><input name="csrf" value="guess">
</form><script>document.getElementById("f").submit()</script>`, base, pendingID)
	}))
	evil.TLS = &tls.Config{}
	evil.StartTLS()
	defer evil.Close()
	b.run("visit the forger's page", chromedp.Navigate(evil.URL))
	b.waitFor("the refusal", `document.body && document.body.innerText.includes("Refused")`)
	if r, _ := svc.Request(ctx, adminActor, pendingID); r.State != hoist.RequestPending {
		t.Fatalf("a forged cross-site POST decided a request: %+v", r)
	}
	b.takeErrors() // the forger's page and the refusal are not console pages

	// Revoke the agent, last: the server refuses it from now on.
	b.run("open agents", chromedp.Navigate(base+"/agents"), chromedp.WaitVisible(chromedp.ID("#agents")))
	if msg := b.submit("revoke the agent", chromedp.Click(chromedp.CSS(fmt.Sprintf(`#agents tr[data-agent=%q] button`, host)))); !strings.Contains(msg, "Revoked agent") {
		t.Errorf("after revoking the agent the page says %q", msg)
	}
	if agents, _ := svc.Agents(ctx, adminActor); len(agents) != 1 || !agents[0].Revoked {
		t.Errorf("agents after Revoke: %+v", agents)
	}
	if row := b.text("#agents tbody"); !strings.Contains(row, "revoked") {
		t.Errorf("the revoked agent's row:\n%s", row)
	}
	b.clean("agents after revoke")

	// Sign out: the login is gone, the console sends us back to sign in.
	b.run("sign out", chromedp.Navigate(base+"/approvals"), chromedp.WaitVisible(chromedp.CSS(".who button")),
		chromedp.Click(chromedp.CSS(".who button")), chromedp.WaitVisible(chromedp.ID("#user")))
	b.run("come back", chromedp.Navigate(base+"/policies"), chromedp.WaitVisible(chromedp.ID("#user")))
	b.clean("after sign-out")
}
