package e2e_test

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/agent"
	"github.com/hoist-jit/hoist/testenv"
)

// TestSudoCommandsReachTheServer: what a user runs through sudo during an
// approved session is in the server's audit of that session, with its
// argv, as hoist run's commands are.
func TestSudoCommandsReachTheServer(t *testing.T) {
	_, err := exec.LookPath("sudo")
	testenv.Require(t, err == nil, "needs sudo (scripts/test installs it)")
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	sudo := &agent.SudoConfig{Instance: "e" + hex.EncodeToString(b), PAMServices: []string{"sudo", "sudo-i"}}
	var f *fleet
	t.Cleanup(func() { // after the fleet's own: hoistd has stopped
		u := *sudo
		u.Hook, u.Socket = filepath.Join(f.bin, "hoistd"), f.socket
		if err := agent.UninstallSudo(u); err != nil {
			t.Errorf("uninstall: %v", err)
		}
	})
	f = newFleetOn(t, startServerAt(t, t.TempDir(), "127.0.0.1:0"), func(c *agent.Config) { c.Sudo = sudo })
	id := f.request("--for 1h --reason 'install cups'")
	f.approve(id, time.Hour)
	// Status says sudo works once the drop-in is in place, a moment after
	// the session is active.
	testenv.WaitUntil(t, "sudo in the session on the machine", func() bool {
		st := f.agent.Status(f.user.Name)
		return st.State == "active" && st.Sudo
	})
	sid := f.agent.Status(f.user.Name).SessionID
	for _, script := range []string{"sudo -n id -u", "sudo -n -i id -u"} {
		if code, out, errOut := f.sh(script); code != 0 || out != "0\n" {
			t.Fatalf("%s: exit %d, %q %q", script, code, out, errOut)
		}
	}
	type started struct {
		Argv []string `json:"argv"`
		Via  string   `json:"via"`
	}
	var got []started
	testenv.WaitUntil(t, "the sudo commands in the server's audit of the session", func() bool {
		got = nil
		_ = f.srv.Service().Audit(ctx, adminActor, hoist.AuditFilter{Action: "agent.command.started", Subject: sid}, func(r hoist.AuditRecord) error {
			var s started
			if json.Unmarshal(r.Detail, &s) == nil && s.Via == "sudo" {
				got = append(got, s)
			}
			return nil
		})
		return len(got) >= 2
	})
	var argvs []string
	for _, s := range got {
		argvs = append(argvs, strings.Join(s.Argv, " "))
	}
	for _, want := range []string{"sudo -n id -u", "sudo -n -i id -u"} {
		if !strings.Contains(strings.Join(argvs, "\n"), want) {
			t.Errorf("the server's audit of %s lacks %q; it has %q", sid, want, argvs)
		}
	}
	testenv.WaitUntil(t, "the ends of the sudo commands on the server", func() bool {
		n := 0
		_ = f.srv.Service().Audit(ctx, adminActor, hoist.AuditFilter{Action: "agent.command.ended", Subject: sid}, func(r hoist.AuditRecord) error {
			if strings.Contains(string(r.Detail), `"via":"sudo"`) {
				n++
			}
			return nil
		})
		return n >= 2
	})
}
