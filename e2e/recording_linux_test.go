package e2e_test

import (
	"bytes"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/control"
	"github.com/hoist-jit/hoist/testenv"
)

// TestRecordingPlaysInChromium types echo hello-recording into an elevated
// shell on a terminal: hoistd records it, uploads it, the server keeps it,
// and the console plays it in Chromium to the approver who approved the
// session; the audit page shows that session's records as labelled fields
// whose words are never split, with links to the request and the session.
// Another approver sees neither.
func TestRecordingPlaysInChromium(t *testing.T) {
	_, err := exec.LookPath("script")
	testenv.Require(t, err == nil, "needs script(1) (bsdutils)")
	f := newFleet(t)
	svc := f.srv.Service()
	for _, name := range []string{"appr-rec", "appr-other"} {
		if _, err := svc.CreateAdmin(ctx, adminActor, control.AdminInput{Name: name, Role: hoist.RoleApprover, Password: "correct horse battery staple"}); err != nil {
			t.Fatal(err)
		}
	}
	reason := strings.TrimSpace(strings.Repeat("replace the failing disk controller firmware ", 8))
	id := f.request(fmt.Sprintf("--for 1h --reason %q", reason))
	approver := control.Actor{Name: "appr-rec", Role: hoist.RoleApprover}
	if res, err := svc.Approve(ctx, approver, []string{id}, time.Hour, ""); err != nil || !res[0].OK {
		t.Fatalf("approve: %+v, %v", res, err)
	}
	req, _ := svc.Request(ctx, adminActor, id)
	sid := req.SessionID
	testenv.WaitUntil(t, "the session on the machine", func() bool {
		_, out, _ := f.sh("hoist run -- id -u")
		return strings.TrimSpace(out) == "0"
	})

	// The user types into an elevated shell on a terminal.
	shell := f.command(`exec script -qfec "hoist run -- /bin/bash --norc -i" /dev/null`)
	shell.Env = append(shell.Env, "TERM=xterm")
	in, err := shell.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var screen bytes.Buffer
	shell.Stdout, shell.Stderr = &screen, io.Discard
	if err := shell.Start(); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(in, "echo hello-recording")
	fmt.Fprintln(in, "exit")
	if err := shell.Wait(); err != nil || !strings.Contains(screen.String(), "hello-recording") {
		t.Fatalf("the elevated shell: %v; the terminal showed:\n%s", err, screen.String())
	}

	// Uploaded through the link, and complete on the server.
	var recs []hoist.Recording
	testenv.WaitUntil(t, "the recording on the server", func() bool {
		recs, err = svc.Recordings(ctx, adminActor, sid)
		return err == nil && len(recs) == 1
	})
	var cast bytes.Buffer
	if _, err := svc.RecordingData(ctx, approver, recs[0].ID, &cast); err != nil || !strings.Contains(cast.String(), "hello-recording") || !strings.HasPrefix(cast.String(), `{"version":2,`) {
		t.Fatalf("the stored recording (%v):\n%.2000s", err, cast.String())
	}
	other := control.Actor{Name: "appr-other", Role: hoist.RoleApprover}
	if _, err := svc.Recordings(ctx, other, sid); hoist.ErrorCode(err) != hoist.EForbidden {
		t.Errorf("an approver who did not approve the session lists its recordings: %v", err)
	}

	// The approver plays it in the console.
	b := startBrowser(t)
	base := f.srv.URL()
	b.run("sign in as the approver", chromedp.Navigate(base+"/audit"), chromedp.WaitVisible(chromedp.ID("#user")),
		chromedp.SendKeys(chromedp.ID("#user"), "appr-rec"),
		chromedp.SendKeys(chromedp.ID("#password"), "correct horse battery staple"),
		chromedp.Submit(chromedp.ID("#password")),
		chromedp.WaitVisible(chromedp.ID("#approved-sessions")))
	if rows := b.text("#approved-sessions tbody"); !strings.Contains(rows, sid) {
		t.Errorf("the approver's audit page does not list the session they approved:\n%s", rows)
	}
	b.clean("the approver's audit page")
	// From the session's page, as an approver finds it.
	b.run("open the session's page", chromedp.Navigate(base+"/sessions/"+sid), chromedp.WaitVisible(chromedp.ID("#recording-list")))
	if list := b.text("#recording-list"); !strings.Contains(list, "bash") {
		t.Errorf("the session's page does not list its recording:\n%s", list)
	}
	b.run("open the recording", chromedp.Click(chromedp.CSS("#recording-list a"), chromedp.NodeVisible), chromedp.WaitVisible(chromedp.ID("#player")))
	b.waitFor("the player to show hello-recording", `(document.querySelector("#player .ap-terminal") || {}).textContent?.includes("hello-recording")`)
	b.clean("the recording page")
	b.shot("recording")

	// The session's audit records, as labelled fields that link on.
	b.run("open the session's audit", chromedp.Navigate(base+"/audit?subject="+id), chromedp.WaitVisible(chromedp.ID("#audit")))
	b.clean("the session's audit")
	if n := b.text("#audit tbody"); !strings.Contains(n, "request.created") || strings.Contains(n, `{"`) {
		t.Errorf("the audit shows raw JSON, or not the request's records:\n%s", n)
	}
	if href := b.attr(fmt.Sprintf(`#audit td a[href="/requests/%s"]`, id), "href"); href != "/requests/"+id {
		t.Errorf("the subject links to %q", href)
	}
	// The long reason wraps between words only: every word of it lies on
	// one line (one client rectangle), and the styles say so (words break
	// normally; overflow-wrap is not "anywhere", which splits any word).
	reasonDD := `[...document.querySelectorAll("#audit dl.fields dd")].find(d => d.textContent.startsWith("replace the failing"))`
	b.waitFor("the reason as a field", reasonDD+` !== undefined`)
	b.waitFor("the reason to wrap", reasonDD+`.getClientRects().length > 1`) // one rectangle a line
	b.waitFor("no word split across lines", `(() => {
		const dd = `+reasonDD+`, text = dd.firstChild, s = text.textContent;
		let at = 0;
		for (const w of s.split(" ")) {
			const r = document.createRange(); r.setStart(text, at); r.setEnd(text, at + w.length); at += w.length + 1;
			if (r.getClientRects().length !== 1) return false;
		}
		const st = getComputedStyle(dd);
		return st.wordBreak === "normal" && st.overflowWrap !== "anywhere";
	})()`)
	b.shot("audit-fields")
	b.run("narrow the window", chromedp.EmulateViewport(700, 900))
	b.waitFor("no word split in a narrow window either", `(() => {
		const dd = `+reasonDD+`, text = dd.firstChild, s = text.textContent;
		let at = 0;
		for (const w of s.split(" ")) {
			const r = document.createRange(); r.setStart(text, at); r.setEnd(text, at + w.length); at += w.length + 1;
			if (r.getClientRects().length !== 1) return false;
		}
		return true;
	})()`)

	// The other approver: neither the records nor the recording.
	b.run("sign out", chromedp.Navigate(base+"/account"), chromedp.WaitVisible(chromedp.CSS("form.who button")), chromedp.Click(chromedp.CSS("form.who button")), chromedp.WaitVisible(chromedp.ID("#user")))
	b.run("sign in as the other approver",
		chromedp.SendKeys(chromedp.ID("#user"), "appr-other"),
		chromedp.SendKeys(chromedp.ID("#password"), "correct horse battery staple"),
		chromedp.Submit(chromedp.ID("#password")),
		chromedp.WaitVisible(chromedp.ID("#pending-rows")))
	b.run("open the recording as the other approver", chromedp.Navigate(base+"/sessions/"+sid+"/recordings/1"), chromedp.WaitVisible(chromedp.CSS("h1")))
	if h := b.text("main"); strings.Contains(h, "Terminal recording") && !strings.Contains(h, "may") {
		t.Errorf("the other approver opened the recording page:\n%s", h)
	}
	b.takeErrors() // the refusal's 403 is logged by the browser
}
