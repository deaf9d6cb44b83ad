package e2e_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/agent"
	"github.com/hoist-jit/hoist/link"
	"github.com/hoist-jit/hoist/testenv"
)

// TestJITModeFollowsThePolicies: JIT mode is available only while all
// three JIT policies are active for the machine's group, and the machine
// hears of a change by push.
func TestJITModeFollowsThePolicies(t *testing.T) {
	f := newFleet(t)
	f.settled()
	rev, _ := f.agent.PolicyState()
	c, err := link.Load(f.state)
	if err != nil {
		t.Fatal(err)
	}
	facts := link.Facts(hoist.Version)
	facts.Revision = rev
	if ans, err := c.Checkin(ctx, facts); err != nil || ans != nil {
		t.Fatalf("a check-in with the current revision got %+v, %v; want nothing", ans, err)
	}

	// A session is on when JIT mode is switched off: it ends, as if revoked.
	f.approve(f.request("--for 1h"), time.Hour)
	testenv.WaitUntil(t, "the session", func() bool { return f.agent.Status(f.user.Name).State == "active" })
	blocking := f.command("exec hoist run -- sleep 1000")
	if err := blocking.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = blocking.Process.Kill(); _ = blocking.Wait() })
	g, err := f.cgs.OpenGroup(f.agent.Status(f.user.Name).SessionID)
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	testenv.WaitUntil(t, "the elevated sleep", func() bool { pids, _ = g.Pids(); return len(pids) == 1 })

	if _, err := f.srv.Service().SetPolicyActive(ctx, adminActor, "JIT Mode (Child Processes)", false); err != nil {
		t.Fatal(err)
	}
	testenv.WaitUntil(t, "JIT mode to go away on the machine", func() bool { _, ok := f.agent.Bundle().JIT(); return !ok })
	testenv.WaitUntil(t, "the session to end with JIT mode", func() bool {
		st := f.agent.Status(f.user.Name)
		return st.State == "ended" && st.EndReason == string(hoist.EndRevoked) && !testenv.Alive(pids[0])
	})
	code, _, errOut := f.sh("hoist request --for 1m")
	if code == 0 || !strings.Contains(errOut, "JIT mode is not enabled for this machine") {
		t.Fatalf("request with a JIT policy off: exit %d, %q", code, errOut)
	}
	// The server refuses too, whatever the agent thinks.
	rec, err := f.srv.Service().Agent(ctx, f.view().ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.srv.Service().AgentRequest(ctx, rec, f.user.Name, "", 0); hoist.ErrorCode(err) != hoist.EForbidden {
		t.Fatalf("the server took a request with JIT mode off: %v", err)
	}
	f.enableJIT()
	first := f.request("--for 1m")
	// Asking again while it waits makes no second request, and says so.
	code, out, errOut := f.sh("hoist request --for 1m")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || lines[len(lines)-1] != first || !strings.Contains(out, "already waiting for an approver") || errOut != "" {
		t.Fatalf("a second request: exit %d, %q %q; want %s again, said so", code, out, errOut, first)
	}
}

// TestStartupPolicyRules: the JIT Mode (Startup and Approval) policy decides
// who may ask, for how long, with what reason.
func TestStartupPolicyRules(t *testing.T) {
	f := newFleet(t)
	svc := f.srv.Service()
	p, err := svc.Policy(ctx, adminActor, "JIT Mode (Startup and Approval)")
	if err != nil {
		t.Fatal(err)
	}
	p.Startup.ReasonRequired = true
	p.Startup.Durations = []hoist.Duration{hoist.Duration(15 * 60e9), hoist.Duration(60 * 60e9)}
	p.Startup.DefaultDuration = p.Startup.Durations[0]
	p.Startup.ApproverRole = "admin"
	if _, err := svc.UpdatePolicy(ctx, adminActor, p.ID, p); err != nil {
		t.Fatal(err)
	}
	f.settled()
	for _, tc := range []struct{ args, want string }{
		{"--for 15m", "a reason is required"},
		{"--for 45m --reason 'INC-1'", "one of 15m, 1h"},
	} {
		if code, _, errOut := f.sh("hoist request " + tc.args); code == 0 || !strings.Contains(errOut, tc.want) {
			t.Errorf("request %s: exit %d, %q; want %q", tc.args, code, errOut, tc.want)
		}
	}
	id := f.request("--for 15m --reason 'INC-1'")
	approver := adminActor
	approver.Name, approver.Role = "ann", hoist.RoleApprover
	res, err := svc.Approve(ctx, approver, []string{id}, 0, "")
	if err != nil || len(res) != 1 || res[0].Code != hoist.EForbidden {
		t.Fatalf("an approver approved what the policy keeps for admins: %+v, %v", res, err)
	}
}

// TestApplicationPolicies: a policy elevates one program for one user
// without a session; deny beats it; a changed binary no longer matches;
// hoist explain says which policy decides.
func TestApplicationPolicies(t *testing.T) {
	f := newFleet(t)
	other := testenv.NewUser(t)
	f.createPolicy(hoist.Policy{Name: "Elevate id", Kind: hoist.KindApplication, Groups: []string{hoist.DefaultGroup}, Active: true,
		Application: &hoist.ApplicationRule{Path: "/usr/bin/id", Users: []string{f.user.Name}, Action: hoist.ActionElevate}})
	f.createPolicy(hoist.Policy{Name: "No group listings", Kind: hoist.KindApplication, Groups: []string{hoist.DefaultGroup}, Active: true,
		Application: &hoist.ApplicationRule{Path: "/usr/bin/id", Argv: &hoist.ArgvRule{Match: []hoist.ArgPattern{{Exact: "-G"}}, Rest: hoist.RestAny}, Action: hoist.ActionDeny}})
	whoami, err := os.ReadFile("/usr/bin/whoami")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(whoami)
	pinned := f.createPolicy(hoist.Policy{Name: "Pinned whoami", Kind: hoist.KindApplication, Groups: []string{hoist.DefaultGroup}, Active: true,
		Application: &hoist.ApplicationRule{Path: "/usr/bin/whoami", SHA256: hex.EncodeToString(sum[:]), Action: hoist.ActionElevate}})
	f.settled()

	if code, out, errOut := f.sh("hoist run -- id -u"); code != 0 || out != "0\n" {
		t.Fatalf("id -u by policy, without a session: exit %d, %q %q", code, out, errOut)
	}
	if code, out, _ := f.sh("hoist run whoami"); code != 0 || out != "root\n" {
		t.Fatalf("whoami with a matching hash: exit %d, %q", code, out)
	}
	if code, _, errOut := f.sh("hoist run -- id -G"); code != 126 || !strings.Contains(errOut, `"No group listings" denies`) {
		t.Fatalf("deny beats elevate: exit %d, %q", code, errOut)
	}
	// Policies see the real file behind a link: a link to id is id; a link
	// named id to a shell is a shell.
	dir := testenv.PublicDir(t)
	if err := os.Chown(dir, int(f.user.UID), int(f.user.GID)); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := f.sh("ln -s /usr/bin/id " + dir + "/myid && hoist run " + dir + "/myid -u"); code != 0 || out != "0\n" {
		t.Fatalf("a link to id: exit %d, %q %q", code, out, errOut)
	}
	if code, _, errOut := f.sh("mkdir " + dir + "/bin && ln -s /bin/sh " + dir + "/bin/id && hoist run " + dir + "/bin/id -c id"); code != 126 || !strings.Contains(errOut, "no policy elevates") {
		t.Fatalf("a shell linked as id: exit %d, %q", code, errOut)
	}
	code, out, _ := f.sh("hoist explain -- id -u")
	if code != 0 || !strings.Contains(out, "runs as root") || !strings.Contains(out, "policy: Elevate id") {
		t.Fatalf("explain: exit %d, %q", code, out)
	}
	// Another user is not named by the policy.
	cmd := f.command("hoist run -- id -u")
	cmd.SysProcAttr.Credential.Uid, cmd.SysProcAttr.Credential.Gid = other.UID, other.GID
	outB, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 126 || !strings.Contains(string(outB), "no policy elevates /usr/bin/id") {
		t.Fatalf("a user outside the policy: %v, %q", err, outB)
	}
	// The binary "changed": the pinned hash no longer matches.
	pinned.Application.SHA256 = strings.Repeat("ab", 32)
	if _, err := f.srv.Service().UpdatePolicy(ctx, adminActor, pinned.ID, pinned); err != nil {
		t.Fatal(err)
	}
	f.settled()
	if code, _, errOut := f.sh("hoist run whoami"); code != 126 || !strings.Contains(errOut, "SHA-256 no longer matches") {
		t.Fatalf("whoami with a stale hash: exit %d, %q", code, errOut)
	}
	// Audited on the server with the policy that elevated it.
	testenv.WaitUntil(t, "the commands in the server's audit log", func() bool {
		found := 0
		_ = f.srv.Service().Audit(ctx, adminActor, hoist.AuditFilter{}, func(r hoist.AuditRecord) error {
			var d map[string]any
			_ = json.Unmarshal(r.Detail, &d)
			if r.Action == "agent.command.started" && d["policy"] == "Elevate id" {
				found++
			}
			if r.Action == "agent.command.refused" && d["policy"] == "No group listings" {
				found++
			}
			return nil
		})
		return found >= 2
	})
}

// TestShortcutFollowsTheConfiguration: Create JIT mode shortcut Yes
// installs a valid launcher, No removes it, both by push.
func TestShortcutFollowsTheConfiguration(t *testing.T) {
	f := newFleet(t)
	validate, err := exec.LookPath("desktop-file-validate")
	testenv.Require(t, err == nil, "needs desktop-file-validate (desktop-file-utils)")
	path := filepath.Join(f.desktop, agent.DesktopFile)
	yes, no := true, false
	if _, err := f.srv.Service().SetGroupConfig(ctx, adminActor, hoist.DefaultGroup, hoist.AgentConfig{CreateJITShortcut: &yes}); err != nil {
		t.Fatal(err)
	}
	testenv.WaitUntil(t, "the launcher", func() bool { _, err := os.Stat(path); return err == nil })
	data, _ := os.ReadFile(path)
	if !strings.Contains(string(data), "Name=Start Hoist JIT Elevated Access\n") || !strings.Contains(string(data), "Exec=hoist jit --launcher\n") {
		t.Fatalf("launcher:\n%s", data)
	}
	if out, err := exec.Command(validate, path).CombinedOutput(); err != nil || len(out) > 0 {
		t.Fatalf("desktop-file-validate: %v: %s", err, out)
	}
	if info, _ := os.Stat(path); info.Mode().Perm() != 0o644 {
		t.Fatalf("launcher mode %v, want 0644", info.Mode().Perm())
	}
	if _, err := f.srv.Service().SetGroupConfig(ctx, adminActor, hoist.DefaultGroup, hoist.AgentConfig{CreateJITShortcut: &no}); err != nil {
		t.Fatal(err)
	}
	testenv.WaitUntil(t, "the launcher to go", func() bool { _, err := os.Stat(path); return os.IsNotExist(err) })
}

// TestVersionGatingAndSkipping: the server keeps from an agent what it is
// too old for and says so; an agent that meets a policy kind it does not
// know skips that one, reports it, and keeps all the others.
func TestVersionGatingAndSkipping(t *testing.T) {
	f := newFleet(t)
	f.createPolicy(hoist.Policy{Name: "From the future", Kind: hoist.KindApplication, Groups: []string{hoist.DefaultGroup}, Active: true,
		MinAgentVersion: "9.0.0", Application: &hoist.ApplicationRule{Path: "/usr/bin/id", Action: hoist.ActionElevate}})
	f.settled()
	v := f.view()
	if len(v.HeldBack) != 1 || v.HeldBack[0].What != "policy From the future" || v.HeldBack[0].Needs != "9.0.0" {
		t.Fatalf("held back = %+v", v.HeldBack)
	}
	for _, p := range f.agent.Bundle().Policies {
		if p.Name == "From the future" {
			t.Fatal("the agent got a policy it is too old for")
		}
	}
	// A server newer than the agent sends a kind the agent does not know.
	rev, _ := f.agent.PolicyState()
	cur, _ := json.Marshal(f.agent.Bundle())
	var raw map[string]any
	_ = json.Unmarshal(cur, &raw)
	raw["policies"] = append(raw["policies"].([]any), map[string]any{"id": "pol_future", "name": "Kernel modules", "kind": "kernel-module", "groups": []string{hoist.DefaultGroup}, "active": true})
	crafted, _ := json.Marshal(raw)
	if err := f.agent.ApplyBundle(crafted, nil); hoist.ErrorCode(err) != hoist.EForbidden {
		t.Fatalf("an unsigned bundle: got %v, want it refused (%s)", err, hoist.EForbidden)
	}
	if err := f.agent.ApplyBundle(crafted, f.signBundle(crafted)); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.agent.PolicyState(); got != rev {
		t.Fatalf("revision %s, want the crafted bundle's %s", got, rev)
	}
	if _, ok := f.agent.Bundle().JIT(); !ok {
		t.Fatal("one unknown policy stopped the others from applying")
	}
	if err := f.link.Checkin(ctx); err != nil {
		t.Fatal(err)
	}
	v = f.view()
	if len(v.Skipped) != 1 || v.Skipped[0].Name != "Kernel modules" || !strings.Contains(v.Skipped[0].Reason, "unknown policy kind") {
		t.Fatalf("skipped as the server sees it = %+v", v.Skipped)
	}
	f.request("--for 1m") // JIT mode goes on
}

// TestNoApprovalAfterJITModeIsOff: a request still pending when JIT mode is
// switched off for its machine cannot be approved (the agent would end the
// session at once); it can still be denied.
func TestNoApprovalAfterJITModeIsOff(t *testing.T) {
	f := newFleet(t)
	id := f.request("--for 10m --reason 'before the switch'")
	if _, err := f.srv.Service().SetPolicyActive(ctx, adminActor, "JIT Mode", false); err != nil {
		t.Fatal(err)
	}
	res, err := f.srv.Service().Approve(ctx, adminActor, []string{id}, 10*time.Minute, "")
	if err != nil || len(res) != 1 || res[0].OK || res[0].Code != hoist.EConflict || !strings.Contains(res[0].Error, "JIT mode has been switched off") {
		t.Fatalf("approve after JIT mode off: %+v, %v", res, err)
	}
	if r, _ := f.srv.Service().Request(ctx, adminActor, id); r.State != hoist.RequestPending {
		t.Fatalf("the request after a refused approval: %+v", r)
	}
	if res, _ := f.srv.Service().Deny(ctx, adminActor, []string{id}, "JIT is off"); !res[0].OK {
		t.Fatalf("deny after JIT mode off: %+v", res)
	}
}

// TestEditedPolicyBundleIsRefused: the bundle hoistd keeps on disk carries
// the server's signature. A bundle as the server sent it survives a
// restart with the server down; one that root edited on the machine — an
// elevate rule added, the revision kept — is refused at the next start:
// nothing of it is in force, no application is elevated, and the refusal
// reaches the server's audit log. The server's own bundle then puts the
// real policies back.
func TestEditedPolicyBundleIsRefused(t *testing.T) {
	f := newFleet(t)
	addr := strings.TrimPrefix(f.srv.URL(), "https://")
	f.createPolicy(hoist.Policy{Name: "Elevate id", Kind: hoist.KindApplication, Groups: []string{hoist.DefaultGroup}, Active: true,
		Application: &hoist.ApplicationRule{Path: "/usr/bin/id", Users: []string{f.user.Name}, Action: hoist.ActionElevate}})
	f.settled()
	elevated := func(what, cmd string) {
		t.Helper()
		if code, out, errOut := f.sh("hoist run -- " + cmd); code != 0 || out != "0\n" {
			t.Fatalf("%s: hoist run -- %s: exit %d, %q %q; want 0 and root's uid", what, cmd, code, out, errOut)
		}
	}
	refused := func(what, cmd string) {
		t.Helper()
		if code, out, errOut := f.sh("hoist run -- " + cmd); code != 126 || out != "" {
			t.Fatalf("%s: hoist run -- %s: exit %d, %q %q; want it refused (126)", what, cmd, code, out, errOut)
		}
	}
	elevated("by policy", "id -u")

	// The server goes away; the bundle it signed holds across a restart.
	if err := f.srv.Close(); err != nil {
		t.Fatal(err)
	}
	f.restartAgent()
	elevated("after a restart with the server down", "id -u")

	// Root adds a rule that elevates a shell for everyone, keeping the
	// revision, and restarts hoistd.
	path := filepath.Join(f.state, "policy.json")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var stored map[string]any
	if err := json.Unmarshal(data, &stored); err != nil {
		t.Fatalf("policy.json: %v\n%s", err, data)
	}
	bundle, ok := stored["bundle"].(map[string]any)
	if !ok {
		t.Fatalf("policy.json holds no bundle:\n%s", data)
	}
	bundle["policies"] = append(bundle["policies"].([]any), map[string]any{"id": "pol_root", "name": "Root shell", "kind": hoist.KindApplication,
		"groups": []string{hoist.DefaultGroup}, "active": true, "application": map[string]any{"path": "/usr/bin/dash", "action": hoist.ActionElevate}})
	edited, _ := json.Marshal(stored)
	if err := os.WriteFile(path, edited, 0o600); err != nil {
		t.Fatal(err)
	}
	f.restartAgent()
	refused("the edited bundle's rule", "dash -c 'id -u'")
	refused("the edited bundle's genuine rule", "id -u")
	if rev, _ := f.agent.PolicyState(); rev != "" {
		t.Errorf("revision held after the refusal: got %q, want none (the server must send its bundle)", rev)
	}

	// The server is back: it hears of the refusal, and its bundle restores
	// the real policies, without the added rule.
	f.srv = startServerAt(t, f.srvDir, addr)
	testenv.WaitUntil(t, "the refusal in the server's audit log", func() bool { return f.auditActions()["agent.policy.bundle_rejected"] == 1 })
	f.settled()
	elevated("with the server's bundle again", "id -u")
	refused("the added rule, after the server's bundle", "dash -c 'id -u'")
	var reason string
	_ = f.srv.Service().Audit(ctx, adminActor, hoist.AuditFilter{Action: "agent.policy.bundle_rejected"}, func(r hoist.AuditRecord) error {
		reason = string(r.Detail)
		return nil
	})
	if !strings.Contains(reason, "signature does not verify") || !strings.Contains(reason, `"from":"disk"`) {
		t.Errorf("the refusal as the server recorded it: %s; want the stored bundle's signature named", reason)
	}
}
