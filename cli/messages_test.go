package cli_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/control"
)

// TestMessages: what a newcomer types, and the exact message each gets on
// stderr, against a real hoist-server (the user-side lines need no hoistd:
// they are refused before it is asked).
func TestMessages(t *testing.T) {
	m := startServer(t)
	admin := loggedInAdmin(t, m)
	id := ask(t, m, "alice", "ws-01", "", time.Hour)
	admin.ok("", "admin", "groups", "create", "devs", "--hostname", "dev-*")
	ctx := context.Background()
	root := control.Actor{Name: "admin", Role: hoist.RoleAdmin}
	if _, err := m.Service().CreatePolicy(ctx, root, hoist.Policy{Name: "Short JIT", Kind: hoist.KindJITStartup, Groups: []string{"devs"}, Active: true,
		Startup: &hoist.JITStartup{MaxDuration: hoist.Duration(4 * time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	const hint = "use a number and a unit, like 30m, 2h or 1d"
	nowhere := "--socket=" + t.TempDir() + "/none.sock"
	for _, tc := range []struct {
		name string
		args []string
		want string // stderr, exactly
	}{
		{"request for a bare number", []string{"request", nowhere, "--for", "1"}, `hoist: --for: "1" has no unit: did you mean 1m or 1h?`},
		{"request for nothing", []string{"request", nowhere, "--for", ""}, "hoist: --for: a duration is required: " + hint},
		{"request for a word", []string{"request", nowhere, "--for", "soon"}, `hoist: --for: "soon" is not a duration: ` + hint},
		{"jit for a bare number", []string{"jit", nowhere, "--for", "90"}, `hoist: --for: "90" has no unit: did you mean 90m or 90h?`},
		{"run with no command", []string{"run", nowhere}, "hoist: name the program to run, like: hoist run -- apt update"},
		{"explain with no command", []string{"explain", nowhere}, "hoist: name the program to explain, like: hoist explain -- apt update"},
		{"no hoistd", []string{"status", nowhere}, "hoist: cannot reach hoistd at " + strings.TrimPrefix(nowhere, "--socket=") + ": is it running? (no such file or directory)"},
		{"approve for a bare number", []string{"admin", "approve", id, "--for", "1"}, `hoist: --for: "1" has no unit: did you mean 1m or 1h?`},
		{"approve for nothing", []string{"admin", "approve", id, "--for", ""}, "hoist: --for: a duration is required: " + hint},
		{"approve over the maximum", []string{"admin", "approve", id, "--for", "9h"}, "hoist: 9h is out of range: a duration must be between 1 second and 8 hours"},
		{"deny without a reason", []string{"admin", "deny", id}, "hoist: --reason TEXT is required: the requester is shown why they were denied"},
		{"deny with a blank reason", []string{"admin", "deny", id, "--reason", "  "}, "hoist: --reason TEXT is required: the requester is shown why they were denied"},
		{"admin has no --socket", []string{"admin", "approvals", "--socket", "/x"}, "hoist: unknown flag: --socket (see hoist admin approvals --help)"},
		{"token for a bare number", []string{"admin", "enroll-token", "--ttl", "1"}, `hoist: --ttl: "1" has no unit: did you mean 1m or 1h?`},
		{"login without a terminal", []string{"admin", "login", "--server", m.URL(), "--user", "admin", "--ca", m.CAPath()},
			"hoist: no terminal to ask for the password on: give it on standard input with --password-stdin"},
		{"default above the default maximum", []string{"admin", "config", "set", hoist.DefaultGroup, "default_duration=9h"},
			"hoist: the group is not valid: config.default_duration: 9h is longer than the 8 hours a request may last"},
		{"default above the group's policy", []string{"admin", "config", "set", "devs", "default_duration=5h"},
			`hoist: the group is not valid: config.default_duration: 5h is longer than the 4 hours that policy "Short JIT" allows`},
		{"default above the group's own max", []string{"admin", "config", "set", "devs", "default_duration=2h", "max_duration=1h"},
			"hoist: the group is not valid: config.default_duration: 2h is longer than the max duration, 1 hour"},
		{"a config duration without a unit", []string{"admin", "config", "set", "devs", "grace=10"}, `hoist: grace: "10" has no unit: did you mean 10m or 10h?`},
		{"a grace too long", []string{"admin", "config", "set", "devs", "grace=1h"}, "hoist: the group is not valid: config.grace: between 0 seconds and 10 minutes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := admin.run("", tc.args...)
			if got := strings.TrimSpace(r.stderr); r.code == 0 || got != tc.want {
				t.Fatalf("hoist %s: exit %d, stderr\n  %q\nwant\n  %q", strings.Join(tc.args, " "), r.code, got, tc.want)
			}
		})
	}
	// None of it changed the request or the configuration.
	r, _ := m.Service().Request(ctx, root, id)
	if r.State != hoist.RequestPending || r.Version != 1 {
		t.Fatalf("request after the refusals: %s v%d, want pending v1", r.State, r.Version)
	}
	// What is allowed is: the days form, and a default within the policy.
	admin.ok("", "admin", "config", "set", "devs", "default_duration=3h", "reminders=10 minutes,1m")
	admin.ok("", "admin", "deny", id, "--reason", "use the ticket queue")
}

// TestDenyNeedsAReasonInControl: the console and the API reach the same
// rule as the CLI.
func TestDenyNeedsAReasonInControl(t *testing.T) {
	m := startServer(t)
	id := ask(t, m, "alice", "ws-01", "", time.Hour)
	_, err := m.Service().Deny(context.Background(), control.Actor{Name: "admin", Role: hoist.RoleAdmin}, []string{id}, " ")
	var herr *hoist.Error
	if !errorsAs(err, &herr) || herr.Code != hoist.EInvalid || herr.Fields["reason"] != "required" {
		t.Fatalf("deny without a reason: %v; want EInvalid naming reason", err)
	}
}

// TestConfigShowSaysWhereFrom: the effective value of each field, and
// whether it is set here, inherited from the default group, or the default.
func TestConfigShowSaysWhereFrom(t *testing.T) {
	m := startServer(t)
	admin := loggedInAdmin(t, m)
	admin.ok("", "admin", "groups", "create", "devs", "--hostname", "dev-*")
	admin.ok("", "admin", "config", "set", hoist.DefaultGroup, "grace=20s")
	admin.ok("", "admin", "config", "set", "devs", "default_duration=1h", "create_jit_shortcut=yes")
	out := admin.ok("", "admin", "config", "show", "devs")
	for _, want := range [][]string{
		{"create_jit_shortcut", "yes", "set here"},
		{"default_duration", "1h", "set here"},
		{"grace", "20s", "inherited from group " + hoist.DefaultGroup},
		{"max_duration", "8h", "default"},
		{"reminders", "15m, 5m, 1m before the end", "default"},
		{"checkin_interval", "5m", "default"},
	} {
		found := false
		for _, line := range strings.Split(out, "\n") {
			cols := strings.Fields(line)
			if len(cols) > 0 && cols[0] == want[0] {
				found = strings.Contains(line, want[1]) && strings.HasSuffix(strings.TrimSpace(line), want[2])
			}
		}
		if !found {
			t.Errorf("config show devs lacks %v:\n%s", want, out)
		}
	}
}

func errorsAs(err error, target **hoist.Error) bool { return errors.As(err, target) }
