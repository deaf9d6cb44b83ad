package hoist

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// AutoRule approves routine requests without waiting for an approver: a
// rule of the JIT startup policy, for these users or members of these Unix
// groups, on machines of these computer groups, up to a longest window,
// during these days and hours of a time zone, at most so many a day per
// user. An approval by a rule is an approval like any other, by the actor
// AutoActor(Name): audited, sent to the integrations, counted as one of
// the policy's approvals_required.
type AutoRule struct {
	// Name names the rule in the audit log ("rule:NAME") and to the user.
	Name string `json:"name"`
	// Users and UnixGroups are whom it approves; both empty: every user
	// the policy lets ask. Unix groups are the machine's, as the agent
	// reports them with the request.
	Users      []string `json:"users,omitempty"`
	UnixGroups []string `json:"unix_groups,omitempty"`
	// ComputerGroups are the machines it approves on; empty: every
	// machine the policy targets.
	ComputerGroups []string `json:"computer_groups,omitempty"`
	// MaxDuration is the longest window it approves (required): a longer
	// ask waits for an approver, it is not cut.
	MaxDuration Duration `json:"max_duration"`
	// Days are the days it approves on ("mon" … "sun"); empty: every day.
	Days []string `json:"days,omitempty"`
	// Hours is the time of day it approves in, "08:00-18:00" (the end
	// excluded; "22:00-06:00" runs past midnight, on the day it starts);
	// empty: all day.
	Hours string `json:"hours,omitempty"`
	// TimeZone is the IANA zone of Days and Hours, and of the day PerDay
	// counts in; empty: UTC.
	TimeZone string `json:"time_zone,omitempty"`
	// PerDay is at most how many requests a day it approves per user; 0:
	// no limit.
	PerDay int `json:"per_day,omitempty"`
}

// Bounds of the automatic approval rules.
const (
	MaxAutoRules  = 20
	MaxAutoPerDay = 1000
)

// AutoActorPrefix starts the actor of an approval by a rule.
const AutoActorPrefix = "rule:"

// AutoActor is the actor of an approval by the rule named name.
func AutoActor(name string) string { return AutoActorPrefix + name }

// weekdays are the names Days takes.
var weekdays = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// AutoAsk is what a rule looks at in a request.
type AutoAsk struct {
	User       string
	UnixGroups []string
	// ComputerGroups are the groups of the requesting machine.
	ComputerGroups []string
	// Duration is the window asked for.
	Duration time.Duration
}

// Covers reports whether r approves ask at now — who, where, how long and
// when — leaving the count of the day to the caller (see DayStart).
func (r AutoRule) Covers(ask AutoAsk, now time.Time) bool {
	if len(r.Users) > 0 || len(r.UnixGroups) > 0 {
		in := slices.Contains(r.Users, ask.User)
		for _, g := range r.UnixGroups {
			in = in || slices.Contains(ask.UnixGroups, g)
		}
		if !in {
			return false
		}
	}
	if len(r.ComputerGroups) > 0 && !slices.ContainsFunc(r.ComputerGroups, func(g string) bool { return slices.Contains(ask.ComputerGroups, g) }) {
		return false
	}
	if ask.Duration <= 0 || ask.Duration > r.MaxDuration.D() {
		return false
	}
	return r.inHours(now)
}

// inHours reports whether now falls in the rule's days and hours.
func (r AutoRule) inHours(now time.Time) bool {
	loc, err := r.location()
	if err != nil {
		return false // fails closed: an approver decides
	}
	t := now.In(loc)
	minute := t.Hour()*60 + t.Minute()
	day := t.Weekday()
	from, to, all, err := parseHours(r.Hours)
	if err != nil {
		return false
	}
	if !all && from > to && minute < to {
		day = (day + 6) % 7 // the small hours belong to the night that began the day before
	}
	if len(r.Days) > 0 && !slices.Contains(r.Days, weekdays[day]) {
		return false
	}
	switch {
	case all:
		return true
	case from < to:
		return minute >= from && minute < to
	}
	return minute >= from || minute < to
}

// DayStart is the start of now's day in the rule's time zone: PerDay
// counts the approvals since then.
func (r AutoRule) DayStart(now time.Time) time.Time {
	loc, err := r.location()
	if err != nil {
		loc = time.UTC
	}
	t := now.In(loc)
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, loc)
}

func (r AutoRule) location() (*time.Location, error) {
	if r.TimeZone == "" {
		return time.UTC, nil
	}
	return time.LoadLocation(r.TimeZone)
}

// parseHours reads "08:00-18:00" as minutes of the day; all is true for
// "" (all day).
func parseHours(s string) (from, to int, all bool, err error) {
	if s == "" {
		return 0, 0, true, nil
	}
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return 0, 0, false, fmt.Errorf("hours such as 08:00-18:00")
	}
	if from, err = parseClock(strings.TrimSpace(a)); err == nil {
		to, err = parseClock(strings.TrimSpace(b))
	}
	if err == nil && from == to {
		err = fmt.Errorf("hours such as 08:00-18:00: the start and the end are the same")
	}
	return from, to, false, err
}

// parseClock reads "08:00" (or "24:00", the end of the day) as minutes.
func parseClock(s string) (int, error) {
	h, m, ok := strings.Cut(s, ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || len(h) == 0 || len(h) > 2 || len(m) != 2 || err1 != nil || err2 != nil || hh < 0 || mm < 0 || mm > 59 || hh > 24 || (hh == 24 && mm != 0) {
		return 0, fmt.Errorf("hours such as 08:00-18:00 (%q is not a time of day)", s)
	}
	return hh*60 + mm, nil
}

// validate checks the rules into f, each field named with its rule's
// index: startup.auto_approve[0].hours.
func validateAutoRules(f FieldErrors, rules []AutoRule, max time.Duration) {
	if len(rules) > MaxAutoRules {
		f["startup.auto_approve"] = fmt.Sprintf("at most %d rules", MaxAutoRules)
		return
	}
	seen := map[string]bool{}
	for i, r := range rules {
		field := func(name string) string { return fmt.Sprintf("startup.auto_approve[%d].%s", i, name) }
		switch {
		case !validObjectName(r.Name) || strings.ContainsAny(r.Name, " /"):
			f[field("name")] = "1 to 100 letters, digits or ._()- starting with a letter or digit, no spaces"
		case seen[r.Name]:
			f[field("name")] = fmt.Sprintf("another rule is named %q", r.Name)
		}
		seen[r.Name] = true
		checkNames(f, field("users"), r.Users)
		checkNames(f, field("unix_groups"), r.UnixGroups)
		if len(r.Users) > 1000 || len(r.UnixGroups) > 1000 {
			f[field("users")] = "at most 1000 users and 1000 groups"
		}
		if len(r.ComputerGroups) > 100 {
			f[field("computer_groups")] = "at most 100 groups"
		}
		for _, g := range r.ComputerGroups {
			if !validObjectName(g) {
				f[field("computer_groups")] = fmt.Sprintf("%q is not a group name", g)
			}
		}
		if d := r.MaxDuration.D(); d < MinDuration || d > max {
			f[field("max_duration")] = DurationRange(MinDuration, max) + " (required; the policy's max duration at most)"
		}
		for _, d := range r.Days {
			if !slices.Contains(weekdays, d) {
				f[field("days")] = fmt.Sprintf("%q is not one of mon, tue, wed, thu, fri, sat, sun", d)
			}
		}
		if _, _, _, err := parseHours(r.Hours); err != nil {
			f[field("hours")] = err.Error()
		}
		if _, err := r.location(); err != nil {
			f[field("time_zone")] = fmt.Sprintf("%q is not a time zone such as Europe/Paris or UTC", r.TimeZone)
		}
		if r.PerDay < 0 || r.PerDay > MaxAutoPerDay {
			f[field("per_day")] = fmt.Sprintf("0 (no limit) to %d a day", MaxAutoPerDay)
		}
	}
}
