package cli_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/hoist-jit/hoist/cli"
	"github.com/hoist-jit/hoist/cli/local"
)

// TestUserSideSaysWhatCobraSays: hoist (package local, its own parser)
// hands hoist-admin (package cli, cobra) what it does not read itself; the
// two together must answer every command line as the whole cobra command
// line does — the same output, errors and exit status — and the user's
// usual command lines must not leave hoist.
func TestUserSideSaysWhatCobraSays(t *testing.T) {
	nowhere := t.TempDir() + "/none.sock"
	sock := "--socket=" + nowhere
	for _, tc := range []struct {
		args []string
		own  bool // hoist answers it without hoist-admin
	}{
		{nil, true},
		{[]string{"--help"}, true},
		{[]string{"-h"}, true},
		{[]string{"help"}, false},
		{[]string{"help", "run"}, false},
		{[]string{"--help", "run"}, false},
		{[]string{"statu"}, false},
		{[]string{"status", sock}, true},
		{[]string{"status", "--socket", nowhere, "--json"}, true},
		{[]string{"status", "--json=false", sock}, true},
		{[]string{"status", "--json=maybe", sock}, false},
		{[]string{"status", "--help"}, true},
		{[]string{"status", "-h", "extra"}, true},
		{[]string{"status", "extra", sock}, false},
		{[]string{"status", "--bogus"}, false},
		{[]string{"status", "-j"}, false},
		{[]string{"status", "--socket"}, false},
		{[]string{"status", "--", "x"}, false},
		{[]string{"exit", sock}, true},
		{[]string{"exit", "--help"}, true},
		{[]string{"exit", "--json"}, false},
		{[]string{"run", "--help"}, true},
		{[]string{"run", sock, "--", "/bin/true"}, true},
		{[]string{"run", sock, "ls", "-la", "--help"}, true},
		{[]string{"run", sock, "--reason", "because", "ls"}, true},
		{[]string{"run", sock, "--reason=", "ls"}, true},
		{[]string{"run", sock}, false},
		{[]string{"run", sock, "--"}, false},
		{[]string{"run", "--reason"}, false},
		{[]string{"run", "--wait", "ls"}, false},
		{[]string{"run", "-", "x"}, true},
		{[]string{"explain", "--help"}, true},
		{[]string{"explain", sock, "--json", "--", "apt", "update"}, true},
		{[]string{"explain", sock}, false},
		{[]string{"request", "--help"}, true},
		{[]string{"request", sock}, true},
		{[]string{"request", sock, "--for", "1"}, true},
		{[]string{"request", sock, "--for", ""}, true},
		{[]string{"request", sock, "--for=soon", "--reason", "x"}, true},
		{[]string{"request", sock, "--for", "--json"}, true},
		{[]string{"request", sock, "--extend", "1h", "--for", "1h"}, true},
		{[]string{"request", sock, "--response", "K7QF", "--wait"}, true},
		{[]string{"request", sock, "--offline", "--wait"}, true},
		{[]string{"request", sock, "--cancel", "--reason", "x"}, true},
		{[]string{"request", sock, "--cancel", "--json"}, true},
		{[]string{"request", sock, "--wait", "--json", "--for", "2h"}, true},
		{[]string{"request", sock, "now"}, false},
		{[]string{"request", "--for"}, false},
		{[]string{"jit", "--help"}, false},
		{[]string{"admin", "--help"}, false},
		{[]string{"admin", "approvals", "--socket", "/x"}, false},
		{[]string{"completion", "bash"}, false},
	} {
		name := strings.Join(tc.args, " ")
		t.Run(name, func(t *testing.T) {
			want := run(func(env cli.Env) int { return cli.Run(tc.args, env) })
			delegated := ""
			got := run(func(env cli.Env) int {
				return local.Main(tc.args, env, func(program string, args []string) int {
					delegated = program
					return cli.Run(args, env)
				})
			})
			if got != want {
				t.Errorf("hoist %s:\n got %+v\nwant %+v", name, got, want)
			}
			if tc.own && delegated != "" {
				t.Errorf("hoist %s went to %s; hoist should answer it itself", name, delegated)
			}
			if !tc.own && delegated == "" {
				t.Errorf("hoist %s was answered by hoist; only cobra says that right", name)
			}
		})
	}
}

type outcome struct {
	code           int
	stdout, stderr string
}

func run(main func(cli.Env) int) outcome {
	var out, errb bytes.Buffer
	env := cli.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }}
	code := main(env)
	return outcome{code, out.String(), errb.String()}
}
