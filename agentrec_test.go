package hoist_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
)

func TestNameAgents(t *testing.T) {
	agents := []hoist.AgentRecord{
		{ID: "a", Hostname: "web-1"},
		{ID: "b", Hostname: "WEB-1."},                       // the same name, spelt otherwise
		{ID: "c", Hostname: "db-1", PinnedName: "db-1"},     // pinned, honest
		{ID: "d", Hostname: "web-2", PinnedName: "build-3"}, // pinned, reports another
		{ID: "e", Hostname: "build-3"},                      // claims d's pinned name
		{ID: "f", Hostname: "db-1", Revoked: true},          // revoked: neither flagged nor flags
	}
	names := hoist.NameAgents(agents)
	for _, tc := range []struct {
		id, name, shared string
		with             []string
		mismatch         bool
	}{
		{"a", "web-1", "web-1", []string{"b"}, false},
		{"b", "WEB-1.", "WEB-1.", []string{"a"}, false},
		{"c", "db-1", "", nil, false},
		{"d", "build-3", "build-3", []string{"e"}, true},
		{"e", "build-3", "build-3", []string{"d"}, false},
		{"f", "db-1", "", nil, false},
	} {
		n := names[tc.id]
		if n.Name != tc.name || n.Shared != tc.shared || !slices.Equal(n.SharedWith, tc.with) || n.Mismatch != tc.mismatch || n.Duplicate() != (len(tc.with) > 0) {
			t.Errorf("agent %s: got %+v, want name %q shared %q with %v, mismatch %v", tc.id, n, tc.name, tc.shared, tc.with, tc.mismatch)
		}
	}
}

func TestNoteHostnameKeepsTheLastFive(t *testing.T) {
	a := hoist.AgentRecord{Hostname: "h0"}
	now := time.Unix(0, 0)
	if _, changed := a.NoteHostname("h0", now); changed {
		t.Fatal("the same hostname counted as a change")
	}
	for i := 1; i <= 7; i++ {
		old, changed := a.NoteHostname("h"+string(rune('0'+i)), now)
		if !changed || old != "h"+string(rune('0'+i-1)) {
			t.Fatalf("change %d: got old %q changed %v", i, old, changed)
		}
	}
	var got []string
	for _, p := range a.PreviousHostnames {
		got = append(got, p.Hostname)
	}
	if want := []string{"h6", "h5", "h4", "h3", "h2"}; !slices.Equal(got, want) {
		t.Fatalf("previous hostnames: got %v, want %v", got, want)
	}
}

func TestCheckAgentName(t *testing.T) {
	for _, ok := range []string{"web-1", "a", "db-1.example.com", "WS01", strings.Repeat("a", 253)} {
		if err := hoist.CheckAgentName(ok); err != nil {
			t.Errorf("%q: got %v, want valid", ok, err)
		}
	}
	for _, bad := range []string{"", "web 1", "-web", "web-", "web_1", "wéb", "web\u200b1", "a\nb", strings.Repeat("a", 254), "web-1."} {
		if err := hoist.CheckAgentName(bad); hoist.ErrorCode(err) != hoist.EInvalid {
			t.Errorf("%q: got %v, want invalid", bad, err)
		}
	}
}
