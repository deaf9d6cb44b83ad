package hoist_test

import (
	"strings"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
)

var t0 = time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)

func pending(t *testing.T) hoist.Request {
	t.Helper()
	r, err := hoist.NewRequest("alice", "ws-01", "", "install a driver", 45*time.Minute, hoist.DefaultApprovalSettings(), t0)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestNewRequestValidates(t *testing.T) {
	set := hoist.DefaultApprovalSettings()
	strict := set
	strict.ReasonRequired, strict.ReasonPattern = true, `^INC[0-9]+`
	cases := []struct {
		name     string
		user     string
		host     string
		reason   string
		d        time.Duration
		set      hoist.ApprovalSettings
		wantCode string
		wantDur  time.Duration
	}{
		{"defaults to one time", "alice", "ws", "", 0, set, "", 30 * time.Minute},
		{"one second is allowed", "alice", "ws", "", time.Second, set, "", time.Second},
		{"the maximum is allowed", "alice", "ws", "", 8 * time.Hour, set, "", 8 * time.Hour},
		{"over the maximum", "alice", "ws", "", 8*time.Hour + time.Second, set, hoist.EInvalid, 0},
		{"under a second", "alice", "ws", "", time.Millisecond, set, hoist.EInvalid, 0},
		{"negative", "alice", "ws", "", -time.Minute, set, hoist.EInvalid, 0},
		{"fractional seconds", "alice", "ws", "", 1500 * time.Millisecond, set, "", 1500 * time.Millisecond},
		{"no user", "", "ws", "", 0, set, hoist.EInvalid, 0},
		{"no host", "alice", "", "", 0, set, hoist.EInvalid, 0},
		{"control characters in reason", "alice", "ws", "ok\x1b[2Jcleared", 0, set, hoist.EInvalid, 0},
		{"newline in user", "al\nice", "ws", "", 0, set, hoist.EInvalid, 0},
		{"bidirectional override in host", "alice", "web\u202Eved-bd", "", 0, set, hoist.EInvalid, 0},
		{"zero-width space in reason", "alice", "ws", "ok\u200b", 0, set, hoist.EInvalid, 0},
		{"line separator in reason", "alice", "ws", "a\u2028b", 0, set, hoist.EInvalid, 0},
		{"reason too long", "alice", "ws", strings.Repeat("x", 1001), 0, set, hoist.EInvalid, 0},
		{"reason required", "alice", "ws", "  ", 0, strict, hoist.EInvalid, 0},
		{"reason must match", "alice", "ws", "because", 0, strict, hoist.EInvalid, 0},
		{"reason matches", "alice", "ws", "INC1234 printer", 0, strict, "", 30 * time.Minute},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := hoist.NewRequest(tc.user, tc.host, "", tc.reason, tc.d, tc.set, t0)
			if got := hoist.ErrorCode(err); got != tc.wantCode {
				t.Fatalf("code = %q (%v), want %q", got, err, tc.wantCode)
			}
			if err == nil && (r.RequestedDuration != tc.wantDur || r.State != hoist.RequestPending || !r.ExpiresAt.Equal(t0.Add(set.PendingTTL))) {
				t.Fatalf("request = %+v, want pending for %s", r, tc.wantDur)
			}
		})
	}
}

func TestRequestStateMachine(t *testing.T) {
	set := hoist.DefaultApprovalSettings()
	cases := []struct {
		name      string
		decide    func(r hoist.Request) (hoist.Request, error)
		wantState hoist.RequestState
		wantCode  string
	}{
		{"approve for", func(r hoist.Request) (hoist.Request, error) {
			next, _, err := r.Approve(hoist.Approval{Approver: "carol", Duration: time.Hour}, set, t0)
			return next, err
		}, hoist.RequestApproved, ""},
		{"approve once", func(r hoist.Request) (hoist.Request, error) {
			next, s, err := r.Approve(hoist.Approval{Approver: "carol"}, set, t0)
			if err == nil && s.NotAfter.Sub(s.NotBefore) != 30*time.Minute {
				t.Errorf("one-time window = %s, want 30m", s.NotAfter.Sub(s.NotBefore))
			}
			return next, err
		}, hoist.RequestApproved, ""},
		{"self approval", func(r hoist.Request) (hoist.Request, error) {
			next, _, err := r.Approve(hoist.Approval{Approver: "Alice", Duration: time.Hour}, set, t0)
			return next, err
		}, hoist.RequestPending, hoist.EForbidden},
		{"approve beyond max", func(r hoist.Request) (hoist.Request, error) {
			next, _, err := r.Approve(hoist.Approval{Approver: "carol", Duration: 9 * time.Hour}, set, t0)
			return next, err
		}, hoist.RequestPending, hoist.EInvalid},
		{"deny", func(r hoist.Request) (hoist.Request, error) { return r.Deny("carol", "no", set, t0) }, hoist.RequestDenied, ""},
		{"cancel", func(r hoist.Request) (hoist.Request, error) {
			return r.Next(hoist.RequestEvent{To: hoist.RequestCancelled, Actor: "alice"}, t0)
		}, hoist.RequestCancelled, ""},
		{"expire too early", func(r hoist.Request) (hoist.Request, error) {
			return r.Next(hoist.RequestEvent{To: hoist.RequestExpired, Actor: "hoist"}, t0)
		}, hoist.RequestPending, hoist.EConflict},
		{"expire on time", func(r hoist.Request) (hoist.Request, error) {
			return r.Next(hoist.RequestEvent{To: hoist.RequestExpired, Actor: "hoist"}, t0.Add(set.PendingTTL))
		}, hoist.RequestExpired, ""},
		{"back to pending", func(r hoist.Request) (hoist.Request, error) {
			return r.Next(hoist.RequestEvent{To: hoist.RequestPending, Actor: "x"}, t0)
		}, hoist.RequestPending, hoist.EInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := pending(t)
			next, err := tc.decide(r)
			if got := hoist.ErrorCode(err); got != tc.wantCode {
				t.Fatalf("code = %q (%v), want %q", got, err, tc.wantCode)
			}
			if err != nil {
				return
			}
			if next.State != tc.wantState || next.Version != r.Version+1 || len(next.History) != 2 {
				t.Fatalf("next = %s v%d with %d transitions", next.State, next.Version, len(next.History))
			}
			if last := next.History[1]; last.From != "pending" || last.To != string(tc.wantState) || last.Actor == "" {
				t.Fatalf("transition = %+v", last)
			}
			// A terminal state cannot be left, by any event.
			for _, to := range []hoist.RequestState{hoist.RequestApproved, hoist.RequestDenied, hoist.RequestCancelled, hoist.RequestExpired, hoist.RequestPending} {
				if _, err := next.Next(hoist.RequestEvent{To: to, Actor: "x", Duration: time.Hour, SessionID: "ses_x"}, t0.Add(48*time.Hour)); hoist.ErrorCode(err) != hoist.EConflict {
					t.Errorf("%s -> %s: %v, want conflict", next.State, to, err)
				}
			}
			if len(r.History) != 1 {
				t.Fatal("deciding changed the original request")
			}
		})
	}
}

func TestSessionEnd(t *testing.T) {
	r := pending(t)
	_, s, err := r.Approve(hoist.Approval{Approver: "carol", Duration: time.Hour}, hoist.DefaultApprovalSettings(), t0)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Remaining(t0.Add(15 * time.Minute)); got != 45*time.Minute {
		t.Fatalf("remaining = %s, want 45m", got)
	}
	cases := []struct {
		name       string
		reason     hoist.EndReason
		at         time.Time
		wantCode   string
		wantReason hoist.EndReason
	}{
		{"exit early", hoist.EndExited, t0.Add(time.Minute), "", hoist.EndExited},
		{"revoke", hoist.EndRevoked, t0.Add(time.Minute), "", hoist.EndRevoked},
		{"expire early", hoist.EndExpired, t0.Add(time.Minute), hoist.EConflict, ""},
		{"expire on time", hoist.EndExpired, t0.Add(time.Hour), "", hoist.EndExpired},
		{"revoke after the window records expiry", hoist.EndRevoked, t0.Add(2 * time.Hour), "", hoist.EndExpired},
		{"unknown reason", "bored", t0, hoist.EInvalid, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ended, err := s.End(tc.reason, "carol", "", tc.at)
			if got := hoist.ErrorCode(err); got != tc.wantCode {
				t.Fatalf("code = %q (%v), want %q", got, err, tc.wantCode)
			}
			if err != nil {
				return
			}
			if ended.State != hoist.SessionEnded || ended.EndReason != tc.wantReason || ended.Remaining(tc.at) != 0 {
				t.Fatalf("ended = %+v", ended)
			}
			if _, err := ended.End(hoist.EndExited, "alice", "", tc.at); hoist.ErrorCode(err) != hoist.EConflict {
				t.Fatalf("ending twice: %v, want conflict", err)
			}
		})
	}
}

func TestLoginDelay(t *testing.T) {
	cases := []struct {
		failures int
		since    time.Duration
		want     time.Duration
	}{
		{0, 0, 0}, {4, 0, 0}, {5, 0, time.Second}, {6, 0, 2 * time.Second},
		{7, time.Second, 3 * time.Second}, {50, 0, 15 * time.Minute}, {8, time.Hour, 0},
	}
	for _, tc := range cases {
		if got := hoist.LoginDelay(tc.failures, t0, t0.Add(tc.since)); got != tc.want {
			t.Errorf("LoginDelay(%d, +%s) = %s, want %s", tc.failures, tc.since, got, tc.want)
		}
	}
}

func TestCan(t *testing.T) {
	permits := []hoist.Permit{hoist.PermitReadRequests, hoist.PermitDecide, hoist.PermitReadAudit, hoist.PermitManageUsers}
	want := map[hoist.Role][]bool{
		hoist.RoleAdmin:    {true, true, true, true},
		hoist.RoleApprover: {true, true, false, false},
		hoist.RoleAuditor:  {true, false, true, false},
		"root":             {false, false, false, false},
	}
	for role, wants := range want {
		for i, p := range permits {
			if got := hoist.Can(role, p); got != wants[i] {
				t.Errorf("Can(%s, %s) = %v, want %v", role, p, got, wants[i])
			}
		}
	}
}

func TestFormatAndParseDuration(t *testing.T) {
	for in, want := range map[time.Duration]string{time.Hour: "1h", 90 * time.Minute: "1h30m", 45 * time.Minute: "45m", 90 * time.Second: "1m30s", 10 * time.Second: "10s", 0: "0s"} {
		if got := hoist.FormatDuration(in); got != want {
			t.Errorf("FormatDuration(%s) = %q, want %q", in, got, want)
		}
	}
	for _, bad := range []string{"", "1", "forever", "-5m", "0s", "1y"} {
		if _, err := hoist.ParseDuration(bad); hoist.ErrorCode(err) != hoist.EInvalid {
			t.Errorf("ParseDuration(%q) = %v, want invalid", bad, err)
		}
	}
}
