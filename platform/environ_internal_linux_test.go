package platform

import (
	"strings"
	"testing"
)

func TestHasEntry(t *testing.T) {
	const m = "HOIST_SESSION=ses_a"
	cases := []struct {
		name     string
		env      string
		complete bool
		want     bool
	}{
		{"first entry", m + "\x00B=2\x00", true, true},
		{"middle entry", "A=1\x00" + m + "\x00B=2\x00", true, true},
		{"last entry, terminated", "A=1\x00" + m + "\x00", false, true},
		{"last entry, unterminated, whole environment", "A=1\x00" + m, true, true},
		{"last entry, cut short", "A=1\x00" + m, false, false},
		{"a longer value", "A=1\x00" + m + "b\x00", true, false},
		{"a longer value, then the entry", m + "b\x00A=1\x00" + m + "\x00", true, true},
		{"inside another entry", "X" + m + "\x00", true, false},
		{"inside another entry's value", "A=" + m + "\x00", true, false},
		{"absent", "A=1\x00B=2\x00", true, false},
		{"empty", "", true, false},
		{"the entry's own tail repeated", "HOIST_SESSION=HOIST_SESSION=ses_a\x00", true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := hasEntry([]byte(tc.env), m, tc.complete); got != tc.want {
				t.Errorf("hasEntry(%q) = %v, want %v", tc.env, got, tc.want)
			}
		})
	}
}

func TestEnvValue(t *testing.T) {
	cases := []struct {
		env      string
		complete bool
		want     string
	}{
		{"HOIST_SESSION=ses_a\x00", true, "ses_a"},
		{"A=1\x00HOIST_SESSION=ses_b\x00HOIST_SESSION=ses_c\x00", true, "ses_b"},
		{"A=1\x00HOIST_SESSION=ses_b", true, "ses_b"},
		{"A=1\x00HOIST_SESSION=ses_b", false, ""},
		{"XHOIST_SESSION=ses_a\x00", true, ""},
		{"HOIST_SESSION=\x00", true, ""},
	}
	for _, tc := range cases {
		if got := envValue([]byte(tc.env), "HOIST_SESSION=", tc.complete); got != tc.want {
			t.Errorf("envValue(%q, complete=%v) = %q, want %q", tc.env, tc.complete, got, tc.want)
		}
	}
}

// TestHasEntryManyNearMisses: 60,000 entries that each start like the
// marker are looked through once each, and the one real entry is found.
func TestHasEntryManyNearMisses(t *testing.T) {
	const m = "HOIST_SESSION=ses_a"
	env := strings.Repeat(m+"x\x00", 60000) + m + "\x00"
	if !hasEntry([]byte(env), m, true) {
		t.Fatal("the entry after 60,000 near misses was not found")
	}
	if hasEntry([]byte(env[:len(env)-len(m)-1]), m, true) {
		t.Fatal("near misses matched")
	}
}

func FuzzHasEntry(f *testing.F) {
	f.Add([]byte("A=1\x00HOIST_SESSION=ses_a\x00"), "HOIST_SESSION=ses_a", true)
	f.Fuzz(func(t *testing.T, env []byte, entry string, complete bool) {
		if entry == "" || strings.IndexByte(entry, 0) >= 0 {
			return
		}
		// The obvious, quadratic-at-worst, reference.
		parts := strings.Split(string(env), "\x00")
		want := false
		for i, p := range parts {
			last := i == len(parts)-1
			if p == entry && (!last || complete) {
				want = true
			}
		}
		if got := hasEntry(env, entry, complete); got != want {
			t.Errorf("hasEntry(%q, %q, %v) = %v, want %v", env, entry, complete, got, want)
		}
	})
}
