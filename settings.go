package hoist

import (
	"regexp"
	"time"
	"unicode"
)

// Defaults of the approval settings, as the product this follows ships them.
const (
	DefaultOneTimeDuration = 30 * time.Minute
	DefaultMaxDuration     = 8 * time.Hour
	DefaultPendingTTL      = 24 * time.Hour
	MaxPolicyDuration      = 7 * 24 * time.Hour  // the longest window any policy may allow
	MaxPendingTTL          = 30 * 24 * time.Hour // the longest a policy lets a request wait
	MinDuration            = time.Second
	MaxReasonLength        = 1000
)

// ApprovalSettings are the rules that govern JIT requests and their approval.
// Today they are server-wide; the JIT Mode (Startup and Approval) policy will
// set them per computer group.
type ApprovalSettings struct {
	// OneTimeDuration is the window of an approval "One Time".
	OneTimeDuration time.Duration `json:"one_time_duration"`
	// MaxDuration is the longest window a request may ask for or an approver
	// may grant.
	MaxDuration time.Duration `json:"max_duration"`
	// PendingTTL is how long a request may wait for a decision before it
	// expires.
	PendingTTL time.Duration `json:"pending_ttl"`
	// ReasonRequired makes a request without a justification invalid.
	ReasonRequired bool `json:"reason_required"`
	// ReasonPattern, when set, is a regular expression the justification must
	// match (for example a ticket number: `^(INC|CHG)[0-9]+`).
	ReasonPattern string `json:"reason_pattern,omitempty"`
}

// DefaultApprovalSettings returns the settings a new server starts with.
func DefaultApprovalSettings() ApprovalSettings {
	return ApprovalSettings{
		OneTimeDuration: DefaultOneTimeDuration,
		MaxDuration:     DefaultMaxDuration,
		PendingTTL:      DefaultPendingTTL,
	}
}

// Validate reports the first setting that is out of range.
func (s ApprovalSettings) Validate() error {
	switch {
	case s.MaxDuration < MinDuration:
		return Errorf(EInvalid, "max duration must be at least %s", DescribeDuration(MinDuration))
	case s.OneTimeDuration < MinDuration || s.OneTimeDuration > s.MaxDuration:
		return Errorf(EInvalid, "one-time duration must be %s (the max duration)", DurationRange(MinDuration, s.MaxDuration))
	case s.PendingTTL < MinDuration:
		return Errorf(EInvalid, "pending TTL must be at least %s", DescribeDuration(MinDuration))
	}
	if s.ReasonPattern != "" {
		if _, err := regexp.Compile(s.ReasonPattern); err != nil {
			return Errorf(EInvalid, "reason pattern is not a valid regular expression: %v", err)
		}
	}
	return nil
}

// CheckDuration returns an EInvalid error unless d is a window these
// settings allow.
func (s ApprovalSettings) CheckDuration(d time.Duration) error {
	if d < MinDuration || d > s.MaxDuration {
		return Errorf(EInvalid, "%s is out of range: a duration must be %s", FormatDuration(d), DurationRange(MinDuration, s.MaxDuration))
	}
	return nil
}

// CheckReason returns an EInvalid error unless reason satisfies the settings.
func (s ApprovalSettings) CheckReason(reason string) error {
	if len(reason) > MaxReasonLength {
		return Errorf(EInvalid, "reason is longer than %d bytes", MaxReasonLength)
	}
	if !printable(reason) {
		return Errorf(EInvalid, "reason contains control characters")
	}
	if s.ReasonRequired && reason == "" {
		return Errorf(EInvalid, "a reason is required for this request")
	}
	if s.ReasonPattern != "" {
		re, err := regexp.Compile(s.ReasonPattern)
		if err != nil {
			return WrapError(EInternal, "the reason pattern is broken", err)
		}
		if !re.MatchString(reason) {
			return Errorf(EInvalid, "reason must match %s", s.ReasonPattern)
		}
	}
	return nil
}

// printable reports whether s is valid UTF-8 free of control characters
// other than tab, of format characters (bidirectional overrides, zero-width
// marks) and of line separators, so that text a requester typed cannot forge
// lines or disguise itself in a terminal, a log or the console.
func printable(s string) bool {
	for _, r := range s {
		if r == '\uFFFD' || (r < 0x20 && r != '\t') || r == 0x7f || (r >= 0x80 && r < 0xa0) ||
			r == '\u2028' || r == '\u2029' || unicode.Is(unicode.Cf, r) {
			return false
		}
	}
	return true
}

// Printable is printable for callers outside the domain (query parameters).
func Printable(s string) bool { return printable(s) }

// checkName validates a user or host name as it arrives from outside.
func checkName(what, s string, max int) error {
	if s == "" {
		return Errorf(EInvalid, "%s is required", what)
	}
	if len(s) > max {
		return Errorf(EInvalid, "%s is longer than %d bytes", what, max)
	}
	if !printable(s) {
		return Errorf(EInvalid, "%s contains control characters", what)
	}
	return nil
}
