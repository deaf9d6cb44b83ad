package hoist

import (
	"fmt"
	"path"
	"slices"
	"strings"
	"time"
)

// ProcessFacts is what the agent knows about a program a user asks to run
// through Hoist.
type ProcessFacts struct {
	User       string
	UnixGroups []string
	// Path is the real path of the executable, symlinks resolved: the file
	// policies match and the file an application policy starts.
	Path string
	// Typed is the path as the user named it, when it differs (a symlink
	// such as /usr/bin/vi): deny policies match it too, so that an alias
	// cannot get round a deny.
	Typed string
	// Args are the arguments after the program name.
	Args []string
	// SHA256 returns the hex digest of the executable; it is called only
	// when a policy filters by hash.
	SHA256 func() (string, error)
	// Untrusted, when set, says why the executable cannot be elevated by an
	// application policy: a file or directory non-root users may write
	// could be swapped between the check and the start.
	Untrusted string
	// Session is true while the user has an active JIT session.
	Session bool
	// Reason is the justification the user gave with the command.
	Reason string
}

// Decision says what Hoist does with a program, and which policy said so.
type Decision struct {
	// Action is elevate, allow (run as the user), deny, justify (elevate
	// once a reason is given) or none (nothing allows it).
	Action   string `json:"action"`
	Elevate  bool   `json:"elevate"`
	PolicyID string `json:"policy_id,omitempty"`
	Policy   string `json:"policy,omitempty"`
	Why      string `json:"why"`
	// Session is true when the JIT session, not an application policy,
	// elevates the program.
	Session bool `json:"session,omitempty"`
	// Audited names the audit-only policies that matched.
	Audited []string `json:"audited,omitempty"`
	// Note says why a policy that names the program did not match it (a
	// hash that no longer matches, arguments its argv rule refuses).
	Note string `json:"note,omitempty"`
	// Argv is how each argument met the argument rule of the application
	// policy that decided (empty when it has none or the session decided).
	Argv []ArgMatch `json:"argv,omitempty"`
	// ArgvMisses are the application policies, highest priority first,
	// that name the program for this user but whose argument rule refused
	// the command line, each with the argument that failed.
	ArgvMisses []ArgvMiss `json:"argv_misses,omitempty"`
}

// ActionNone is the decision when nothing elevates or allows a program.
const ActionNone = "none"

// JITPolicies are the three policies that make JIT mode available, from
// one computer group.
type JITPolicies struct {
	Group    string
	Startup  Policy
	Mode     Policy
	Children Policy
}

// JIT returns the three JIT policies of the first of the bundle's groups
// (highest priority first) that has all three active; ok is false when no
// group has them, and JIT mode is not available on the machine.
func (b Bundle) JIT() (j JITPolicies, ok bool) {
	for _, g := range b.Groups {
		found := map[string]Policy{}
		for _, p := range b.byPriority() {
			if !p.Active || !slices.Contains(p.Groups, g) || !slices.Contains(JITKinds, p.Kind) {
				continue
			}
			if _, have := found[p.Kind]; !have {
				found[p.Kind] = p
			}
		}
		if len(found) == len(JITKinds) {
			return JITPolicies{Group: g, Startup: found[KindJITStartup], Mode: found[KindJITMode], Children: found[KindJITChildren]}, true
		}
	}
	return JITPolicies{}, false
}

// byPriority returns the policies, highest priority first, then by name.
func (b Bundle) byPriority() []Policy {
	ps := slices.Clone(b.Policies)
	slices.SortStableFunc(ps, func(x, y Policy) int {
		if x.Priority != y.Priority {
			return y.Priority - x.Priority
		}
		return strings.Compare(x.Name, y.Name)
	})
	return ps
}

// Decide is the agent's one decision on a program: a pure function of the
// bundle and the facts. Deny beats everything, including a JIT session;
// then the session elevates what JIT Mode does not exclude; then the
// application policy of highest priority decides.
func Decide(b Bundle, f ProcessFacts) Decision {
	var matched []Policy
	var audited []string
	var misses []ArgvMiss
	trails := map[string][]ArgMatch{}
	hashErr := ""
	for _, p := range b.byPriority() {
		if p.Kind != KindApplication || !p.Active || p.Application == nil {
			continue
		}
		m := p.Application.matches(f, f.Path)
		if !m.ok && p.Application.Action == ActionDeny && f.Typed != "" && f.Typed != f.Path {
			if typed := p.Application.matches(f, f.Typed); typed.ok {
				m = typed
			}
		}
		if m.note != "" {
			hashErr = m.note
		}
		if m.argvMiss {
			misses = append(misses, ArgvMiss{PolicyID: p.ID, Policy: p.Name, Args: m.argv, Legacy: m.legacy})
		}
		if !m.ok {
			continue
		}
		if p.Application.Action == ActionAudit {
			audited = append(audited, p.Name)
			continue
		}
		trails[p.ID] = m.argv
		matched = append(matched, p)
	}
	d := func(action string, p Policy, why string) Decision {
		out := Decision{Action: action, Elevate: action == ActionElevate, PolicyID: p.ID, Policy: p.Name, Why: why, Audited: audited, ArgvMisses: misses}
		if p.Kind == KindApplication {
			out.Argv = trails[p.ID]
		}
		return out
	}
	for _, p := range matched {
		if p.Application.Action == ActionDeny {
			return d(ActionDeny, p, fmt.Sprintf("policy %q denies %s", p.Name, f.Path))
		}
	}
	if f.Session {
		j, ok := b.JIT()
		excluded := ""
		if ok && j.Mode.Mode != nil {
			for _, pat := range j.Mode.Mode.Exclude {
				if m, _ := path.Match(pat, f.Path); m {
					excluded = pat
				}
			}
		}
		if excluded == "" {
			out := d(ActionElevate, j.Mode, "JIT elevated access is active: programs run through Hoist run as root")
			if !ok {
				out.Policy, out.PolicyID = "", ""
			}
			out.Session, out.ArgvMisses = true, nil
			return out
		}
		if len(matched) == 0 {
			return d(ActionNone, j.Mode, fmt.Sprintf("policy %q excludes %s from JIT elevated access (%s)", j.Mode.Name, f.Path, excluded))
		}
	}
	for _, p := range matched {
		switch p.Application.Action {
		case ActionElevate, ActionJustify:
			if f.Untrusted != "" {
				return d(ActionNone, p, fmt.Sprintf("policy %q would elevate %s, but %s", p.Name, f.Path, f.Untrusted))
			}
			if p.Application.Action == ActionJustify && strings.TrimSpace(f.Reason) == "" {
				return d(ActionJustify, p, fmt.Sprintf("policy %q elevates %s with a justification: hoist run --reason TEXT -- ...", p.Name, f.Path))
			}
			return d(ActionElevate, p, fmt.Sprintf("policy %q elevates %s", p.Name, f.Path))
		case ActionAllow:
			return d(ActionAllow, p, fmt.Sprintf("policy %q allows %s without elevation: run it directly", p.Name, f.Path))
		}
	}
	note := hashErr
	if len(misses) > 0 {
		// The policy whose rule got furthest through the arguments (the
		// first of highest priority among equals) says why they did not do.
		best := misses[0]
		for _, m := range misses[1:] {
			if len(m.Args) > len(best.Args) {
				best = m
			}
		}
		argvNote := fmt.Sprintf("policy %q refuses these arguments: %s", best.Policy, best.Why())
		note = strings.TrimPrefix(note+"; "+argvNote, "; ")
	}
	why := fmt.Sprintf("JIT elevated access is not active for %s, and no policy elevates %s", f.User, f.Path)
	if note != "" {
		why += " (" + note + ")"
	}
	return Decision{Action: ActionNone, Why: why, Audited: audited, Note: note, ArgvMisses: misses}
}

// ruleMatch is how an application rule met a command line.
type ruleMatch struct {
	ok bool
	// note is set when a hash could not be taken or did not match, to
	// explain a miss.
	note string
	// argv is the trail of the rule's argument check; argvMiss is set when
	// the path and the user matched and the arguments did not.
	argv     []ArgMatch
	argvMiss bool
	legacy   bool
}

// matches reports whether r matches f, the program being named name.
func (r *ApplicationRule) matches(f ProcessFacts, name string) ruleMatch {
	if m, _ := path.Match(r.Path, name); !m {
		return ruleMatch{}
	}
	if len(r.Users) > 0 || len(r.UnixGroups) > 0 {
		in := slices.Contains(r.Users, f.User)
		for _, g := range r.UnixGroups {
			in = in || slices.Contains(f.UnixGroups, g)
		}
		if !in {
			return ruleMatch{}
		}
	}
	var out ruleMatch
	switch {
	case r.Args != "" && r.Action != ActionDeny && r.Action != ActionAudit:
		// Fail closed: the old joined-string regex let extra arguments
		// through, so the rule elevates (or allows) nothing at all.
		return ruleMatch{argvMiss: true, legacy: true}
	case r.Args != "":
		// A deny still denies, and the more: whatever the arguments; an
		// audit records every run. The server sends such a rule to agents
		// with args cleared (legacyForAgents), which means the same.
		out.legacy = true
	default:
		ok, trail := r.Argv.Check(f.Args)
		if !ok {
			return ruleMatch{argv: trail, argvMiss: true}
		}
		out.argv = trail
	}
	if r.SHA256 != "" {
		if f.SHA256 == nil {
			return ruleMatch{note: "the file's hash is unknown"}
		}
		sum, err := f.SHA256()
		if err != nil {
			return ruleMatch{note: "cannot hash " + f.Path}
		}
		if !strings.EqualFold(sum, r.SHA256) {
			return ruleMatch{note: "the file's SHA-256 no longer matches a policy's"}
		}
	}
	out.ok = true
	return out
}

// StartupRules are the rules a request on this machine follows: the JIT
// startup policy's, with the agent configuration's default duration where
// the policy names none and its max duration where it is the tighter.
func (b Bundle) StartupRules(j JITPolicies) *JITStartup {
	var s JITStartup
	if j.Startup.Startup != nil {
		s = *j.Startup.Startup
	}
	if c := b.Config.DefaultDuration; c != nil && s.DefaultDuration == 0 {
		s.DefaultDuration = *c
	}
	if c := b.Config.MaxDuration; c != nil && (s.MaxDuration == 0 || *c < s.MaxDuration) {
		s.MaxDuration = *c
	}
	// A default above the maximum (stored before configuration was checked
	// against the policies, or made so by a later policy) is the maximum: a
	// user who typed no duration must never hear theirs was too long.
	if max := s.MaxDuration.D(); s.DefaultDuration.D() > max && max > 0 {
		s.DefaultDuration = s.MaxDuration
	} else if max == 0 && s.DefaultDuration.D() > DefaultMaxDuration {
		s.DefaultDuration = Duration(DefaultMaxDuration)
	}
	return &s
}

// MayRequest checks a user's request for JIT mode against the startup
// policy: who may ask, for how long, with what reason. It returns the
// window to ask for (the default when d is zero).
func (s *JITStartup) MayRequest(user string, groups []string, d time.Duration, reason string) (time.Duration, error) {
	if s == nil {
		s = &JITStartup{}
	}
	if len(s.Users) > 0 || len(s.UnixGroups) > 0 {
		in := slices.Contains(s.Users, user)
		for _, g := range s.UnixGroups {
			in = in || slices.Contains(groups, g)
		}
		if !in {
			return 0, Errorf(EForbidden, "%s may not request JIT elevated access on this machine", user)
		}
	}
	return s.CheckWindow(d, reason)
}

// CheckWindow checks the window and the reason of a request against the
// policy, and returns the window (the default when d is zero).
func (s *JITStartup) CheckWindow(d time.Duration, reason string) (time.Duration, error) {
	if s == nil {
		s = &JITStartup{}
	}
	max := s.MaxDuration.D()
	if max == 0 {
		max = DefaultMaxDuration
	}
	if d == 0 {
		d = s.DefaultDuration.D()
		if d == 0 {
			d = min(DefaultOneTimeDuration, max)
		}
		if len(s.Durations) > 0 && !slices.Contains(s.Durations, Duration(d)) {
			d = s.Durations[0].D() // the default must be one the policy allows
		}
	}
	if d < MinDuration || d > max {
		return 0, Errorf(EInvalid, "%s is not a window this machine allows: a request must be %s", FormatDuration(d), DurationRange(MinDuration, max))
	}
	if len(s.Durations) > 0 && !slices.Contains(s.Durations, Duration(d)) {
		allowed := make([]string, len(s.Durations))
		for i, a := range s.Durations {
			allowed[i] = FormatDuration(a.D())
		}
		return 0, Errorf(EInvalid, "a request may be for one of %s", strings.Join(allowed, ", "))
	}
	if s.ReasonRequired && strings.TrimSpace(reason) == "" {
		return 0, Errorf(EInvalid, "a reason is required: hoist request --reason TEXT")
	}
	return d, nil
}
