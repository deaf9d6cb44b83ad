package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hoist-jit/hoist"
)

// DefaultConfig is the configuration file hoistd reads when --config is not
// given and the file exists (the Debian package installs it).
const DefaultConfig = "/etc/hoist/hoistd.yaml"

// maxConfig bounds the configuration root reads: it is a page of keys.
const maxConfig = 64 << 10

// addConfigFlag gives cmd a --config flag whose file fills in every flag the
// command line did not set. With only, the file's keys that are not flags of
// cmd are skipped (enroll reads the state directory from the file that
// configures run); without it they are an error naming the key.
func addConfigFlag(cmd *cobra.Command, def string, only bool) {
	var path string
	cmd.Flags().StringVar(&path, "config", "", "file with a \"key: value\" line for any flag of hoistd run; flags given here override it (default "+def+" when it exists)")
	cmd.PreRunE = func(cmd *cobra.Command, args []string) error {
		file, explicit := path, path != ""
		if !explicit {
			file = def
		}
		return loadConfig(cmd, file, explicit, only)
	}
}

// loadConfig sets the flags of cmd the command line did not set from the
// file at path. A missing file is an error only when it was asked for.
func loadConfig(cmd *cobra.Command, path string, explicit, only bool) error {
	data, err := readConfig(path)
	if errors.Is(err, os.ErrNotExist) && !explicit {
		return nil
	}
	if err != nil {
		return hoist.Errorf(hoist.EInvalid, "cannot read the configuration %s: %v", path, err)
	}
	pairs, err := parseConfig(data)
	if err != nil {
		return hoist.Errorf(hoist.EInvalid, "%s: %v", path, err)
	}
	fs := cmd.Flags()
	for _, p := range pairs {
		f := fs.Lookup(p.key)
		switch {
		case f == nil || p.key == "config" || p.key == "help":
			if only {
				continue
			}
			return hoist.Errorf(hoist.EInvalid, "%s:%d: unknown key %q (see hoistd run --help for the keys)", path, p.line, p.key)
		case f.Changed:
			continue // the command line wins
		}
		if err := fs.Set(p.key, p.value); err != nil {
			return hoist.Errorf(hoist.EInvalid, "%s:%d: key %q: %v", path, p.line, p.key, err)
		}
	}
	return nil
}

func readConfig(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfig+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxConfig {
		return nil, fmt.Errorf("larger than %d bytes", maxConfig)
	}
	return data, nil
}

// pair is one "key: value" line of the configuration.
type pair struct {
	key, value string
	line       int
}

// parseConfig reads the flat subset of YAML hoistd's configuration is
// written in: "key: value" lines, values bare or in double or single
// quotes, "#" comments, blank lines. Anything else (nesting, lists, a key
// twice) is an error with its line: root parses little, and refuses what it
// does not understand rather than guessing.
func parseConfig(data []byte) ([]pair, error) {
	var pairs []pair
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), " \t\r")
		if t := strings.TrimSpace(line); t == "" || t[0] == '#' {
			continue
		}
		key, rest, ok := strings.Cut(line, ":")
		if !ok || key == "" || strings.TrimSpace(key) != key || !validKey(key) {
			return nil, fmt.Errorf("line %d: want \"key: value\"", n)
		}
		value, err := parseValue(strings.TrimSpace(rest))
		if err != nil {
			return nil, fmt.Errorf("line %d: key %q: %v", n, key, err)
		}
		if seen[key] {
			return nil, fmt.Errorf("line %d: key %q given twice", n, key)
		}
		seen[key] = true
		pairs = append(pairs, pair{key: key, value: value, line: n})
	}
	return pairs, sc.Err()
}

func validKey(k string) bool {
	for _, c := range k {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

// parseValue is a scalar: quoted (no escapes), or bare up to a " #"
// comment.
func parseValue(v string) (string, error) {
	if v != "" && (v[0] == '"' || v[0] == '\'') {
		end := strings.IndexByte(v[1:], v[0])
		if end < 0 {
			return "", errors.New("unterminated quote")
		}
		if rest := strings.TrimSpace(v[end+2:]); rest != "" && rest[0] != '#' {
			return "", errors.New("text after the quoted value")
		}
		return v[1 : end+1], nil
	}
	if i := strings.Index(v, " #"); i >= 0 {
		v = strings.TrimSpace(v[:i])
	}
	if v != "" && strings.ContainsAny(v[:1], "[{&*!|>%@`-") {
		return "", errors.New("only plain values: quote it, or see hoistd run --help")
	}
	return v, nil
}
