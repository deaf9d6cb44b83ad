package hoist_test

import (
	"errors"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
)

func dur(d time.Duration) *hoist.Duration { v := hoist.Duration(d); return &v }

// TestConfigAgainstPolicies: a default duration no policy the group meets
// allows is refused, naming the field; the limit comes from the policy, the
// group's own max_duration, or the default maximum.
func TestConfigAgainstPolicies(t *testing.T) {
	startup := func(name string, groups []string, max time.Duration) hoist.Policy {
		return hoist.Policy{Name: name, Kind: hoist.KindJITStartup, Groups: groups, Active: true, Startup: &hoist.JITStartup{MaxDuration: hoist.Duration(max)}}
	}
	for _, tc := range []struct {
		name   string
		config hoist.AgentConfig
		ps     []hoist.Policy
		want   string // the message for config.default_duration, "" when accepted
	}{
		{"no policy, over 8h", hoist.AgentConfig{DefaultDuration: dur(9 * time.Hour)}, nil, "9h is longer than the 8 hours a request may last"},
		{"no policy, 8h", hoist.AgentConfig{DefaultDuration: dur(8 * time.Hour)}, nil, ""},
		{"the group's own max", hoist.AgentConfig{DefaultDuration: dur(2 * time.Hour), MaxDuration: dur(time.Hour)}, nil, "2h is longer than the 1 hour a request may last"},
		{"a policy of the group", hoist.AgentConfig{DefaultDuration: dur(5 * time.Hour)}, []hoist.Policy{startup("Startup", []string{"devs"}, 4*time.Hour)},
			`5h is longer than the 4 hours that policy "Startup" allows`},
		{"a policy of the default group", hoist.AgentConfig{DefaultDuration: dur(9 * time.Hour)}, []hoist.Policy{startup("Everyone", []string{hoist.DefaultGroup}, 0)},
			`9h is longer than the 8 hours that policy "Everyone" allows`},
		{"a longer policy", hoist.AgentConfig{DefaultDuration: dur(10 * time.Hour)}, []hoist.Policy{startup("Long", []string{"devs"}, 12*time.Hour)}, ""},
		{"a policy of another group", hoist.AgentConfig{DefaultDuration: dur(6 * time.Hour)}, []hoist.Policy{startup("Ops", []string{"ops"}, time.Hour)}, ""},
		{"unset", hoist.AgentConfig{}, []hoist.Policy{startup("Startup", []string{"devs"}, time.Hour)}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.config.CheckAgainst("devs", tc.ps)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var herr *hoist.Error
			if !errors.As(err, &herr) || herr.Code != hoist.EInvalid || herr.Fields["config.default_duration"] != tc.want {
				t.Fatalf("got %v; want EInvalid with config.default_duration %q", err, tc.want)
			}
		})
	}
}

// TestStartupRulesClampDefault: a configured default above the maximum
// (stored before it was checked) becomes the maximum, so a request that
// names no duration is never refused as too long.
func TestStartupRulesClampDefault(t *testing.T) {
	b := hoist.Bundle{Config: hoist.AgentConfig{DefaultDuration: dur(9 * time.Hour)}}
	rules := b.StartupRules(hoist.JITPolicies{Startup: hoist.Policy{Startup: &hoist.JITStartup{}}})
	got, err := rules.MayRequest("alice", nil, 0, "")
	if err != nil || got != 8*time.Hour {
		t.Fatalf("MayRequest with no duration = %v, %v; want 8h", got, err)
	}
	_, err = rules.MayRequest("alice", nil, 9*time.Hour, "")
	if want := "9h is not a window this machine allows: a request must be between 1 second and 8 hours"; hoist.ErrorMessage(err) != want {
		t.Fatalf("9h: %q; want %q", hoist.ErrorMessage(err), want)
	}
}
