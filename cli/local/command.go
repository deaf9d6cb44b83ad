package local

import (
	"strconv"
	"strings"
	"unicode"

	"github.com/hoist-jit/hoist/localapi"
)

// Command is one of the user's commands, described once: Main parses and
// helps with it here, and package cli builds its cobra command from the
// same fields, so that both say the same (a test in cli compares them).
type Command struct {
	Name string
	// Use, Short and Long are cobra's: the usage line after "hoist ", the
	// line in hoist --help, and the text of the command's --help.
	Use, Short, Long string
	// DisableFlagsInUseLine leaves " [flags]" off the usage line.
	DisableFlagsInUseLine bool
	// Program: the command takes the program to act on, and the flags end
	// at its name ("hoist run ls -la" must not parse -la). Otherwise it
	// takes no arguments.
	Program bool
	// Flags are the command's own, besides SocketFlag and --help.
	Flags []Flag
	// Run runs the command; its error goes through Exit.
	Run func(env Env, inv Invocation) error
}

// Flag is a --NAME flag: a string (--NAME VALUE or --NAME=VALUE) or, with
// Bool, a boolean (--NAME, --NAME=false).
type Flag struct {
	Name, Usage string
	Bool        bool
}

// SocketFlag is every user command's --socket.
var SocketFlag = Flag{Name: "socket", Usage: "hoistd's socket (default $HOIST_SOCKET, else " + localapi.DefaultSocket + ")"}

// Invocation is a command line as parsed: the arguments and the flags
// given.
type Invocation struct {
	Args   []string
	values map[string]string
	help   bool
}

// Set records flag name as given with value (a boolean's as "true" or
// "false").
func (inv *Invocation) Set(name, value string) {
	if inv.values == nil {
		inv.values = map[string]string{}
	}
	inv.values[name] = value
}

// String is the value of flag name; "" when it was not given.
func (inv Invocation) String(name string) string { return inv.values[name] }

// Bool reports whether the boolean flag name was given true.
func (inv Invocation) Bool(name string) bool { return inv.values[name] == "true" }

// Changed reports whether flag name was given at all (--for ” is).
func (inv Invocation) Changed(name string) bool {
	_, ok := inv.values[name]
	return ok
}

// socket is where to find hoistd: --socket, then $HOIST_SOCKET, then the
// default.
func (inv Invocation) socket(env Env) string {
	if p := inv.String("socket"); p != "" {
		return p
	}
	if p := env.Getenv("HOIST_SOCKET"); p != "" {
		return p
	}
	return localapi.DefaultSocket
}

// SocketPath is where to find hoistd for flag, the value of a --socket
// flag: flag, then $HOIST_SOCKET, then the default.
func SocketPath(env Env, flag string) string {
	var inv Invocation
	if flag != "" {
		inv.Set("socket", flag)
	}
	return inv.socket(env)
}

// parse reads args (after the command's name) as cobra would, for the
// command lines cobra accepts and that run the command or its help. It
// reports !ok for every other one (an unknown flag, a missing value,
// shorthands other than -h, the wrong arguments), which Main leaves to
// cobra so that the mistake is told in cobra's words: parse must never
// accept what cobra refuses, nor read a line otherwise.
func (c *Command) parse(args []string) (inv Invocation, ok bool) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			inv.Args = append(inv.Args, args[i+1:]...)
			i = len(args)
		case a == "-h" || a == "--help":
			inv.help = true
		case strings.HasPrefix(a, "--"):
			name, value, given := strings.Cut(a[2:], "=")
			f := c.flag(name)
			switch {
			case f == nil:
				return inv, false
			case f.Bool && given:
				b, err := strconv.ParseBool(value)
				if err != nil {
					return inv, false
				}
				value = strconv.FormatBool(b)
			case f.Bool:
				value = "true"
			case !given:
				if i+1 == len(args) {
					return inv, false
				}
				i++
				value = args[i] // as pflag: whatever follows, dashes and all
			}
			inv.Set(name, value)
		case strings.HasPrefix(a, "-") && a != "-":
			return inv, false
		case c.Program:
			inv.Args = append(inv.Args, args[i:]...)
			i = len(args)
		default:
			inv.Args = append(inv.Args, a)
		}
	}
	if inv.help {
		return inv, true // cobra shows the help before it looks at the arguments
	}
	return inv, c.Program == (len(inv.Args) > 0)
}

func (c *Command) flag(name string) *Flag {
	if name == SocketFlag.Name {
		return &SocketFlag
	}
	for i := range c.Flags {
		if c.Flags[i].Name == name {
			return &c.Flags[i]
		}
	}
	return nil
}

// Help is the command's --help, as cobra's default template writes it.
func (c *Command) Help() string {
	var b strings.Builder
	text := c.Long
	if text == "" {
		text = c.Short
	}
	use := "hoist " + c.Use
	if !c.DisableFlagsInUseLine && !strings.Contains(use, "[flags]") {
		use += " [flags]"
	}
	b.WriteString(strings.TrimRightFunc(text, unicode.IsSpace) + "\n\nUsage:\n  " + use + "\n\nFlags:\n")
	flags := append([]Flag{{Name: "help", Usage: "help for " + c.Name, Bool: true}, SocketFlag}, c.Flags...)
	b.WriteString(flagUsages(flags))
	return b.String()
}

// flagUsages lists flags as pflag does: sorted by name, -h for help, the
// usages in one column three spaces after the longest flag.
func flagUsages(flags []Flag) string {
	sortFlags(flags)
	lines := make([]string, len(flags))
	width := 0
	for i, f := range flags {
		l := "      --" + f.Name
		if f.Name == "help" {
			l = "  -h, --help"
		}
		if !f.Bool {
			l += " string"
		}
		lines[i] = l
		width = max(width, len(l))
	}
	var b strings.Builder
	for i, f := range flags {
		b.WriteString(lines[i] + strings.Repeat(" ", width-len(lines[i])) + "   " + f.Usage + "\n")
	}
	return b.String()
}

func sortFlags(flags []Flag) {
	for i := 1; i < len(flags); i++ {
		for j := i; j > 0 && flags[j].Name < flags[j-1].Name; j-- {
			flags[j], flags[j-1] = flags[j-1], flags[j]
		}
	}
}

// siblingCommands are the commands hoist --help lists that other programs
// run: the admin client and the desktop helper (their Short is cli's,
// these are the same words), and cobra's own.
var siblingCommands = []struct{ name, short string }{
	{"admin", AdminShort},
	{"completion", "Generate the autocompletion script for the specified shell"},
	{"help", "Help about any command"},
	{"jit", JITShort},
}

// The lines hoist --help shows for "hoist admin" and "hoist jit"; package
// cli's commands use them.
const (
	AdminShort = "Administer Hoist through hoist-server: approvals, sessions, agents, policies, groups"
	JITShort   = "The JIT helper: ask for JIT elevated access, wait, count down, remind, and end it early"
	// RootShort is what hoist is, the first line of hoist --help.
	RootShort = "Just-in-time elevated access: ask for it, use it, and administer it"
)

// RootHelp is hoist --help, as cobra writes it for package cli's command
// tree.
func RootHelp() string {
	type entry struct{ name, short string }
	var all []entry
	for _, s := range siblingCommands {
		all = append(all, entry{s.name, s.short})
	}
	for _, c := range Commands() {
		all = append(all, entry{c.Name, c.Short})
	}
	for i := 1; i < len(all); i++ {
		for j := i; j > 0 && all[j].name < all[j-1].name; j-- {
			all[j], all[j-1] = all[j-1], all[j]
		}
	}
	pad := 11 // cobra's least padding
	for _, e := range all {
		pad = max(pad, len(e.name))
	}
	var b strings.Builder
	b.WriteString(RootShort + "\n\nUsage:\n  hoist [command]\n\nAvailable Commands:\n")
	for _, e := range all {
		b.WriteString("  " + e.name + strings.Repeat(" ", pad-len(e.name)) + " " + e.short + "\n")
	}
	b.WriteString("\nFlags:\n  -h, --help   help for hoist\n\nUse \"hoist [command] --help\" for more information about a command.\n")
	return b.String()
}

// find is the user command called name, or nil.
func find(name string) *Command {
	for _, c := range Commands() {
		if c.Name == name {
			return &c
		}
	}
	return nil
}
