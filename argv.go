package hoist

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
	// argument is listed with a pattern instead, in Match.
	Options []string `json:"options,omitempty"`
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
