package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"sigs.k8s.io/yaml"
)

// serveFlags parses args for serve as the command line would and returns
// its flags after the configuration was applied, without serving.
func serveFlags(t *testing.T, args ...string) (*pflag.FlagSet, error) {
	t.Helper()
	cmd := newServe(os.Stdout, os.Stderr)
	cmd.RunE = func(*cobra.Command, []string) error { return nil }
	cmd.SetArgs(args)
	cmd.SetOut(new(strings.Builder))
	cmd.SetErr(new(strings.Builder))
	err := cmd.Execute()
	return cmd.Flags(), err
}

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "server.yaml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPackagedConfigHasEveryFlag holds the file the package installs as
// /etc/hoist/server.yaml to the flags of serve: a key for each, each one
// accepted.
func TestPackagedConfigHasEveryFlag(t *testing.T) {
	const packaged = "../../packaging/etc/server.yaml"
	data, err := os.ReadFile(packaged)
	if err != nil {
		t.Fatal(err)
	}
	var keys map[string]any
	if err := yaml.Unmarshal(data, &keys); err != nil {
		t.Fatal(err)
	}
	newServe(os.Stdout, os.Stderr).Flags().VisitAll(func(f *pflag.Flag) {
		if _, ok := keys[f.Name]; !ok && f.Name != "config" {
			t.Errorf("%s has no key %q for the flag --%s", packaged, f.Name, f.Name)
		}
	})
	fs, err := serveFlags(t, "--config", packaged)
	if err != nil {
		t.Fatalf("the packaged configuration is refused: %v", err)
	}
	if got, want := fs.Lookup("data").Value.String(), "/var/lib/hoist-server"; got != want {
		t.Errorf("data = %q, want %q", got, want)
	}
}

func TestConfigFile(t *testing.T) {
	cfg := writeConfig(t, "data: /srv/hoist\nlisten: 0.0.0.0:9443\nhost: [a.example, 10.0.0.1]\nrequire-reason: true\nmax-duration: 4h\n")
	tests := []struct {
		name string
		args []string
		flag string
		want string
	}{
		{"a string key", []string{"--config", cfg}, "data", "/srv/hoist"},
		{"a list key is the repeated flag", []string{"--config", cfg}, "host", "[a.example,10.0.0.1]"},
		{"a boolean", []string{"--config", cfg}, "require-reason", "true"},
		{"a duration", []string{"--config", cfg}, "max-duration", "4h0m0s"},
		{"the command line wins", []string{"--config", cfg, "--listen", "127.0.0.1:1"}, "listen", "127.0.0.1:1"},
		{"a key not in the file keeps its default", []string{"--config", cfg}, "one-time", "30m0s"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs, err := serveFlags(t, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			if got := fs.Lookup(tc.flag).Value.String(); got != tc.want {
				t.Errorf("--%s = %q, want %q", tc.flag, got, tc.want)
			}
		})
	}
}

func TestConfigFileRefused(t *testing.T) {
	tests := []struct {
		name, text, want string
	}{
		{"an unknown key is named", "data: /x\nlisten-addr: 1.2.3.4:1\n", `key "listen-addr"`},
		{"a bad value names its key", "data: /x\nmax-duration: forever\n", `key "max-duration"`},
		{"a nested value", "data: /x\nlisten: {a: b}\n", `key "listen"`},
		{"config cannot name another config", "config: /etc/passwd\n", `key "config"`},
		{"a duplicate key", "data: /x\ndata: /y\n", "data"},
		{"not a map", "- data\n", "not a YAML map"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := serveFlags(t, "--config", writeConfig(t, tc.text))
			if err == nil || !strings.Contains(message(err), tc.want) {
				t.Fatalf("err = %v, want it to name %s", err, tc.want)
			}
		})
	}
	t.Run("a --config that does not exist", func(t *testing.T) {
		_, err := serveFlags(t, "--config", filepath.Join(t.TempDir(), "none.yaml"), "--data", "/x")
		if err == nil || !strings.Contains(message(err), "none.yaml") {
			t.Fatalf("err = %v, want the missing file named", err)
		}
	})
}
