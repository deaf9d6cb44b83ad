package localapi

import (
	"errors"
	"fmt"
	"strconv"
	"unicode"
	"unicode/utf8"
)

// Limits on the fields of a Request, in bytes of UTF-8 unless said
// otherwise. Request.Check enforces them before hoistd acts on a request, so
// that nothing over them is ever written to a log, the audit or a terminal.
const (
	// MaxReason is the longest justification: the control server's own
	// limit (hoist.MaxReasonLength), so a reason hoistd takes is never
	// refused upstream.
	MaxReason = 1000
	// MaxArgs is the most elements of Argv, the command included.
	MaxArgs = 4096
	// MaxArg is the longest single element of Argv: the kernel's own limit
	// for one argument (MAX_ARG_STRLEN).
	MaxArg = 128 << 10
	// MaxArgvBytes is the most bytes in all of Argv together. A request
	// with every field at its maximum fits in MaxFrame when its text needs
	// no escaping in JSON; quotes, backslashes and control characters take
	// two to six bytes each there, so a command line full of them may be
	// refused for the frame's size first (by the client, before sending).
	MaxArgvBytes = 192 << 10
	// MaxTerm is the longest TERM. A TERM is a terminal type's name:
	// letters, digits and "._+-", starting with a letter or a digit.
	MaxTerm = 64
	// MaxDuration is the longest duration text ("1h30m").
	MaxDuration = 32
	// MaxUser is the longest user name: the control server's limit, and
	// glibc's LOGIN_NAME_MAX.
	MaxUser = 256
	// MaxSignal is the highest signal number a signal request may carry
	// (Linux's SIGRTMAX); which ones hoistd forwards is hoistd's choice.
	MaxSignal = 64
	// MaxAction is the longest polkit action id the polkit hook passes on
	// (for the audit).
	MaxAction = 256
	// MaxWinSize is the most rows or columns OpResize may give.
	MaxWinSize = 10000
	// MaxCode is the longest response or emergency code as typed: 12
	// symbols with separators and some slack (hoist.ParseCode reads it).
	MaxCode = 64
)

// ErrInvalid is wrapped by every refusal of Request.Check and
// CheckRunFiles: input a caller sent that hoistd will not act on. The
// message after it is safe to show the caller: it names the field and the
// limit, never the content.
var ErrInvalid = errors.New("invalid request")

// field is one of a Request's optional fields, for the table of what each
// op takes.
type field uint

const (
	fArgv field = 1 << iota
	fTerm
	fTTY
	fDuration
	fReason
	fSignal
	fUser
	fHelper
	fHook
	fAction
	fSize
	fCode
)

var fieldNames = []struct {
	f    field
	name string
}{
	{fArgv, "a command"}, {fTerm, "a TERM"}, {fTTY, "a terminal"}, {fDuration, "a duration"},
	{fReason, "a reason"}, {fSignal, "a signal"}, {fUser, "a user"}, {fHelper, "the helper's facts"},
	{fHook, "a hook"}, {fAction, "a polkit action"}, {fSize, "a terminal size"}, {fCode, "a code"},
}

// opFields says, for each op, which fields it may carry and which it must.
// Every other field must be empty: a field that does not belong is a
// client that means something hoistd would not do.
var opFields = map[string]struct{ may, must field }{
	OpStatus:  {may: fHelper},
	OpRun:     {may: fArgv | fTerm | fTTY | fReason, must: fArgv},
	OpExit:    {},
	OpRequest: {may: fDuration | fReason},
	OpSignal:  {may: fSignal, must: fSignal},
	OpResize:  {may: fSize, must: fSize},
	OpGrant:   {may: fUser | fDuration, must: fUser | fDuration},
	OpExplain: {may: fArgv | fReason, must: fArgv},
	OpCancel:  {},
	OpExtend:  {may: fDuration | fReason, must: fDuration},
	// The hooks of sudo's PAM session name no user (hoistd reads it from
	// the kernel); polkit's names the subject polkitd asks about.
	OpHook:    {may: fHook | fUser | fAction, must: fHook},
	OpOffline: {may: fDuration | fReason},
	OpRespond: {may: fCode, must: fCode},
}

// present is the set of r's fields that are not empty.
func (r Request) present() field {
	var f field
	set := func(ok bool, bit field) {
		if ok {
			f |= bit
		}
	}
	set(r.Argv != nil, fArgv)
	set(r.Term != "", fTerm)
	set(r.TTY, fTTY)
	set(r.Duration != "", fDuration)
	set(r.Reason != "", fReason)
	set(r.Signal != 0, fSignal)
	set(r.User != "", fUser)
	set(r.Helper, fHelper)
	set(r.Hook != "", fHook)
	set(r.Action != "", fAction)
	set(r.Rows != 0 || r.Cols != 0, fSize)
	set(r.Code != "", fCode)
	return f
}

// Check refuses a request hoistd must not act on: another protocol
// version, an unknown op, a field the op does not take (or lacks one it
// needs), a field over its limit (see MaxReason and the others), and
// control characters, invalid UTF-8 or format characters in the fields
// shown to people or written to the audit (reason, TERM, duration, user).
// Arguments may hold any character but NUL, which exec cannot pass; they
// must be valid UTF-8 because a frame is JSON, which would replace other
// bytes, and a command is refused rather than run altered. Every error
// wraps ErrInvalid.
func (r Request) Check() error {
	if r.V != Version {
		return fmt.Errorf("%w: protocol version %d is not spoken here (hoistd speaks %d): update hoist", ErrInvalid, r.V, Version)
	}
	spec, ok := opFields[r.Op]
	if !ok {
		return fmt.Errorf("%w: unknown request %s", ErrInvalid, quoteShort(r.Op))
	}
	got := r.present()
	for _, fn := range fieldNames {
		switch {
		case got&fn.f != 0 && spec.may&fn.f == 0:
			return fmt.Errorf("%w: %s does not take %s", ErrInvalid, r.Op, fn.name)
		case got&fn.f == 0 && spec.must&fn.f != 0:
			return fmt.Errorf("%w: %s needs %s", ErrInvalid, r.Op, fn.name)
		}
	}
	if got&fArgv != 0 {
		if err := checkArgv(r.Argv); err != nil {
			return err
		}
	}
	if r.Term != "" && !ValidTerm(r.Term) {
		return fmt.Errorf("%w: TERM must be a terminal type's name of at most %d letters, digits and ._+-", ErrInvalid, MaxTerm)
	}
	if err := checkText("the reason", r.Reason, MaxReason); err != nil {
		return err
	}
	if err := checkText("the duration", r.Duration, MaxDuration); err != nil {
		return err
	}
	if err := checkText("the user name", r.User, MaxUser); err != nil {
		return err
	}
	if got&fHook != 0 && !validHook(r.Hook) {
		return fmt.Errorf("%w: hook %s is not one hoistd knows", ErrInvalid, quoteShort(r.Hook))
	}
	if r.Op == OpHook && (r.Hook == HookPolkit) != (r.User != "") {
		return fmt.Errorf("%w: a user goes with the polkit hook, and only with it", ErrInvalid)
	}
	if err := checkText("the polkit action", r.Action, MaxAction); err != nil {
		return err
	}
	if err := checkText("the code", r.Code, MaxCode); err != nil {
		return err
	}
	if r.Action != "" && r.Hook != HookPolkit {
		return fmt.Errorf("%w: a polkit action goes with the polkit hook only", ErrInvalid)
	}
	if got&fSize != 0 && (r.Rows < 1 || r.Rows > MaxWinSize || r.Cols < 1 || r.Cols > MaxWinSize) {
		return fmt.Errorf("%w: a terminal size is 1-%d rows and 1-%d columns", ErrInvalid, MaxWinSize, MaxWinSize)
	}
	if got&fSignal != 0 && (r.Signal < 1 || r.Signal > MaxSignal) {
		return fmt.Errorf("%w: signal %d is out of range 1-%d", ErrInvalid, r.Signal, MaxSignal)
	}
	return nil
}

func checkArgv(argv []string) error {
	if len(argv) == 0 || argv[0] == "" {
		return fmt.Errorf("%w: no command given", ErrInvalid)
	}
	if len(argv) > MaxArgs {
		return fmt.Errorf("%w: %d arguments; at most %d", ErrInvalid, len(argv), MaxArgs)
	}
	total := 0
	for i, a := range argv {
		what := "the command name"
		if i > 0 {
			what = "argument " + strconv.Itoa(i)
		}
		switch {
		case len(a) > MaxArg:
			return fmt.Errorf("%w: %s is %d bytes; at most %d", ErrInvalid, what, len(a), MaxArg)
		case !utf8.ValidString(a):
			return fmt.Errorf("%w: %s is not valid UTF-8", ErrInvalid, what)
		}
		for j := 0; j < len(a); j++ {
			if a[j] == 0 {
				return fmt.Errorf("%w: %s contains a NUL byte", ErrInvalid, what)
			}
		}
		total += len(a)
	}
	if total > MaxArgvBytes {
		return fmt.Errorf("%w: the command line is %d bytes; at most %d", ErrInvalid, total, MaxArgvBytes)
	}
	return nil
}

// checkText refuses text that is over max bytes or would not show as
// itself on one line.
func checkText(what, s string, max int) error {
	if len(s) > max {
		return fmt.Errorf("%w: %s is %d bytes; at most %d", ErrInvalid, what, len(s), max)
	}
	if !Printable(s) {
		return fmt.Errorf("%w: %s contains control characters or is not valid UTF-8", ErrInvalid, what)
	}
	return nil
}

// Printable reports whether s shows as itself on one line of a terminal,
// a log or the console: valid UTF-8 with no C0 control (tab and newline
// included), DEL, C1 control, line or paragraph separator, format
// character (bidirectional overrides, zero-width marks) or U+FFFD, which
// is what JSON makes of invalid UTF-8.
func Printable(s string) bool {
	for _, r := range s {
		if unicode.IsControl(r) || r == utf8.RuneError || r == '\u2028' || r == '\u2029' || unicode.Is(unicode.Cf, r) {
			return false
		}
	}
	return true
}

// ValidTerm reports whether s is a terminal type's name hoistd passes on as
// TERM: 1 to MaxTerm letters, digits and "._+-", the first a letter or a
// digit. The client leaves out a TERM that is not.
func ValidTerm(s string) bool {
	if s == "" || len(s) > MaxTerm {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '.' && c != '_' && c != '+' && c != '-') {
			return false
		}
	}
	return true
}

// quoteShort quotes an op for an error message, unless it is too long or
// strange to repeat.
func quoteShort(s string) string {
	if len(s) > 32 || !Printable(s) {
		return "(not shown)"
	}
	return strconv.Quote(s)
}
