package e2e_test

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/agent"
	"github.com/hoist-jit/hoist/control"
	"github.com/hoist-jit/hoist/platform"
	"github.com/hoist-jit/hoist/testenv"
)

// TestSessionPageInChromium: what root ran in a session, read from the
// machine's kernel, reaches the server and shows on the session's page —
// as a process tree, searchable — for the approver who approved it, and
// not for another approver; `hoist admin sessions show --json` gives the
// same.
func TestSessionPageInChromium(t *testing.T) {
	w, err := platform.NewBPFExecWatcher()
	testenv.Require(t, err == nil, "needs BPF (CAP_BPF, BTF)")
	t.Cleanup(func() { w.Close() })
	_, err = exec.LookPath("busybox")
	testenv.Require(t, err == nil, "needs busybox (busybox-static)")
	srv := startServerAt(t, t.TempDir(), "127.0.0.1:0")
	f := newFleetOn(t, srv, func(c *agent.Config) { c.Execs = w })
	svc := f.srv.Service()
	for _, name := range []string{"carol", "dave"} {
		if _, err := svc.CreateAdmin(ctx, adminActor, control.AdminInput{Name: name, Role: hoist.RoleApprover, Password: "password-of-" + name}); err != nil {
			t.Fatal(err)
		}
	}
	token, _, _, err := svc.Login(ctx, "carol", "password-of-carol", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	carol, err := svc.Authenticate(ctx, token)
	if err != nil {
		t.Fatal(err)
	}
	id := f.request("--for 1h --reason 'add the backup account'")
	if res, err := svc.Approve(ctx, carol, []string{id}, time.Hour, ""); err != nil || !res[0].OK {
		t.Fatalf("approve: %+v %v", res, err)
	}
	testenv.WaitUntil(t, "the session on the machine", func() bool { return f.agent.Status(f.user.Name).State == "active" })
	sid := f.agent.Status(f.user.Name).SessionID
	// `/bin/true useradd …` stands for a useradd that this test does not run.
	for _, cmd := range []string{
		`hoist run -- sh -c 'id; /usr/bin/uname -a; busybox true'`,
		`hoist run -- sh -c '/bin/true useradd --home /srv/backup backup'`,
		`hoist run -- python3 -c 'import os; os.system("hostname")'`,
	} {
		if code, _, errOut := f.sh(cmd); code != 0 {
			t.Fatalf("%s: exit %d %s", cmd, code, errOut)
		}
	}
	if code, _, errOut := f.sh("hoist exit"); code != 0 {
		t.Fatalf("hoist exit: %d %s", code, errOut)
	}
	var view control.SessionView
	testenv.WaitUntil(t, "the session's exec record on the server", func() bool {
		view, err = svc.SessionView(ctx, adminActor, sid)
		return err == nil && view.CommandsFinal
	})
	argvs := map[string]bool{}
	for _, c := range view.Commands {
		argvs[strings.Join(c.Argv, " ")] = true
	}
	for _, want := range []string{"id", "/usr/bin/uname -a", "busybox true", "/bin/true useradd --home /srv/backup backup", "sh -c hostname", "hostname"} {
		if !argvs[want] {
			t.Errorf("no %q in the session's commands: %v", want, argvs)
		}
	}

	// The CLI: hoist admin sessions show ID --json.
	home := t.TempDir()
	admin := func(stdin string, args ...string) string {
		t.Helper()
		cmd := exec.Command(filepath.Join(f.bin, "hoist"), append([]string{"admin"}, args...)...)
		cmd.Env = []string{"HOME=" + home, "PATH=/usr/bin:/bin"}
		cmd.Stdin = strings.NewReader(stdin)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Run(); err != nil {
			t.Fatalf("hoist admin %s: %v %s", strings.Join(args, " "), err, errOut.String())
		}
		return out.String()
	}
	admin("correct horse battery staple\n", "login", "--server", f.srv.URL(), "--user", "admin", "--password-stdin", "--ca", f.srv.CAPath())
	var shown struct {
		ID       string `json:"id"`
		User     string `json:"user"`
		Host     string `json:"host"`
		State    string `json:"state"`
		Commands []struct {
			Argv       []string  `json:"argv"`
			Pid        int       `json:"pid"`
			Ppid       int       `json:"ppid"`
			At         time.Time `json:"at"`
			UID        *int      `json:"uid"`
			ExitStatus *int      `json:"exit_status"`
		} `json:"commands"`
		Changes []struct {
			Kind, Name, Change string
		} `json:"changes"`
	}
	out := admin("", "sessions", "show", sid, "--json")
	if err := json.Unmarshal([]byte(out), &shown); err != nil {
		t.Fatalf("sessions show --json: %v\n%s", err, out)
	}
	if shown.ID != sid || shown.User != f.user.Name || shown.Host == "" || shown.State != "ended" || len(shown.Commands) != len(view.Commands) || shown.Changes == nil {
		t.Errorf("sessions show --json = %s", out)
	}
	if i := slices.IndexFunc(shown.Commands, func(c struct {
		Argv       []string  `json:"argv"`
		Pid        int       `json:"pid"`
		Ppid       int       `json:"ppid"`
		At         time.Time `json:"at"`
		UID        *int      `json:"uid"`
		ExitStatus *int      `json:"exit_status"`
	}) bool {
		return slices.Equal(c.Argv, []string{"busybox", "true"})
	}); i < 0 || shown.Commands[i].Pid == 0 || shown.Commands[i].Ppid == 0 || shown.Commands[i].At.IsZero() || shown.Commands[i].UID == nil || shown.Commands[i].ExitStatus == nil {
		t.Errorf("busybox true in sessions show --json: %s", out)
	}
	if text := admin("", "sessions", "show", sid); !strings.Contains(text, "busybox true") || !strings.Contains(text, "carol") {
		t.Errorf("sessions show:\n%s", text)
	}
	if text := admin("", "sessions", "search", "useradd"); !strings.Contains(text, sid) {
		t.Errorf("sessions search useradd:\n%s", text)
	}

	// The page, in Chromium, for carol who approved it.
	b := startBrowser(t)
	signIn := func(user, pw string) {
		b.run("sign in as "+user, chromedp.Navigate(f.srv.URL()+"/login"), chromedp.WaitVisible(chromedp.ID("#user")),
			chromedp.SendKeys(chromedp.ID("#user"), user), chromedp.SendKeys(chromedp.ID("#password"), pw),
			chromedp.Submit(chromedp.ID("#password")), chromedp.WaitVisible(chromedp.ID("#pending-rows")))
	}
	signIn("carol", "password-of-carol")
	b.run("open the session page", chromedp.Navigate(f.srv.URL()+"/sessions/"+sid), chromedp.WaitVisible(chromedp.ID("#process-tree")))
	tree := b.text("#process-tree")
	for _, want := range []string{"sh -c id; /usr/bin/uname -a; busybox true", "busybox true", "hostname"} {
		if !strings.Contains(tree, want) {
			t.Errorf("the process tree lacks %q:\n%s", want, tree)
		}
	}
	// busybox is a child of the shell: one level down in the tree.
	if n := b.text(`#process-tree li li code.argv`); n == "" {
		t.Errorf("the tree has no second level")
	}
	if facts := b.text("#session-facts"); !strings.Contains(facts, "carol") || !strings.Contains(facts, "add the backup account") {
		t.Errorf("the facts lack the approver or the reason:\n%s", facts)
	}
	b.clean("session page")
	b.shot("session")
	b.run("search the session", chromedp.SetValue(chromedp.ID("#c-q"), "useradd"), chromedp.Submit(chromedp.ID("#c-q")),
		chromedp.WaitVisible(chromedp.ID("#command-matches")))
	if m := b.text("#command-matches"); !strings.Contains(m, "/bin/true useradd --home /srv/backup backup") || strings.Contains(m, "hostname") {
		t.Errorf("the search for useradd shows:\n%s", m)
	}
	b.clean("session search")

	// Dave approved nothing of it: he sees the facts, not what ran.
	b.run("sign out", chromedp.Navigate(f.srv.URL()+"/approvals"), chromedp.WaitVisible(chromedp.ID("#pending-rows")))
	if _, err := chromedp.Run(b.ctx, chromedp.Evaluate[any](`document.querySelector("form[action='/logout']").submit()`)); err != nil {
		t.Fatal(err)
	}
	b.run("back at the login", chromedp.WaitVisible(chromedp.ID("#user")))
	signIn("dave", "password-of-dave")
	b.run("open the session page as dave", chromedp.Navigate(f.srv.URL()+"/sessions/"+sid), chromedp.WaitVisible(chromedp.ID("#details-hidden")))
	if body := b.text("body"); strings.Contains(body, "busybox") || strings.Contains(body, "useradd") {
		t.Errorf("another approver sees what ran:\n%s", body)
	}
	b.clean("session page as another approver")
}
