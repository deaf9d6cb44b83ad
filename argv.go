package hoist

import (
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
)

// Argument rules of application policies. An argv rule matches the
// arguments after the program name one by one, never as a joined string:
// ["a b"] and ["a", "b"] are different command lines, and a pattern that
// matches the first arguments says nothing about the ones after them unless
// Rest says so.

// Rest values of an ArgvRule.
const (
	RestNone = "none" // the default: nothing may follow the matched arguments
	RestAny  = "any"  // any further arguments may follow (Options still apply)
)

// ArgvRule matches a program's arguments (argv[1:]).
type ArgvRule struct {
	// Match are the patterns for the first arguments, in order: argument i
	// must match Match[i]. A program run with fewer arguments does not match.
	Match []ArgPattern `json:"match,omitempty"`
	// Rest says what may follow the matched arguments: RestNone (empty means
	// the same) or RestAny.
	Rest string `json:"rest,omitempty"`
	// Options, when set, are the only arguments beginning with "-" allowed
	// anywhere in argv (after "--" too): every other option refuses the
	// whole command line. Each entry is one whole argument ("-y",
	// "--no-install-recommends"); an option that takes a value in the same
	// argument is listed with a pattern instead, in Match. A policy file
	// that writes options with no value (null) is refused: it would read as
	// no allow-list, the opposite of options: [].
	Options []string `json:"options,omitempty"`
	// Each, with Rest RestAny, is the pattern every further argument (after
	// those Match names) must match, unless it is one of Options: package
	// names and no file path, for example. Nil: any further argument.
	Each *ArgPattern `json:"each,omitempty"`
}

// ArgPattern matches one argument. Exactly one field is set. In a policy
// file a plain string is an Exact pattern.
type ArgPattern struct {
	// Exact is the argument itself.
	Exact string `json:"exact,omitempty"`
	// Glob is a path.Match pattern over the whole argument ("*" does not
	// cross "/").
	Glob string `json:"glob,omitempty"`
	// Regex is a regular expression over the whole argument: it is anchored
	// at both ends whether or not it is written with ^ and $.
	Regex string `json:"regex,omitempty"`
}

// Bounds of an argv rule: what a policy may hold, so that matching a
// command line costs little whatever the policy says.
const (
	MaxArgPatterns   = 64   // entries in Match
	MaxArgOptions    = 64   // entries in Options
	MaxArgPatternLen = 1000 // bytes of one pattern or option
)

// Kind returns which field of p is set: "exact", "glob" or "regex"; ""
// when none or more than one is (Validate refuses both).
func (p ArgPattern) Kind() string {
	kind, n := "", 0
	for _, f := range []struct{ name, v string }{{"exact", p.Exact}, {"glob", p.Glob}, {"regex", p.Regex}} {
		if f.v != "" {
			kind, n = f.name, n+1
		}
	}
	if n != 1 {
		return ""
	}
	return kind
}

// String writes p as explanations show it: exact "update", glob "*.deb",
// regex "[0-9]+".
func (p ArgPattern) String() string {
	switch p.Kind() {
	case "exact":
		return fmt.Sprintf("exact %q", p.Exact)
	case "glob":
		return fmt.Sprintf("glob %q", p.Glob)
	case "regex":
		return fmt.Sprintf("regex %q", p.Regex)
	}
	return "an invalid pattern"
}

// Match reports whether arg matches p: the whole argument, never a part of
// it. A pattern that is not valid matches nothing.
func (p ArgPattern) Match(arg string) bool {
	switch p.Kind() {
	case "exact":
		return arg == p.Exact
	case "glob":
		ok, err := path.Match(p.Glob, arg)
		return ok && err == nil
	case "regex":
		re, err := p.compile()
		return err == nil && re.MatchString(arg)
	}
	return false
}

// compile compiles the regex anchored at both ends. The group keeps an
// alternation inside the anchors: "update|install" must not match
// "updatex". The regex must parse on its own first, or "a)|(.*" would
// close the group and leave ".*" unanchored.
func (p ArgPattern) compile() (*regexp.Regexp, error) {
	if len(p.Regex) > MaxArgPatternLen {
		return nil, fmt.Errorf("at most %d characters", MaxArgPatternLen)
	}
	if _, err := syntax.Parse(p.Regex, syntax.Perl); err != nil {
		return nil, err
	}
	return regexp.Compile(`^(?:` + p.Regex + `)$`)
}

// onlyOptions reports whether every argument p matches begins with "-":
// an exact option, a glob that begins with a literal "-" ("--color=*"), or
// a regex whose every match does ("-j[0-9]+"). Such a pattern is the
// administrator naming an option on purpose, and what it matches needs no
// entry in Options; a pattern that merely may match an option ("*" in the
// place of a file name) does not let one through.
func (p ArgPattern) onlyOptions() bool {
	switch p.Kind() {
	case "exact":
		return strings.HasPrefix(p.Exact, "-")
	case "glob":
		return strings.HasPrefix(p.Glob, "-")
	case "regex":
		re, err := syntax.Parse(p.Regex, syntax.Perl)
		return err == nil && startsWithDash(re.Simplify())
	}
	return false
}

// startsWithDash reports whether every string re matches begins with "-".
// It understands only a literal or a concatenation that begins with one
// (the parser factors "-a|-b" into "-(?:a|b)"); anything else is "no".
func startsWithDash(re *syntax.Regexp) bool {
	for re.Op == syntax.OpCapture || re.Op == syntax.OpConcat {
		if len(re.Sub) == 0 {
			return false
		}
		re = re.Sub[0]
	}
	return re.Op == syntax.OpLiteral && re.Flags&syntax.FoldCase == 0 && len(re.Rune) > 0 && re.Rune[0] == '-'
}

// ArgMatch is how one argument fared against an argv rule, for
// explanations.
type ArgMatch struct {
	// N is the argument's position: 1 is the first after the program name.
	N   int    `json:"n"`
	Arg string `json:"arg"`
	// Missing is set when the rule wants an argument at N and the command
	// line has none.
	Missing bool `json:"missing,omitempty"`
	// By is what the argument was held to: a pattern as String writes it,
	// "rest any" or "rest none".
	By string `json:"by"`
	OK bool   `json:"ok"`
	// Why says why the argument refused the command line.
	Why string `json:"why,omitempty"`
}

// String is one line of an explanation:
//
//	argument 1 "update": matches exact "update"
//	argument 2 "-o": not in the allowed options
func (m ArgMatch) String() string {
	if m.Missing {
		return fmt.Sprintf("argument %d: missing (%s wanted)", m.N, m.By)
	}
	if m.OK {
		return fmt.Sprintf("argument %d %q: matches %s", m.N, m.Arg, m.By)
	}
	return fmt.Sprintf("argument %d %q: %s", m.N, m.Arg, m.Why)
}

// Check matches args (argv[1:]) against r. It returns whether the whole
// command line matches, and the trail: one entry per argument it looked
// at, in order, the last being the one that failed on a miss. A nil rule
// matches any arguments, with an empty trail.
//
// The rules, in order: argument i must match Match[i] (a missing argument
// fails); an argument after the matched ones is refused unless Rest is
// RestAny; and when Options is set (even empty), every argument that begins
// with "-" — after "--" too, and "-" and "--" themselves — must be exactly
// one of Options, unless a Match pattern that only matches options (an
// exact "-y", a glob "--color=*") accepted it; and when Each is set, every
// argument after the matched ones that is not one of Options must match it.
func (r *ArgvRule) Check(args []string) (bool, []ArgMatch) {
	if r == nil {
		return true, nil
	}
	var trail []ArgMatch
	for i, arg := range args {
		m := ArgMatch{N: i + 1, Arg: arg}
		explicit := false
		if i < len(r.Match) {
			p := r.Match[i]
			m.By = p.String()
			if !p.Match(arg) {
				m.Why = "does not match " + m.By
				return false, append(trail, m)
			}
			explicit = p.onlyOptions()
		} else {
			m.By = "rest " + r.rest()
			if r.rest() != RestAny {
				m.Why = fmt.Sprintf("no arguments may follow the %d the policy names (rest none)", len(r.Match))
				return false, append(trail, m)
			}
		}
		if r.Options != nil && strings.HasPrefix(arg, "-") && !explicit && !slices.Contains(r.Options, arg) {
			m.Why = "not in the allowed options"
			if len(r.Options) > 0 {
				m.Why += " (" + strings.Join(r.Options, " ") + ")"
			}
			return false, append(trail, m)
		}
		if i >= len(r.Match) && !r.checkEach(&m) {
			return false, append(trail, m)
		}
		m.OK = true
		trail = append(trail, m)
	}
	if len(args) < len(r.Match) {
		n := len(args)
		return false, append(trail, ArgMatch{N: n + 1, Missing: true, By: r.Match[n].String(),
			Why: "missing: " + r.Match[n].String() + " wanted"})
	}
	return true, trail
}

// checkEach holds m, an argument after the matched ones, to Each: an
// allowed option passes as one (Options decides on it), anything else must
// match the pattern. It says so in m.
func (r *ArgvRule) checkEach(m *ArgMatch) bool {
	if r.Each == nil {
		return true
	}
	if r.Options != nil && slices.Contains(r.Options, m.Arg) {
		m.By = "an allowed option"
		return true
	}
	m.By = "each " + r.Each.String()
	if !r.Each.Match(m.Arg) {
		m.Why = "does not match " + m.By
		return false
	}
	return true
}

func (r *ArgvRule) rest() string {
	if r.Rest == "" {
		return RestNone
	}
	return r.Rest
}

// ArgvMiss is a policy that names a program for the user but whose
// argument rule refused the command line.
type ArgvMiss struct {
	PolicyID string `json:"policy_id"`
	Policy   string `json:"policy"`
	// Legacy is set when the policy still has the old joined-string args,
	// which match nothing.
	Legacy bool `json:"legacy,omitempty"`
	// Args is the trail of Check; its last entry is the argument that
	// failed.
	Args []ArgMatch `json:"args"`
}

// Why is the failing argument's line.
func (m ArgvMiss) Why() string {
	if m.Legacy {
		return LegacyArgsWhy
	}
	if len(m.Args) == 0 {
		return "its arguments do not match"
	}
	return m.Args[len(m.Args)-1].String()
}

// LegacyArgsWhy says why a rule with the old args form matches nothing.
const LegacyArgsWhy = "it uses the old args form, which matched a joined string that extra arguments could satisfy; it matches nothing until it is rewritten as argv (docs/policies.md#arguments)"

// UnmarshalJSON reads a plain string as an Exact pattern, or an object with
// exactly one of exact, glob and regex. Anything else is refused: a policy
// file is read strictly.
func (p *ArgPattern) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*p = ArgPattern{Exact: s}
		return nil
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return patternError("a pattern is a string (the exact argument) or an object with one of exact, glob or regex")
	}
	if len(fields) != 1 {
		return patternError(fmt.Sprintf("a pattern has exactly one of exact, glob or regex, not %d fields", len(fields)))
	}
	*p = ArgPattern{}
	for k, v := range fields {
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return patternError(fmt.Sprintf("a pattern's %s is a string", k))
		}
		switch k {
		case "exact":
			p.Exact = s
		case "glob":
			p.Glob = s
		case "regex":
			p.Regex = s
		default:
			return patternError(fmt.Sprintf("unknown field %q: a pattern has one of exact, glob or regex", k))
		}
	}
	return nil
}

// patternError is an EInvalid naming the field: encoding/json returns an
// Unmarshaler's error as it is, and ArgPattern is read only in a rule's
// argv, in match unless ArgvRule.UnmarshalJSON says it was each (see
// refield).
func patternError(msg string) error { return argvError("application.argv.match", msg) }

// argvError is an EInvalid naming field.
func argvError(field, msg string) error {
	return &Error{Code: EInvalid, Message: field + ": " + msg, Fields: map[string]string{field: msg}}
}

// refield moves a pattern's error from application.argv.match to field.
func refield(err error, field string) error {
	var he *Error
	if errors.As(err, &he) && he.Code == EInvalid && len(he.Fields) == 1 {
		for _, msg := range he.Fields {
			return argvError(field, msg)
		}
	}
	return err
}

// argvKeys are the JSON names of ArgvRule's fields, the only keys its
// UnmarshalJSON accepts.
var argvKeys = []string{"match", "rest", "options", "each"}

// UnmarshalJSON reads r strictly, whatever the decoder: only the keys of
// its fields, spelt exactly (encoding/json would take "Options" for
// options, and a caller's DisallowUnknownFields does not reach a type that
// reads itself), and neither options nor each null. A null options would
// otherwise read as no allow-list at all, which is what a bare "options:"
// in YAML is, though it looks like an empty list.
func (r *ArgvRule) UnmarshalJSON(b []byte) error {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil || fields == nil {
		return argvError("application.argv", "an object with match, rest, options and each")
	}
	for k, v := range fields {
		switch {
		case !slices.Contains(argvKeys, k):
			return argvError("application.argv", fmt.Sprintf("unknown field %q: want %s", clipKey(k), strings.Join(argvKeys, ", ")))
		case k == "options" && string(v) == "null":
			return argvError("application.argv.options", "write [] for no options, or leave the key out for any")
		case k == "each" && string(v) == "null":
			return argvError("application.argv.each", "write a pattern, or leave the key out for any further argument")
		}
	}
	var aux struct {
		Match   []ArgPattern    `json:"match"`
		Rest    string          `json:"rest"`
		Options []string        `json:"options"`
		Each    json.RawMessage `json:"each"`
	}
	if err := json.Unmarshal(b, &aux); err != nil {
		var typ *json.UnmarshalTypeError
		if errors.As(err, &typ) && typ.Field != "" {
			return argvError("application.argv."+typ.Field, "wrong type: "+typ.Value+" where "+typ.Type.String()+" is wanted")
		}
		return err // a pattern's own error, naming match
	}
	out := ArgvRule{Match: aux.Match, Rest: aux.Rest, Options: aux.Options}
	if aux.Each != nil {
		out.Each = new(ArgPattern)
		if err := json.Unmarshal(aux.Each, out.Each); err != nil {
			return refield(err, "application.argv.each")
		}
	}
	*r = out
	return nil
}

// clipKey bounds a key quoted in an error.
func clipKey(k string) string {
	if len(k) > 64 {
		return k[:64] + "…"
	}
	return k
}

// MarshalJSON writes an Exact pattern as a plain string, others as an
// object.
func (p ArgPattern) MarshalJSON() ([]byte, error) {
	if p.Kind() == "exact" {
		return json.Marshal(p.Exact)
	}
	type plain ArgPattern
	return json.Marshal(plain(p))
}

// MarshalJSON keeps an empty, non-nil Options as "options": [] — no option
// at all is allowed — which omitempty would drop, and which would then read
// back as "any option".
func (r ArgvRule) MarshalJSON() ([]byte, error) {
	type plain ArgvRule
	out := struct {
		plain
		Options *[]string `json:"options,omitempty"`
	}{plain: plain(r)}
	if r.Options != nil {
		out.Options = &r.Options
	}
	return json.Marshal(out)
}

// LegacyArgsRefused is the field error of a policy that still has args.
const LegacyArgsRefused = "no longer supported: it matched the arguments joined into one string, which extra arguments could satisfy; " +
	"write the rule as application.argv (docs/policies.md#arguments), for example argv: {match: [update], rest: none}"

// validate adds r's problems to f under field (application.argv): a
// pattern (in match or each) with not exactly one field, an each without
// rest any, a regex that does not compile, a
// glob that is not one, a rest that is not none or any, an option that is
// not one, and more than the bounds allow.
func (r *ArgvRule) validate(f FieldErrors, field string) {
	if r == nil {
		return
	}
	if len(r.Match) > MaxArgPatterns {
		f[field+".match"] = fmt.Sprintf("at most %d patterns", MaxArgPatterns)
	}
	for i, p := range r.Match[:min(len(r.Match), MaxArgPatterns)] {
		p.validate(f, fmt.Sprintf("%s.match[%d]", field, i))
	}
	if r.Rest != "" && r.Rest != RestNone && r.Rest != RestAny {
		f[field+".rest"] = fmt.Sprintf("%q: want %s (nothing may follow the matched arguments) or %s", r.Rest, RestNone, RestAny)
	}
	if r.Each != nil {
		r.Each.validate(f, field+".each")
		if r.rest() != RestAny {
			f[field+".each"] = "applies only with rest: any (with rest: none nothing follows the matched arguments)"
		}
	}
	if len(r.Options) > MaxArgOptions {
		f[field+".options"] = fmt.Sprintf("at most %d options", MaxArgOptions)
		return
	}
	for i, o := range r.Options {
		switch {
		case len(o) > MaxArgPatternLen:
			f[fmt.Sprintf("%s.options[%d]", field, i)] = fmt.Sprintf("at most %d bytes", MaxArgPatternLen)
		case !strings.HasPrefix(o, "-"):
			f[fmt.Sprintf("%s.options[%d]", field, i)] = fmt.Sprintf("%q is not an option: an option begins with -", o)
		case strings.ContainsRune(o, 0):
			f[fmt.Sprintf("%s.options[%d]", field, i)] = "no NUL"
		}
	}
}

func (p ArgPattern) validate(f FieldErrors, field string) {
	kind := p.Kind()
	if kind == "" {
		f[field] = "exactly one of exact, glob or regex (a plain string is exact)"
		return
	}
	field += "." + kind
	v := map[string]string{"exact": p.Exact, "glob": p.Glob, "regex": p.Regex}[kind]
	if len(v) > MaxArgPatternLen {
		f[field] = fmt.Sprintf("at most %d bytes", MaxArgPatternLen)
		return
	}
	if strings.ContainsRune(v, 0) {
		f[field] = "no NUL: an argument cannot hold one"
		return
	}
	switch kind {
	case "glob":
		if _, err := path.Match(p.Glob, ""); err != nil {
			f[field] = "not a valid pattern: " + err.Error()
		}
	case "regex":
		if _, err := p.compile(); err != nil {
			f[field] = "not a regular expression: " + err.Error()
		}
	}
}
