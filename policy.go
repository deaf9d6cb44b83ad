package hoist

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// PolicyIDPrefix marks policy ids.
const PolicyIDPrefix = "pol_"

// Policy kinds. The three JIT kinds together make JIT mode available on the
// machines of a computer group; application policies elevate (or deny, or
// audit) single programs with or without a session.
const (
	KindApplication = "application"
	KindJITStartup  = "jit-startup"  // JIT Mode (Startup and Approval)
	KindJITMode     = "jit-mode"     // JIT Mode
	KindJITChildren = "jit-children" // JIT Mode (Child Processes)
)

// PolicyKinds maps each kind to the lowest agent version that understands
// it. The server never sends a policy to an agent older than this.
var PolicyKinds = map[string]string{
	KindApplication: "0.2.0",
	KindJITStartup:  "0.2.0",
	KindJITMode:     "0.2.0",
	KindJITChildren: "0.2.0",
}

// JITKinds are the three kinds that must all be active for a group.
var JITKinds = []string{KindJITStartup, KindJITMode, KindJITChildren}

// Application policy actions.
const (
	ActionElevate = "elevate" // run as root, without a session
	ActionAllow   = "allow"   // permitted, not elevated: runs as the user
	ActionDeny    = "deny"    // refused, even during a JIT session
	ActionJustify = "justify" // elevate once the user gives a reason
	ActionAudit   = "audit"   // decides nothing; a match is recorded
)

var policyActions = []string{ActionElevate, ActionAllow, ActionDeny, ActionJustify, ActionAudit}

// Approver roles a JIT startup policy may name.
var approverRoles = []string{"approver", "admin"}

// Policy is an administrator's rule for the machines of some computer
// groups. Exactly one of the kind's bodies is set.
type Policy struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Kind        string `json:"kind"`
	// Groups are the names of the computer groups the policy targets.
	Groups []string `json:"groups"`
	Active bool     `json:"active"`
	// Priority orders policies of one kind: the higher applies first.
	Priority int `json:"priority"`
	// MinAgentVersion is the lowest agent version the policy may reach, on
	// top of its kind's own; empty means the kind's.
	MinAgentVersion string `json:"min_agent_version,omitempty"`

	Application *ApplicationRule `json:"application,omitempty"`
	Startup     *JITStartup      `json:"startup,omitempty"`
	Mode        *JITMode         `json:"mode,omitempty"`
	Children    *JITChildren     `json:"children,omitempty"`

	Version   int       `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	UpdatedBy string    `json:"updated_by,omitempty"`
}

// ApplicationRule matches a program and says what to do with it. Empty
// filters match everything; all set filters must match.
type ApplicationRule struct {
	// Path is the executable's absolute path, or a pattern of path.Match
	// ("/usr/bin/apt*").
	Path string `json:"path"`
	// SHA256 is the hex digest the file must have: a binary that changed no
	// longer matches.
	SHA256 string `json:"sha256,omitempty"`
	// Args is the legacy form of argument matching: a regular expression
	// over the arguments joined by spaces, which a hostile user could satisfy
	// with extra arguments. It is no longer accepted (see Argv); a stored or
	// delivered elevate, justify or allow rule that still has it matches
	// nothing, a deny or audit one matches whatever the arguments (agents
	// receive it with Args cleared).
	Args string `json:"args,omitempty"`
	// Argv matches the arguments one by one; nil matches any arguments.
	Argv *ArgvRule `json:"argv,omitempty"`
	// Users and UnixGroups restrict the rule to these requesting users, or
	// members of these groups of the machine.
	Users      []string `json:"users,omitempty"`
	UnixGroups []string `json:"unix_groups,omitempty"`
	Action     string   `json:"action"`
}

// JITStartup is the JIT Mode (Startup and Approval) policy: who may ask for
// JIT mode and how the request is approved.
type JITStartup struct {
	// Users and UnixGroups may request; both empty means every user.
	Users      []string `json:"users,omitempty"`
	UnixGroups []string `json:"unix_groups,omitempty"`
	// Durations, when set, are the only windows a user may ask for.
	Durations       []Duration `json:"durations,omitempty"`
	DefaultDuration Duration   `json:"default_duration,omitempty"`
	MaxDuration     Duration   `json:"max_duration,omitempty"`
	ReasonRequired  bool       `json:"reason_required,omitempty"`
	// ApproverRole is the lowest role that may approve: approver (the
	// default) or admin.
	ApproverRole string `json:"approver_role,omitempty"`
	// ApprovalsRequired is how many distinct approvers must approve a
	// request (default 1, at most MaxApprovalsRequired); one denial denies.
	ApprovalsRequired int `json:"approvals_required,omitempty"`
	// PendingTTL is how long a request waits for a decision before it
	// expires (default: the server's --pending-ttl, 24h).
	PendingTTL Duration `json:"pending_ttl,omitempty"`
	// AutoApprove are the rules that approve routine requests without an
	// approver; the first that covers a request approves it. The server
	// alone reads them: agents ignore the field.
	AutoApprove []AutoRule `json:"auto_approve,omitempty"`
	// RequirePasskey makes an approval of this policy's requests need a
	// fresh passkey assertion of the approver, bound to that decision (see
	// control.VerifyStepUp); approvals through the API or chat cannot give
	// one and are refused. The server alone reads it: agents ignore it.
	RequirePasskey bool `json:"require_passkey,omitempty"`
}

// JITMode is the JIT Mode policy: what runs elevated during a session.
// Everything does, but the programs in Exclude.
type JITMode struct {
	Exclude []string `json:"exclude,omitempty"`
}

// JITChildren is the JIT Mode (Child Processes) policy: the end of a
// session. Every descendant is tracked and ended; Grace is the time between
// SIGTERM and the kill; Reminders are how long before the end the user is
// reminded (the final marks); ReminderEvery, when set, is the period of the
// reminders before them (0: none), in place of the agent configuration's.
// An agent older than ReminderEveryVersion ignores ReminderEvery and
// reminds at the final marks only: the policy is not held back for it.
type JITChildren struct {
	Grace         Duration   `json:"grace,omitempty"`
	Reminders     []Duration `json:"reminders,omitempty"`
	ReminderEvery *Duration  `json:"reminder_every,omitempty"`
}

// Duration is a time.Duration written the Go way ("45m") in JSON and YAML.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// MarshalJSON writes "45m0s".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads "45m", "1d" or "1h 30m" as ParseDuration does, zero
// included (or a number of seconds).
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var secs float64
		if json.Unmarshal(b, &secs) != nil {
			return fmt.Errorf("a duration is a string such as \"45m\"")
		}
		*d = Duration(secs * float64(time.Second))
		return nil
	}
	v, ok := parseFriendly(strings.ToLower(strings.TrimSpace(s)))
	if !ok {
		var err error
		if v, err = time.ParseDuration(s); err != nil {
			return fmt.Errorf("%q is not a duration: %s", s, DurationHint)
		}
	}
	*d = Duration(v)
	return nil
}

// FieldErrors is a validation failure per field, for forms and CLIs.
type FieldErrors map[string]string

func (f FieldErrors) err(what string) error {
	if len(f) == 0 {
		return nil
	}
	keys := make([]string, 0, len(f))
	for k := range f {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(k + ": " + f[k])
	}
	return &Error{Code: EInvalid, Message: what + " is not valid: " + b.String(), Fields: f}
}

// validObjectName reports whether s names a policy or a computer group: 1 to
// 100 letters, digits, spaces or ()._/-, starting with a letter or digit.
// (A loop, not a regular expression: compiling the Unicode classes repeated
// {0,99} times at start-up cost every hoist command 26 ms and 3.9 MB.)
func validObjectName(s string) bool {
	n := 0
	for _, r := range s {
		switch {
		case unicode.IsLetter(r) || unicode.IsNumber(r):
		case n > 0 && strings.ContainsRune(" ()._/-", r):
		default:
			return false // also the U+FFFD of invalid UTF-8, which is neither
		}
		n++
	}
	return n >= 1 && n <= 100
}

// validUnixName reports whether s is a user or group name as useradd accepts
// it: [a-z_][a-z0-9_.-]{0,31}, optionally ending in $ (a loop for the same
// reason as validObjectName).
func validUnixName(s string) bool {
	s = strings.TrimSuffix(s, "$")
	if len(s) < 1 || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c == '_':
		case i > 0 && (c >= '0' && c <= '9' || c == '.' || c == '-'):
		default:
			return false
		}
	}
	return true
}

// Validate checks p for storing: every field the kind needs, nothing it
// does not, patterns that compile, a hash that is a hash. It names each
// bad field.
func (p Policy) Validate() error {
	f := FieldErrors{}
	if !validObjectName(p.Name) {
		f["name"] = "1 to 100 letters, digits, spaces or ()._/- starting with a letter or digit"
	}
	if len(p.Description) > 1000 {
		f["description"] = "at most 1000 characters"
	}
	if _, ok := PolicyKinds[p.Kind]; !ok {
		f["kind"] = fmt.Sprintf("unknown kind %q: want %s, %s, %s or %s", p.Kind, KindApplication, KindJITStartup, KindJITMode, KindJITChildren)
	}
	if len(p.Groups) == 0 {
		f["groups"] = "name at least one computer group"
	}
	for _, g := range p.Groups {
		if !validObjectName(g) {
			f["groups"] = fmt.Sprintf("%q is not a group name", g)
		}
	}
	if p.Priority < -1000 || p.Priority > 1000 {
		f["priority"] = "between -1000 and 1000"
	}
	if p.MinAgentVersion != "" {
		if _, ok := parseVersion(p.MinAgentVersion); !ok {
			f["min_agent_version"] = fmt.Sprintf("%q is not a version such as 0.2.0", p.MinAgentVersion)
		}
	}
	bodies := map[string]bool{KindApplication: p.Application != nil, KindJITStartup: p.Startup != nil, KindJITMode: p.Mode != nil, KindJITChildren: p.Children != nil}
	field := map[string]string{KindApplication: "application", KindJITStartup: "startup", KindJITMode: "mode", KindJITChildren: "children"}
	for kind, set := range bodies {
		if set && kind != p.Kind {
			f[field[kind]] = fmt.Sprintf("belongs to %s policies, not %s", kind, p.Kind)
		}
	}
	switch p.Kind {
	case KindApplication:
		if p.Application == nil {
			f["application"] = "an application policy needs its rule (path, action)"
		} else {
			p.Application.validate(f)
		}
	case KindJITStartup:
		if p.Startup != nil {
			p.Startup.validate(f)
		}
	case KindJITMode:
		if p.Mode != nil {
			for _, pat := range p.Mode.Exclude {
				if err := checkPathPattern(pat); err != nil {
					f["mode.exclude"] = err.Error()
				}
			}
		}
	case KindJITChildren:
		if p.Children != nil {
			p.Children.validate(f)
		}
	}
	return f.err("the policy")
}

func (r *ApplicationRule) validate(f FieldErrors) {
	if err := checkPathPattern(r.Path); err != nil {
		f["application.path"] = err.Error()
	}
	if r.SHA256 != "" {
		if b, err := hex.DecodeString(r.SHA256); err != nil || len(b) != sha256.Size {
			f["application.sha256"] = "64 hexadecimal digits (sha256sum prints them)"
		}
	}
	if r.Args != "" {
		f["application.args"] = LegacyArgsRefused
	}
	r.Argv.validate(f, "application.argv")
	checkNames(f, "application.users", r.Users)
	checkNames(f, "application.unix_groups", r.UnixGroups)
	if !slices.Contains(policyActions, r.Action) {
		f["application.action"] = fmt.Sprintf("unknown action %q: want one of %s", r.Action, strings.Join(policyActions, ", "))
	}
}

func (s *JITStartup) validate(f FieldErrors) {
	checkNames(f, "startup.users", s.Users)
	checkNames(f, "startup.unix_groups", s.UnixGroups)
	max := s.MaxDuration.D()
	if max == 0 {
		max = DefaultMaxDuration
	}
	if max < MinDuration || max > MaxPolicyDuration {
		f["startup.max_duration"] = DurationRange(MinDuration, MaxPolicyDuration)
	}
	for _, d := range s.Durations {
		if d.D() < MinDuration || d.D() > max {
			f["startup.durations"] = fmt.Sprintf("%s is not %s (the max duration)", FormatDuration(d.D()), DurationRange(MinDuration, max))
		}
	}
	if d := s.DefaultDuration.D(); d != 0 && (d < MinDuration || d > max) {
		f["startup.default_duration"] = DurationRange(MinDuration, max) + " (the max duration)"
	} else if d != 0 && len(s.Durations) > 0 && !slices.Contains(s.Durations, s.DefaultDuration) {
		f["startup.default_duration"] = "one of the durations the policy allows"
	}
	if s.ApproverRole != "" && !slices.Contains(approverRoles, s.ApproverRole) {
		f["startup.approver_role"] = "approver or admin"
	}
	if n := s.ApprovalsRequired; n < 0 || n > MaxApprovalsRequired {
		f["startup.approvals_required"] = fmt.Sprintf("1 to %d distinct approvers (0 means 1)", MaxApprovalsRequired)
	}
	if t := s.PendingTTL.D(); t != 0 && (t < time.Minute || t > MaxPendingTTL) {
		f["startup.pending_ttl"] = DurationRange(time.Minute, MaxPendingTTL)
	}
	validateAutoRules(f, s.AutoApprove, max)
}

func (c *JITChildren) validate(f FieldErrors) {
	if g := c.Grace.D(); g < 0 || g > 10*time.Minute {
		f["children.grace"] = DurationRange(0, 10*time.Minute)
	}
	if len(c.Reminders) > 10 {
		f["children.reminders"] = "at most 10 reminders"
	}
	for _, r := range c.Reminders {
		if r.D() < time.Second || r.D() > 24*time.Hour {
			f["children.reminders"] = fmt.Sprintf("%s is not %s before the end", FormatDuration(r.D()), DurationRange(time.Second, 24*time.Hour))
		}
	}
	checkReminderEvery(f, "children.reminder_every", c.ReminderEvery)
}

func checkNames(f FieldErrors, field string, names []string) {
	for _, n := range names {
		if !validUnixName(n) {
			f[field] = fmt.Sprintf("%q is not a user or group name", n)
		}
	}
}

// checkPathPattern accepts an absolute, clean path or path.Match pattern.
func checkPathPattern(p string) error {
	if !strings.HasPrefix(p, "/") || len(p) > 4096 || strings.ContainsRune(p, 0) {
		return fmt.Errorf("an absolute path or pattern such as /usr/bin/apt-get or /usr/bin/apt*")
	}
	if _, err := path.Match(p, "/"); err != nil {
		return fmt.Errorf("not a valid pattern: %v", err)
	}
	if path.Clean(p) != p {
		return fmt.Errorf("write the path without ./, ../ or a trailing slash: %s", path.Clean(p))
	}
	return nil
}

// NeedsVersion is the lowest agent version that may receive p: its kind's,
// ArgvVersion for an elevate or justify rule with argv, or MinAgentVersion
// when that is later. Only those two are held back: an older agent ignores
// argv, so it would elevate with any arguments; a deny, audit or allow it
// reads without argv denies, audits or allows more, and holding a deny back
// would leave such an agent elevating what the deny is there to stop.
func (p Policy) NeedsVersion() string {
	need := PolicyKinds[p.Kind]
	if a := p.Application; a != nil && a.Argv != nil && (a.Action == ActionElevate || a.Action == ActionJustify) && VersionLess(need, ArgvVersion) {
		need = ArgvVersion
	}
	if p.MinAgentVersion != "" && VersionLess(need, p.MinAgentVersion) {
		need = p.MinAgentVersion
	}
	return need
}

// parseVersion reads "1.2.3" (a leading v and a -suffix are ignored).
func parseVersion(v string) ([3]int, bool) {
	v = strings.TrimPrefix(v, "v")
	if i := strings.IndexAny(v, "-+"); i >= 0 {
		v = v[:i]
	}
	parts := strings.Split(v, ".")
	var out [3]int
	if len(parts) == 0 || len(parts) > 3 {
		return out, false
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || n > 1_000_000 {
			return out, false
		}
		out[i] = n
	}
	return out, true
}

// VersionLess reports whether version a is older than b. A version that
// does not parse is older than every other: an agent that reports garbage
// gets nothing it might misread.
func VersionLess(a, b string) bool {
	va, oka := parseVersion(a)
	vb, okb := parseVersion(b)
	switch {
	case !oka:
		return okb || a < b
	case !okb:
		return false
	}
	for i := range va {
		if va[i] != vb[i] {
			return va[i] < vb[i]
		}
	}
	return false
}

// SamplePolicies are the three JIT policies a new server ships, for the
// default group and inactive: JIT mode stays off until an administrator
// turns all three on for a group.
func SamplePolicies(now time.Time) []Policy {
	mk := func(name, kind, desc string) Policy {
		return Policy{ID: NewID(PolicyIDPrefix), Name: name, Kind: kind, Description: desc, Groups: []string{DefaultGroup},
			Version: 1, CreatedAt: now, UpdatedAt: now, UpdatedBy: "hoist"}
	}
	startup := mk("JIT Mode (Startup and Approval)", KindJITStartup, "Who may start the JIT helper and request JIT elevated access, for how long, and who approves.")
	// Durations, grace and reminders are left to the agent configuration
	// (and its defaults) until an administrator sets them here.
	startup.Startup = &JITStartup{ApproverRole: "approver"}
	mode := mk("JIT Mode", KindJITMode, "While a session is active, every program the user runs through Hoist runs as root.")
	mode.Mode = &JITMode{}
	children := mk("JIT Mode (Child Processes)", KindJITChildren, "Everything started in the session, and every descendant, is tracked and ended when the session ends.")
	children.Children = &JITChildren{}
	return []Policy{startup, mode, children}
}
