package e2e_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/agent"
	"github.com/hoist-jit/hoist/snapshot"
	"github.com/hoist-jit/hoist/testenv"
)

// TestChangeReportReachesTheServer: the files a group's configuration
// names reach the machine; root changes one of them and a cron table in a
// real session; the report the machine makes at the end is in the
// server's audit as agent.session.changes, under the session's id, with
// the changes the contract names. The snapshot reads a tree of the test's
// (the real machine's report is the agent package's test), so that other
// tests at work on this machine do not change what it sees.
func TestChangeReportReachesTheServer(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"etc/cron.d", "etc/myapp"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	conf := filepath.Join(root, "etc/myapp/app.conf")
	if err := os.WriteFile(conf, []byte("debug = false\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	snap := func(ctx context.Context, files []string) (*hoist.Snapshot, error) {
		return snapshot.Take(ctx, snapshot.Options{Root: root, Files: files})
	}
	f := newFleetOn(t, startServerAt(t, t.TempDir(), "127.0.0.1:0"), func(c *agent.Config) { c.Changes = snap })
	if _, err := f.srv.Service().SetGroupConfig(ctx, adminActor, hoist.DefaultGroup, hoist.AgentConfig{ChangeReportFiles: []string{"/etc/myapp"}}); err != nil {
		t.Fatal(err)
	}
	f.settled()
	id := f.request("--for 1h --reason 'tune myapp'")
	f.approve(id, time.Hour)
	testenv.WaitUntil(t, "the session", func() bool { return f.agent.Status(f.user.Name).State == "active" })
	sid := f.agent.Status(f.user.Name).SessionID
	script := "printf 'debug = true\\n' > " + conf + "; printf '* * * * * root true\\n' > " + filepath.Join(root, "etc/cron.d/job")
	if code, out, errOut := f.sh("hoist run -- sh -c \"" + script + "\""); code != 0 {
		t.Fatalf("the session's changes: exit %d, %q %q", code, out, errOut)
	}
	if code, _, errOut := f.sh("hoist exit"); code != 0 {
		t.Fatalf("hoist exit: %d %q", code, errOut)
	}
	var rec hoist.AuditRecord
	testenv.WaitUntil(t, "the change report on the server", func() bool {
		found := false
		_ = f.srv.Service().Audit(ctx, adminActor, hoist.AuditFilter{}, func(r hoist.AuditRecord) error {
			if r.Action == "agent.session.changes" && r.Subject == sid {
				rec, found = r, true
			}
			return nil
		})
		return found
	})
	// The contract the session page and hoist admin sessions show read.
	var detail struct {
		Changes []struct{ Kind, Name, Change, Detail string }
		Omitted *int
	}
	if err := json.Unmarshal(rec.Detail, &detail); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, c := range detail.Changes {
		got[c.Kind+" "+c.Name] = c.Change
	}
	if len(got) != 2 || got["file /etc/myapp/app.conf"] != "changed" || got["cron /etc/cron.d/job"] != "added" || detail.Omitted == nil || *detail.Omitted != 0 {
		t.Fatalf("the server's record: %s, want app.conf changed and the cron job added, none omitted", rec.Detail)
	}
}
