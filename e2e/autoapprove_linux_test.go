package e2e_test

import (
	"os/user"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
)

// TestAutomaticApproval: a rule of the startup policy for the user's Unix
// group approves hoist request --wait at once; the user is told it was
// automatic, the session starts, and the audit log names the rule.
func TestAutomaticApproval(t *testing.T) {
	f, _ := clockedFleet(t)
	g, err := user.LookupGroupId(strconv.Itoa(int(f.user.GID)))
	if err != nil {
		t.Fatal(err)
	}
	svc := f.srv.Service()
	p, err := svc.Policy(ctx, adminActor, "JIT Mode (Startup and Approval)")
	if err != nil {
		t.Fatal(err)
	}
	body := *p.Startup
	body.AutoApprove = []hoist.AutoRule{{Name: "routine", UnixGroups: []string{g.Name}, MaxDuration: hoist.Duration(time.Hour)}}
	p.Startup = &body
	if _, err := svc.UpdatePolicy(ctx, adminActor, p.ID, p); err != nil {
		t.Fatal(err)
	}
	f.settled()

	code, out, errOut := f.sh("hoist request --for 30m --wait")
	if code != 0 || !strings.Contains(errOut, "approved automatically by rule routine") || !strings.Contains(out, "active") {
		t.Fatalf("hoist request --wait: exit %d, stdout %q, stderr %q; want approved automatically by rule routine", code, out, errOut)
	}
	if code, out, _ := f.sh("hoist run -- id -u"); code != 0 || out != "0\n" {
		t.Fatalf("hoist run in the automatic session: exit %d, %q", code, out)
	}
	var actors []string
	_ = svc.Audit(ctx, adminActor, hoist.AuditFilter{Action: hoist.AuditRequestApproved}, func(r hoist.AuditRecord) error {
		actors = append(actors, r.Actor)
		return nil
	})
	if len(actors) != 1 || actors[0] != "rule:routine" {
		t.Fatalf("request.approved by %v, want rule:routine", actors)
	}
}
