package jit_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/jit"
	"github.com/hoist-jit/hoist/localapi"
)

// unreachable is hoistd on a machine whose server cannot be reached: a
// request fails as unavailable, an offline challenge is made.
type unreachable struct{ offline []string }

func (u *unreachable) Status() (localapi.Status, error) {
	return localapi.Status{State: "none", Helper: &localapi.HelperInfo{JIT: true, Reminders: []string{"1m"}, DefaultDuration: "30m"}}, nil
}

func (u *unreachable) Request(time.Duration, string) error {
	return hoist.Errorf(hoist.EUnavailable, "cannot reach the server: connection refused")
}

func (u *unreachable) Exit() error { return nil }

func (u *unreachable) Extend(time.Duration, string) (localapi.Status, error) {
	return localapi.Status{}, hoist.Errorf(hoist.ENotFound, "no session")
}

func (u *unreachable) Offline(d time.Duration, reason string) (localapi.Challenge, error) {
	u.offline = append(u.offline, d.String()+"|"+reason)
	return localapi.Challenge{Code: "K7QF-2M9X-ZR4D", Duration: "30m", ExpiresAt: "2026-12-02T11:00:00Z"}, nil
}

// TestHelperOffersOfflineApproval: when the server cannot be reached the
// helper says so and shows an offline challenge for the same ask.
func TestHelperOffersOfflineApproval(t *testing.T) {
	d := &unreachable{}
	var out bytes.Buffer
	h := &jit.Helper{Daemon: d, In: strings.NewReader("\nprinter\n"), Out: &out, Poll: time.Millisecond}
	code := h.Run(context.Background())
	if code == 0 {
		t.Errorf("the helper exited 0 after the request failed")
	}
	text := out.String()
	if !strings.Contains(text, "cannot reach the server") || !strings.Contains(text, "K7QF-2M9X-ZR4D") || !strings.Contains(text, "hoist request --response") {
		t.Fatalf("the helper printed %q; want the failure, the challenge and how to answer it", text)
	}
	if len(d.offline) != 1 {
		t.Fatalf("offline challenges asked: %v, want one", d.offline)
	}
}

func TestEmergencyStartedIsLoud(t *testing.T) {
	m := jit.EmergencyStarted(jit.Started(time.Now().Add(time.Hour), time.Hour))
	if !m.Urgent || !strings.Contains(m.Summary, "EMERGENCY CODE") || !strings.Contains(m.Body, "reported") {
		t.Fatalf("the emergency start message %+v is not loud", m)
	}
}
