package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// runFlags parses args for hoistd run, applies the configuration, and
// returns the value of flag, without serving.
func runFlags(t *testing.T, flag string, args ...string) (string, error) {
	t.Helper()
	cmd := newServe(os.Stdout, os.Stderr)
	cmd.RunE = func(*cobra.Command, []string) error { return nil }
	cmd.SetArgs(args)
	cmd.SetOut(new(strings.Builder))
	cmd.SetErr(new(strings.Builder))
	if err := cmd.Execute(); err != nil {
		return "", err
	}
	return cmd.Flags().Lookup(flag).Value.String(), nil
}

// TestPackagedConfig holds /etc/hoist/hoistd.yaml as the package ships it
// to the flags of hoistd run: a key for each, each accepted.
func TestPackagedConfig(t *testing.T) {
	const packaged = "../../packaging/etc/hoistd.yaml"
	data, err := os.ReadFile(packaged)
	if err != nil {
		t.Fatal(err)
	}
	pairs, err := parseConfig(data)
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{}
	for _, p := range pairs {
		keys[p.key] = true
	}
	for _, name := range []string{"state", "socket", "cgroup-root", "tracker", "autostart-dir", "grace", "log-json"} {
		if !keys[name] {
			t.Errorf("%s has no key %q", packaged, name)
		}
	}
	if _, err := runFlags(t, "state", "--config", packaged); err != nil {
		t.Fatalf("the packaged configuration is refused: %v", err)
	}
}

func TestConfig(t *testing.T) {
	cfg := writeFile(t, "hoistd.yaml", "# comment\n\nstate: /srv/hoist   # trailing\nsocket: \"/run/x y.sock\"\ngrace: 10s\nautostart-dir: ''\n")
	tests := []struct {
		name, flag, want string
		args             []string
	}{
		{"bare value, comment cut", "state", "/srv/hoist", nil},
		{"double quotes", "socket", "/run/x y.sock", nil},
		{"a duration", "grace", "10s", nil},
		{"an empty value", "autostart-dir", "", nil},
		{"the command line wins", "state", "/elsewhere", []string{"--state", "/elsewhere"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := runFlags(t, tc.flag, append([]string{"--config", cfg}, tc.args...)...)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("--%s = %q, want %q", tc.flag, got, tc.want)
			}
		})
	}
}

func TestConfigRefused(t *testing.T) {
	tests := []struct{ name, text, want string }{
		{"an unknown key is named", "state: /x\nsocket-path: /y\n", `unknown key "socket-path"`},
		{"a bad value names its key", "grace: soon\n", `key "grace"`},
		{"a key twice", "state: /x\nstate: /y\n", `"state" given twice`},
		{"nesting", "state:\n  dir: /x\n", "line 2"},
		{"a list", "state: [a, b]\n", `key "state"`},
		{"an unterminated quote", "state: \"/x\n", "unterminated"},
		{"config naming a config", "config: /etc/shadow\n", `unknown key "config"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := runFlags(t, "state", "--config", writeFile(t, "hoistd.yaml", tc.text))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %s", err, tc.want)
			}
		})
	}
	if _, err := runFlags(t, "state", "--config", "/nonexistent/hoistd.yaml"); err == nil {
		t.Error("a --config that does not exist is accepted")
	}
}

func TestReadToken(t *testing.T) {
	if got, err := readToken(writeFile(t, "token", "  hoist-enrol-abc.def\n")); err != nil || got != "hoist-enrol-abc.def" {
		t.Errorf("readToken = %q, %v", got, err)
	}
	for name, text := range map[string]string{"empty": "\n", "two lines": "a\nb\n", "huge": strings.Repeat("a", maxTokenFile+1)} {
		if _, err := readToken(writeFile(t, "token", text)); err == nil {
			t.Errorf("%s token file accepted", name)
		}
	}
}

// TestGCPercentRefused: a collector target out of range is refused with
// its name before hoistd starts anything (no socket appears).
func TestGCPercentRefused(t *testing.T) {
	dir := t.TempDir()
	socket := filepath.Join(dir, "hoistd.sock")
	for _, v := range []string{"5", "1001", "-1", "lots"} {
		var stderr strings.Builder
		code := run([]string{"run", "--config", writeFile(t, "hoistd.yaml", ""), "--state", dir, "--socket", socket, "--gc-percent", v}, io.Discard, &stderr)
		if code == 0 || !strings.Contains(stderr.String(), "gc-percent") {
			t.Errorf("--gc-percent %s: exit %d, stderr %q; want a refusal naming the flag", v, code, stderr.String())
		}
		if _, err := os.Stat(socket); err == nil {
			t.Fatalf("--gc-percent %s: hoistd made its socket", v)
		}
	}
}
