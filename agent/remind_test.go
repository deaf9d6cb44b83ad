package agent_test

import (
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
)

// TestHelperRemindersPeriod: the JIT helper is told the period of its
// reminders from the child-processes policy when it sets one (0 included:
// none), else from the agent configuration, else the default; the policy's
// final marks alone leave the configuration's period.
func TestHelperRemindersPeriod(t *testing.T) {
	every := func(d time.Duration) *hoist.Duration { v := hoist.Duration(d); return &v }
	for _, tc := range []struct {
		name     string
		config   *hoist.Duration
		children hoist.JITChildren
		want     time.Duration
	}{
		{"the default", nil, hoist.JITChildren{}, hoist.DefaultReminderEvery},
		{"the configuration's", every(time.Hour), hoist.JITChildren{Reminders: []hoist.Duration{hoist.Duration(10 * time.Minute)}}, time.Hour},
		{"the policy's", every(time.Hour), hoist.JITChildren{ReminderEvery: every(20 * time.Minute)}, 20 * time.Minute},
		{"the policy's none", every(time.Hour), hoist.JITChildren{ReminderEvery: every(0)}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newBundleRig(t)
			policies := hoist.SamplePolicies(time.Now())
			for i := range policies {
				policies[i].Active = true
				if policies[i].Kind == hoist.KindJITChildren {
					c := tc.children
					policies[i].Children = &c
				}
			}
			b := hoist.Bundle{Revision: "r1", Groups: []string{hoist.DefaultGroup}, Policies: policies, Config: hoist.AgentConfig{ReminderEvery: tc.config}}
			data, sig, err := hoist.SignBundle(r.priv, b)
			if err != nil {
				t.Fatal(err)
			}
			if err := r.agent.ApplyBundle(data, sig); err != nil {
				t.Fatal(err)
			}
			h := r.agent.Helper()
			if !h.JIT || h.ReminderEvery != tc.want {
				t.Fatalf("JIT %v, reminders every %s; want every %s", h.JIT, h.ReminderEvery, tc.want)
			}
		})
	}
}
