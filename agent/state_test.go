package agent

import (
	"errors"
	"testing"
	"time"
)

func TestSessionStateMachine(t *testing.T) {
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	active := sessionStatus{State: stateActive}
	ending := sessionStatus{State: stateEnding, EndReason: "exited"}
	done := sessionStatus{State: stateEnded, EndReason: "exited", EndedAt: now.Add(-time.Hour)}
	tests := []struct {
		name    string
		cur     sessionStatus
		ev      sessionEvent
		want    sessionStatus
		changed bool
		err     error
	}{
		{"an end begins", active, endEvent("expired"), sessionStatus{State: stateEnding, EndReason: "expired"}, true, nil},
		{"an end needs a reason", active, endEvent(""), active, false, errNoReason},
		{"a second end keeps the first reason", ending, endEvent("revoked"), ending, false, nil},
		{"the end finishes", ending, ended, sessionStatus{State: stateEnded, EndReason: "exited", EndedAt: now}, true, nil},
		{"no finish before the end began", active, ended, active, false, errNotEnding},
		{"ended is terminal for an end", done, endEvent("revoked"), done, false, errSessionOver},
		{"ended is terminal for a finish", done, ended, done, false, errSessionOver},
		{"unknown events change nothing", active, sessionEvent{}, active, false, errUnknownEvent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, changed, err := step(tc.cur, tc.ev, now)
			if got != tc.want || changed != tc.changed || !errors.Is(err, tc.err) {
				t.Errorf("step(%+v, %+v) = %+v, %v, %v; want %+v, %v, %v", tc.cur, tc.ev, got, changed, err, tc.want, tc.changed, tc.err)
			}
		})
	}
}

func TestUserView(t *testing.T) {
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		name          string
		cur           sessionStatus
		notAfter      time.Time
		state, reason string
		closing       bool
	}{
		{"active in its window", sessionStatus{State: stateActive}, now.Add(time.Minute), "active", "", false},
		{"active past its window is expired and closing", sessionStatus{State: stateActive}, now, "ended", "expired", true},
		{"ending is ended and closing", sessionStatus{State: stateEnding, EndReason: "exited"}, now.Add(time.Hour), "ended", "exited", true},
		{"ended is done", sessionStatus{State: stateEnded, EndReason: "revoked"}, now.Add(time.Hour), "ended", "revoked", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			state, reason, closing := userView(tc.cur, tc.notAfter, now)
			if state != tc.state || reason != tc.reason || closing != tc.closing {
				t.Errorf("userView = %q, %q, %v; want %q, %q, %v", state, reason, closing, tc.state, tc.reason, tc.closing)
			}
		})
	}
}
