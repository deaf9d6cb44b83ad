package snapshot

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"
)

// Bounds of the parsers.
const (
	// MaxLine is the longest line a parser reads whole; a longer one is
	// skipped (no field Hoist reads is that long).
	MaxLine = 64 << 10
	// MaxPackages bounds the packages read from one status file.
	MaxPackages = 100_000
)

// ErrTooMany is returned by a parser that met more records than its bound;
// what it passed on before is good.
var ErrTooMany = errors.New("more records than the bound")

// Package is an installed package as dpkg's status file describes it.
type Package struct {
	// Name is the package's name, with ":ARCH" for a package that may be
	// installed for several architectures at once (Multi-Arch: same).
	Name    string
	Version string
	// Status is dpkg's "want flag state" ("install ok installed").
	Status string
}

// Installed reports whether the package is on the machine: any state but
// not-installed and config-files (removed, its configuration left).
func (p Package) Installed() bool {
	f := strings.Fields(p.Status)
	if len(f) != 3 {
		return false
	}
	return f[2] != "not-installed" && f[2] != "config-files"
}

// ParseDpkgStatus reads a dpkg status file (paragraphs of "Field: value"
// lines, blank lines between them) and calls fn with each paragraph that
// names a package, in file order. Continuation lines, other fields and
// lines longer than MaxLine are skipped. It returns ErrTooMany after
// MaxPackages packages, or the reader's error.
func ParseDpkgStatus(r io.Reader, fn func(Package)) error {
	var p Package
	var multiSame bool
	var arch string
	n := 0
	flush := func() error {
		if p.Name != "" {
			if n == MaxPackages {
				return ErrTooMany
			}
			n++
			if multiSame && arch != "" {
				p.Name += ":" + arch
			}
			fn(p)
		}
		p, multiSame, arch = Package{}, false, ""
		return nil
	}
	err := eachLine(r, func(line []byte) error {
		if len(bytes.TrimSpace(line)) == 0 {
			return flush()
		}
		if line[0] == ' ' || line[0] == '\t' {
			return nil // a continuation (Description, Conffiles)
		}
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return nil
		}
		val := string(bytes.TrimSpace(v))
		switch string(k) {
		case "Package":
			p.Name = val
		case "Version":
			p.Version = val
		case "Status":
			p.Status = val
		case "Architecture":
			arch = val
		case "Multi-Arch":
			multiSame = val == "same"
		}
		return nil
	})
	if err != nil {
		return err
	}
	return flush()
}

// eachLine calls fn with each line of r without its newline; a line longer
// than MaxLine is skipped whole.
func eachLine(r io.Reader, fn func([]byte) error) error {
	br := bufio.NewReaderSize(r, MaxLine)
	skipping := false
	for {
		line, err := br.ReadSlice('\n')
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			skipping = true
			continue
		case skipping:
			skipping = false // the tail of a long line
		case len(line) > 0:
			if ferr := fn(bytes.TrimRight(line, "\r\n")); ferr != nil {
				return ferr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// Account is a line of /etc/passwd.
type Account struct {
	Name  string
	UID   int
	GID   int
	Home  string
	Shell string
}

// Group is a line of /etc/group.
type Group struct {
	Name    string
	GID     int
	Members string
}

// ParsePasswd calls fn with each well-formed line of a passwd file; others
// (comments, NIS "+" lines, short lines) are skipped. It stops with
// ErrTooMany after max accounts.
func ParsePasswd(data []byte, max int, fn func(Account)) error {
	return eachRecord(data, 7, max, func(f []string) {
		uid, err1 := strconv.Atoi(f[2])
		gid, err2 := strconv.Atoi(f[3])
		if err1 == nil && err2 == nil {
			fn(Account{Name: f[0], UID: uid, GID: gid, Home: f[5], Shell: f[6]})
		}
	})
}

// ParseGroup calls fn with each well-formed line of a group file.
func ParseGroup(data []byte, max int, fn func(Group)) error {
	return eachRecord(data, 4, max, func(f []string) {
		if gid, err := strconv.Atoi(f[2]); err == nil {
			fn(Group{Name: f[0], GID: gid, Members: f[3]})
		}
	})
}

// ParseShadow calls fn with each account's name and the rest of its
// shadow line (the password hash and its aging): a caller fingerprints
// it, and keeps nothing of it.
func ParseShadow(data []byte, max int, fn func(name, rest string)) error {
	return eachRecord(data, 2, max, func(f []string) { fn(f[0], strings.Join(f[1:], ":")) })
}

// eachRecord splits data into lines of at least min ':'-separated fields
// with a non-empty, non-comment first field, and calls fn with each, at
// most max times (then ErrTooMany).
func eachRecord(data []byte, min, max int, fn func([]string)) error {
	n := 0
	for line := range strings.Lines(string(data)) {
		line = strings.TrimRight(line, "\r\n")
		if line == "" || line[0] == '#' || line[0] == '+' || line[0] == '-' {
			continue
		}
		f := strings.Split(line, ":")
		if len(f) < min || f[0] == "" {
			continue
		}
		if n == max {
			return ErrTooMany
		}
		n++
		fn(f)
	}
	return nil
}
