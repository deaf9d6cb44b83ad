package hoist

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// DurationHint is how every message tells a user to write a duration.
const DurationHint = "use a number and a unit, like 30m, 2h or 1d"

// maxDurationText bounds what ParseDuration reads: nobody types more.
const maxDurationText = 64

// durationUnits are the units people type, in every spelling accepted.
var durationUnits = map[string]time.Duration{
	"s": time.Second, "sec": time.Second, "secs": time.Second, "second": time.Second, "seconds": time.Second,
	"m": time.Minute, "min": time.Minute, "mins": time.Minute, "minute": time.Minute, "minutes": time.Minute,
	"h": time.Hour, "hr": time.Hour, "hrs": time.Hour, "hour": time.Hour, "hours": time.Hour,
	"d": 24 * time.Hour, "day": 24 * time.Hour, "days": 24 * time.Hour,
}

// ParseDuration reads a duration as people type it: a number and a unit
// ("90s", "45m", "4h", "1d", "1.5h"), several of them ("1h30m", "1h 30m",
// "2 hours 15 minutes"), or anything Go's time.ParseDuration reads ("1500ms").
// It refuses an empty text, a number without a unit (asking which unit was
// meant) and anything that is not positive, with an EInvalid error whose
// message says how to write one.
func ParseDuration(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	switch {
	case t == "":
		return 0, Errorf(EInvalid, "a duration is required: %s", DurationHint)
	case len(t) > maxDurationText:
		return 0, Errorf(EInvalid, "that is not a duration: %s", DurationHint)
	case isNumber(t):
		return 0, Errorf(EInvalid, "%q has no unit: did you mean %sm or %sh?", t, t, t)
	}
	d, ok := parseFriendly(strings.ToLower(t))
	if !ok {
		var err error
		if d, err = time.ParseDuration(t); err != nil {
			return 0, Errorf(EInvalid, "%q is not a duration: %s", t, DurationHint)
		}
	}
	if d <= 0 {
		return 0, Errorf(EInvalid, "%q is not a duration of at least 1 second", t)
	}
	return d, nil
}

// parseFriendly reads numbers each followed by a unit of durationUnits,
// with optional spaces (and "and" or a comma) between the parts.
func parseFriendly(s string) (time.Duration, bool) {
	var total float64
	parts := 0
	for s != "" {
		s = strings.TrimLeft(s, " ,")
		if rest, ok := strings.CutPrefix(s, "and "); ok && parts > 0 {
			s = strings.TrimLeft(rest, " ")
		}
		n := 0
		for n < len(s) && (s[n] >= '0' && s[n] <= '9' || s[n] == '.') {
			n++
		}
		if n == 0 {
			return 0, false
		}
		num, err := strconv.ParseFloat(s[:n], 64)
		if err != nil {
			return 0, false
		}
		s = strings.TrimLeft(s[n:], " ")
		u := 0
		for u < len(s) && s[u] >= 'a' && s[u] <= 'z' {
			u++
		}
		unit, ok := durationUnits[s[:u]]
		if !ok {
			return 0, false
		}
		s = s[u:]
		total += num * float64(unit)
		parts++
	}
	if parts == 0 || total >= math.MaxInt64/2 {
		return 0, false
	}
	return time.Duration(total).Round(time.Millisecond), true
}

func isNumber(s string) bool {
	_, err := strconv.ParseFloat(s, 64)
	return err == nil && strings.Trim(s, "0123456789.") == ""
}

// FormatDuration prints d the way users type it: "1h30m", "45m", "90s".
func FormatDuration(d time.Duration) string {
	if d <= 0 {
		return "0s"
	}
	s := d.Round(time.Second).String()
	// time.Duration prints "1h0m0s"; trim the zero units users never type.
	for _, suffix := range []string{"0s", "0m"} {
		if len(s) > len(suffix) && s[len(s)-len(suffix):] == suffix && s[len(s)-len(suffix)-1] >= 'a' {
			s = s[:len(s)-len(suffix)]
		}
	}
	return s
}

// DescribeDuration says d in words, to the second: "8 hours", "1 second",
// "1 hour 30 minutes", "7 days".
func DescribeDuration(d time.Duration) string {
	d = d.Round(time.Second)
	if d <= 0 {
		return "0 seconds"
	}
	var parts []string
	for _, u := range []struct {
		d    time.Duration
		name string
	}{{24 * time.Hour, "day"}, {time.Hour, "hour"}, {time.Minute, "minute"}, {time.Second, "second"}} {
		if n := d / u.d; n > 0 {
			parts = append(parts, Plural(int(n), u.name))
			d -= n * u.d
		}
	}
	return strings.Join(parts, " ")
}

// DurationRange is the one wording of a duration limit: "between 1 second
// and 8 hours".
func DurationRange(lo, hi time.Duration) string {
	return "between " + DescribeDuration(lo) + " and " + DescribeDuration(hi)
}

// Plural says n of a noun whose plural takes an s: "1 request", "2 requests".
func Plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
