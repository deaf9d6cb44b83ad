package agent

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
)

// SecurePath is the PATH of every elevated program, whatever the caller's.
const SecurePath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

var termRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$`)

// Environment builds an elevated program's environment from scratch: nothing
// the caller set reaches root but a checked TERM.
func Environment(user, sessionID, term string) []string {
	env := []string{
		"PATH=" + SecurePath,
		"HOME=/root",
		"USER=root",
		"LOGNAME=root",
		"SHELL=/bin/sh",
		"HOIST_USER=" + user,
		"HOIST_SESSION=" + sessionID,
	}
	if termRE.MatchString(term) {
		env = append(env, "TERM="+term)
	} else {
		env = append(env, "TERM=dumb")
	}
	return env
}

// errNotFound and errNotExecutable tell 127 from 126.
var (
	errNotFound      = errors.New("command not found")
	errNotExecutable = errors.New("permission denied")
)

// resolve finds the program argv0 names: a name with a slash as given
// (relative to dir), a bare name in SecurePath only — never the caller's
// PATH.
func resolve(argv0, dir string) (string, error) {
	if strings.Contains(argv0, "/") {
		p := argv0
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		return p, executable(p)
	}
	for _, d := range filepath.SplitList(SecurePath) {
		p := filepath.Join(d, argv0)
		if err := executable(p); err == nil {
			return p, nil
		} else if !errors.Is(err, errNotFound) {
			return p, err
		}
	}
	return "", errNotFound
}

func executable(p string) error {
	info, err := os.Stat(p)
	if err != nil {
		return errNotFound
	}
	if info.IsDir() || info.Mode()&0o111 == 0 {
		return errNotExecutable
	}
	return nil
}

// exitStatusOf maps a start error to the shell's convention.
func exitStatusOf(err error) int {
	if errors.Is(err, errNotFound) || errors.Is(err, syscall.ENOENT) {
		return 127
	}
	return 126
}
