package hoist_test

import (
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
)

// TestParseDuration: what people type is read, and what is not a duration
// gets a message that says how to write one.
func TestParseDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"90s", 90 * time.Second}, {"45m", 45 * time.Minute}, {"4h", 4 * time.Hour}, {"1d", 24 * time.Hour},
		{"1h30m", 90 * time.Minute}, {"1h 30m", 90 * time.Minute}, {"2 hours", 2 * time.Hour},
		{"90 minutes", 90 * time.Minute}, {"1 hour and 15 minutes", 75 * time.Minute}, {"1.5h", 90 * time.Minute},
		{" 30M ", 30 * time.Minute}, {"2 Days", 48 * time.Hour}, {"1500ms", 1500 * time.Millisecond},
		{"1h0m0s", time.Hour}, {"10 sec", 10 * time.Second}, {"3hrs", 3 * time.Hour},
	} {
		got, err := hoist.ParseDuration(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, tc := range []struct{ in, want string }{
		{"", "a duration is required: use a number and a unit, like 30m, 2h or 1d"},
		{"  ", "a duration is required: use a number and a unit, like 30m, 2h or 1d"},
		{"1", `"1" has no unit: did you mean 1m or 1h?`},
		{"45", `"45" has no unit: did you mean 45m or 45h?`},
		{"soon", `"soon" is not a duration: use a number and a unit, like 30m, 2h or 1d`},
		{"1h30", `"1h30" is not a duration: use a number and a unit, like 30m, 2h or 1d`},
		{"2 weeks", `"2 weeks" is not a duration: use a number and a unit, like 30m, 2h or 1d`},
		{"0m", `"0m" is not a duration of at least 1 second`},
		{"-1h", `"-1h" is not a duration of at least 1 second`},
		{"99999999999999d", `"99999999999999d" is not a duration: use a number and a unit, like 30m, 2h or 1d`},
		{string(make([]byte, 100)), "that is not a duration: use a number and a unit, like 30m, 2h or 1d"},
	} {
		_, err := hoist.ParseDuration(tc.in)
		if hoist.ErrorCode(err) != hoist.EInvalid || hoist.ErrorMessage(err) != tc.want {
			t.Errorf("ParseDuration(%q): %v; want EInvalid %q", tc.in, err, tc.want)
		}
	}
}

func TestDescribeDuration(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{time.Second, "1 second"}, {8 * time.Hour, "8 hours"}, {90 * time.Minute, "1 hour 30 minutes"},
		{7 * 24 * time.Hour, "7 days"}, {0, "0 seconds"}, {25*time.Hour + time.Second, "1 day 1 hour 1 second"},
	} {
		if got := hoist.DescribeDuration(tc.d); got != tc.want {
			t.Errorf("DescribeDuration(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
	if got := hoist.DurationRange(time.Second, 8*time.Hour); got != "between 1 second and 8 hours" {
		t.Errorf("DurationRange = %q", got)
	}
}

// TestDurationJSON: a policy file may write durations as people type them.
func TestDurationJSON(t *testing.T) {
	for in, want := range map[string]time.Duration{`"1d"`: 24 * time.Hour, `"1h 30m"`: 90 * time.Minute, `"45m0s"`: 45 * time.Minute, `"0s"`: 0, `90`: 90 * time.Second} {
		var d hoist.Duration
		if err := d.UnmarshalJSON([]byte(in)); err != nil || d.D() != want {
			t.Errorf("UnmarshalJSON(%s) = %v, %v; want %v", in, d.D(), err, want)
		}
	}
	var d hoist.Duration
	if err := d.UnmarshalJSON([]byte(`"soon"`)); err == nil {
		t.Error(`"soon" read as a duration`)
	}
}

// FuzzParseDuration: nothing typed makes the parser panic or return a
// duration that is not positive.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"1h30m", "2 hours", "1d", "1.5h", "", "1", "9999999999h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := hoist.ParseDuration(s)
		if err == nil && d <= 0 {
			t.Fatalf("ParseDuration(%q) = %v", s, d)
		}
		if err != nil && hoist.ErrorCode(err) != hoist.EInvalid {
			t.Fatalf("ParseDuration(%q): %v is not EInvalid", s, err)
		}
	})
}
