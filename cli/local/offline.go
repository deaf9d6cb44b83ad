package local

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/localapi"
)

// Offline approval, the user's side (docs/offline.md): hoist request
// --offline prints a challenge to read to an approver and, on a terminal,
// asks for the response; hoist request --response gives it later.

// requestOffline asks hoistd for an offline challenge and prints it on
// the last line (asJSON: an object with challenge). With stdin and stdout
// a terminal it then asks for the response and gives it to hoistd.
func requestOffline(env Env, path, forDur, reason string, asJSON bool) error {
	rep, err := Exchange(path, localapi.Request{Op: localapi.OpOffline, Duration: forDur, Reason: reason})
	if err != nil {
		return err
	}
	c := rep.Challenge
	if c == nil {
		return hoist.Errorf(hoist.EUnavailable, "hoistd answered without a challenge")
	}
	if asJSON {
		return printJSON(env.Stdout, map[string]any{"challenge": c.Code, "duration": c.Duration, "expires_at": c.ExpiresAt})
	}
	fmt.Fprintf(env.Stdout, "Read this challenge to an approver (it asks for %s and can be answered until %s);\n"+
		"they answer with a response code: hoist request --response CODE\n%s\n", c.Duration, c.ExpiresAt, c.Code)
	if !interactive(env) {
		return nil
	}
	in := bufio.NewReader(env.Stdin)
	for {
		fmt.Fprint(env.Stderr, "Response (empty to stop; give it later with hoist request --response): ")
		line, err := in.ReadString('\n')
		code := strings.TrimSpace(line)
		if code == "" {
			return nil
		}
		// A typo (the check character caught it) may be typed again; any
		// other answer is final.
		err = giveResponseOr(env, path, code, err)
		if hoist.ErrorCode(err) != hoist.EInvalid {
			return err
		}
		fmt.Fprintf(env.Stderr, "hoist: %s\n", hoist.ErrorMessage(err))
	}
}

// giveResponseOr gives code unless reading it failed (readErr) without
// a whole line.
func giveResponseOr(env Env, path, code string, readErr error) error {
	err := giveResponse(env, path, code)
	if readErr != nil && hoist.ErrorCode(err) == hoist.EInvalid {
		return hoist.Errorf(hoist.EForbidden, "%s", hoist.ErrorMessage(err))
	}
	return err
}

// interactive reports whether stdin and stdout are the user's terminal.
func interactive(env Env) bool {
	in, ok := env.Stdin.(*os.File)
	out, ok2 := env.Stdout.(*os.File)
	return ok && ok2 && term.IsTerminal(int(in.Fd())) && term.IsTerminal(int(out.Fd()))
}

// giveResponse gives hoistd the approver's response or an emergency code:
// nil once the session is active, hoistd's refusal otherwise.
func giveResponse(env Env, path, code string) error {
	if len(code) > localapi.MaxCode {
		return hoist.Errorf(hoist.EInvalid, "--response: a response is 12 characters, such as K7QF-2M9X-ZR4D")
	}
	rep, err := Exchange(path, localapi.Request{Op: localapi.OpRespond, Code: code})
	if err != nil {
		return err
	}
	st := rep.Status
	if st == nil || st.State != "active" {
		return hoist.Errorf(hoist.EUnavailable, "hoistd accepted the response but no session is active")
	}
	fmt.Fprintf(env.Stdout, "JIT elevated access is active until %s.\n%s\n", deref(st.ExpiresAt), st.SessionID)
	return nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
