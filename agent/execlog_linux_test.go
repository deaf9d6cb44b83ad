package agent_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/agent"
	"github.com/hoist-jit/hoist/platform"
	"github.com/hoist-jit/hoist/testenv"
)

// newExecRig is a rig whose agent records execs with the BPF watcher.
func newExecRig(t *testing.T, budget int) *rig {
	t.Helper()
	r := newRig(t)
	w, err := platform.NewBPFExecWatcher()
	testenv.Require(t, err == nil, "needs BPF (CAP_BPF, BTF): "+errText(err))
	r.stop()
	r.execs, r.execBudget = w, budget
	r.start()
	t.Cleanup(func() { r.stop(); w.Close() })
	return r
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// execBatch is the detail of one session.commands event.
type execBatch struct {
	Commands []agent.ExecRecord `json:"commands"`
	Exits    []struct {
		N          int `json:"n"`
		ExitStatus int `json:"exit_status"`
	} `json:"exits"`
	Final    bool   `json:"final"`
	Recorded int    `json:"recorded"`
	Omitted  int    `json:"omitted"`
	Programs int    `json:"omitted_programs"`
	Lost     int    `json:"lost_by_source"`
	Summary  string `json:"summary"`
	Source   string `json:"source"`
}

// sessionExecs waits for the final batch of subject and returns every
// batch of it.
func (r *rig) sessionExecs(subject string) []execBatch {
	r.t.Helper()
	var out []execBatch
	testenv.WaitUntil(r.t, "the final exec record of "+subject, func() bool {
		out = nil
		final := false
		for _, ev := range r.events(agent.ActionSessionCommands) {
			if ev.Subject != subject {
				continue
			}
			raw, _ := json.Marshal(ev.Detail)
			var b execBatch
			if err := json.Unmarshal(raw, &b); err != nil {
				r.t.Fatal(err)
			}
			out = append(out, b)
			final = final || b.Final
		}
		return final
	})
	return out
}

// commands is every exec record of the batches, with the exits of later
// batches applied.
func commands(batches []execBatch) []agent.ExecRecord {
	var cmds []agent.ExecRecord
	for _, b := range batches {
		cmds = append(cmds, b.Commands...)
		for _, x := range b.Exits {
			for i := range cmds {
				if cmds[i].N == x.N {
					code := x.ExitStatus
					cmds[i].ExitStatus = &code
				}
			}
		}
	}
	return cmds
}

func find(cmds []agent.ExecRecord, argv ...string) (agent.ExecRecord, bool) {
	i := slices.IndexFunc(cmds, func(c agent.ExecRecord) bool { return slices.Equal(c.Argv, argv) })
	if i < 0 {
		return agent.ExecRecord{}, false
	}
	return cmds[i], true
}

// TestEveryExecInASessionIsRecorded: what root runs in a session — a
// shell's children, a static binary, a script, python's os.system — is in
// the session's record with its argv, from the kernel.
func TestEveryExecInASessionIsRecorded(t *testing.T) {
	busybox, err := exec.LookPath("busybox")
	testenv.Require(t, err == nil, "needs busybox (busybox-static)")
	r := newExecRig(t, 0)
	sid := r.grant(3600e9)
	script := filepath.Join(testenv.PublicDir(t), "a-script")
	if err := os.WriteFile(script, []byte("#!/bin/sh\n/bin/echo from-a-script >/dev/null\nexit 5\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{
		`hoist run -- sh -c 'id; /usr/bin/uname -a; busybox true'`,
		`hoist run -- ` + script,
		`hoist run -- python3 -c 'import os; os.system("hostname")'`,
	} {
		if got := r.sh("", cmd); got.code != 0 && !strings.Contains(cmd, script) {
			t.Fatalf("%s: exit %d, %s", cmd, got.code, got.stderr)
		}
	}
	if got := r.sh("", "hoist exit"); got.code != 0 {
		t.Fatalf("hoist exit: %d %s", got.code, got.stderr)
	}
	batches := r.sessionExecs(sid)
	cmds := commands(batches)
	for _, want := range [][]string{
		{"sh", "-c", "id; /usr/bin/uname -a; busybox true"}, {"id"}, {"/usr/bin/uname", "-a"}, {"busybox", "true"},
		{"/bin/sh", script}, {"/bin/echo", "from-a-script"},
		{"sh", "-c", "hostname"}, {"hostname"},
	} {
		c, ok := find(cmds, want...)
		if !ok {
			t.Errorf("no exec of %q in the session's record", want)
			continue
		}
		if c.Pid == 0 || c.Ppid == 0 || c.At.IsZero() || c.UID != 0 {
			t.Errorf("exec of %q: pid %d ppid %d at %v uid %d", want, c.Pid, c.Ppid, c.At, c.UID)
		}
	}
	if !slices.ContainsFunc(cmds, func(c agent.ExecRecord) bool {
		return len(c.Argv) == 3 && strings.HasPrefix(filepath.Base(c.Argv[0]), "python3") && c.Argv[1] == "-c"
	}) {
		t.Errorf("no exec of python3 -c in %+v", cmds)
	}
	if c, ok := find(cmds, "/bin/sh", script); ok && (c.ExitStatus == nil || *c.ExitStatus != 5) {
		t.Errorf("the script's exit status = %v, want 5", c.ExitStatus)
	}
	if c, ok := find(cmds, "busybox", "true"); ok && c.Path != busybox && c.Path != "/usr/bin/busybox" && c.Path != "/bin/busybox" {
		t.Errorf("busybox's path = %q", c.Path)
	}
	last := batches[len(batches)-1]
	if last.Source != platform.ExecSourceBPF || last.Omitted != 0 || last.Recorded != len(cmds) {
		t.Errorf("final batch = %+v, want source bpf, nothing omitted, %d recorded", last, len(cmds))
	}
}

// TestForkStormIsSummarised: 5,000 execs in a session are recorded up to
// the budget, counted beyond it, summarised in the final record, and the
// session still ends (the end does not wait for the record).
func TestForkStormIsSummarised(t *testing.T) {
	const budget = 100
	r := newExecRig(t, budget)
	sid := r.grant(3600e9)
	storm := `i=0; while [ $i -lt 5000 ]; do /bin/true; i=$((i+1)); done`
	if got := r.sh("", `hoist run -- sh -c '`+storm+`'`); got.code != 0 {
		t.Fatalf("storm: exit %d %s", got.code, got.stderr)
	}
	if got := r.sh("", "hoist exit"); got.code != 0 {
		t.Fatalf("hoist exit: %d %s", got.code, got.stderr)
	}
	if len(r.events("session.ended")) != 1 {
		t.Fatal("the session did not end")
	}
	batches := r.sessionExecs(sid)
	cmds := commands(batches)
	last := batches[len(batches)-1]
	if len(cmds) != budget || last.Recorded != budget {
		t.Errorf("recorded %d execs (final says %d), want the budget, %d", len(cmds), last.Recorded, budget)
	}
	// Every exec is either recorded or counted, unless the kernel's buffer
	// overflowed, which the record says.
	if total := last.Recorded + last.Omitted + last.Lost; total < 5001 {
		t.Errorf("recorded %d + omitted %d + lost %d = %d, want at least 5001", last.Recorded, last.Omitted, last.Lost, total)
	}
	if last.Omitted == 0 || !strings.Contains(last.Summary, "more execs of") || last.Programs < 1 {
		t.Errorf("final batch = %+v, want a summary of what was omitted", last)
	}
	// The audit is bounded: a handful of batches, not one per exec.
	if n := len(batches); n > 60 {
		t.Errorf("%d session.commands events for one storm", n)
	}
}

// TestPolicyRunExecsAreRecorded: a program elevated by policy, with no
// session, has its execs recorded too, under its run id.
func TestPolicyRunExecsAreRecorded(t *testing.T) {
	r := newExecRig(t, 0)
	sh, err := filepath.EvalSymlinks("/bin/sh")
	if err != nil {
		t.Fatal(err)
	}
	r.applyPolicies(hoist.ApplicationRule{Path: sh, Action: hoist.ActionElevate})
	if got := r.sh("", `hoist run -- /bin/sh -c '/bin/true by-policy; id -u'`); got.code != 0 || got.stdout != "0\n" {
		t.Fatalf("policy run: exit %d %q %q", got.code, got.stdout, got.stderr)
	}
	var run string
	testenv.WaitUntil(t, "a policy run's exec record", func() bool {
		for _, ev := range r.events(agent.ActionSessionCommands) {
			if strings.HasPrefix(ev.Subject, agent.RunIDPrefix) && ev.Detail["final"] == true {
				run = ev.Subject
				return true
			}
		}
		return false
	})
	cmds := commands(r.sessionExecs(run))
	if _, ok := find(cmds, "/bin/true", "by-policy"); !ok {
		t.Errorf("no exec of /bin/true by-policy in the run's record: %+v", cmds)
	}
}

// TestExecRecordSurvivesARestart: after hoistd restarts, the resumed
// session's programs are recorded on, in a stream of their own (numbered
// from 1 again, which the server keys apart).
func TestExecRecordSurvivesARestart(t *testing.T) {
	r := newExecRig(t, 0)
	sid := r.grant(3600e9)
	if got := r.sh("", `hoist run -- /bin/true before-the-restart`); got.code != 0 {
		t.Fatalf("before: %d %s", got.code, got.stderr)
	}
	testenv.WaitUntil(t, "the first program in the outbox", func() bool {
		for _, ev := range r.events(agent.ActionSessionCommands) {
			raw, _ := json.Marshal(ev.Detail)
			if ev.Subject == sid && strings.Contains(string(raw), "before-the-restart") {
				return true
			}
		}
		return false
	})
	r.stop()
	r.start()
	if got := r.sh("", `hoist run -- /bin/true after-the-restart`); got.code != 0 {
		t.Fatalf("after: %d %s", got.code, got.stderr)
	}
	if got := r.sh("", "hoist exit"); got.code != 0 {
		t.Fatalf("hoist exit: %d %s", got.code, got.stderr)
	}
	batches := r.sessionExecs(sid)
	streams := map[string]bool{}
	for _, ev := range r.events(agent.ActionSessionCommands) {
		if ev.Subject == sid {
			streams[ev.Detail["stream"].(string)] = true
		}
	}
	cmds := commands(batches)
	for _, want := range []string{"before-the-restart", "after-the-restart"} {
		if _, ok := find(cmds, "/bin/true", want); !ok {
			t.Errorf("no /bin/true %s in %+v", want, cmds)
		}
	}
	if len(streams) != 2 {
		t.Errorf("streams = %v, want one per hoistd", streams)
	}
}
