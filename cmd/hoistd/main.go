// Command hoistd is Hoist's agent: the root broker on each machine that
// starts elevated programs for users in an approved JIT session and ends
// them when it ends. See "hoistd --help".
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/link"
)

func main() {
	// The main thread stays with the main goroutine: hoistd gives threads of
	// its own a caller's identity and then lets them end (see the agent's
	// resolveAs), and Go cannot end the main thread.
	runtime.LockOSThread()
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	root := &cobra.Command{
		Use:           "hoistd",
		Short:         "Hoist agent: the root broker for just-in-time elevation on this machine",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetArgs(args)
	root.AddCommand(newServe(stdout, stderr), newGrant(stdout), newEnroll(stdout), newEndSessions(stdout, stderr), newSudoHook(stderr), newPolkitHook())
	if err := root.Execute(); err != nil {
		var code hookExit
		if errors.As(err, &code) {
			return int(code) // a hook's answer, already explained
		}
		var herr *hoist.Error
		msg := err.Error()
		if errors.As(err, &herr) {
			msg = herr.Message
		}
		fmt.Fprintln(stderr, "hoistd:", msg)
		return 1
	}
	return 0
}

func newEnroll(stdout io.Writer) *cobra.Command {
	var server, token, tokenFile, stateDir string
	cmd := &cobra.Command{
		Use:   "enroll --server URL (--token TOKEN | --token-file FILE) [--state DIR]",
		Short: "Enrol this machine with a hoist-server (the token pins the server's CA)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if tokenFile != "" {
				if token != "" {
					return hoist.Errorf(hoist.EInvalid, "--token and --token-file do not go together")
				}
				var err error
				if token, err = readToken(tokenFile); err != nil {
					return err
				}
			}
			if token == "" {
				return hoist.Errorf(hoist.EInvalid, "--token or --token-file is required (hoist admin enroll-token prints one)")
			}
			if link.Enrolled(stateDir) {
				return hoist.Errorf(hoist.EConflict, "this machine is already enrolled (%s); remove its identity directory to enrol again", stateDir)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			id, err := link.Enroll(ctx, server, token, stateDir, link.Facts(hoist.Version))
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "enrolled with %s as %s\n", id.Server, id.AgentID)
			return nil
		},
	}
	cmd.Flags().StringVar(&server, "server", "", "server URL (default: the one in the token)")
	cmd.Flags().StringVar(&token, "token", "", "enrolment token")
	cmd.Flags().StringVar(&tokenFile, "token-file", "", "file holding the enrolment token (for unattended installs: config management, cloud-init); \"-\" reads stdin")
	cmd.Flags().StringVar(&stateDir, "state", "/var/lib/hoist", "state directory")
	// The state directory comes from the file that configures hoistd run,
	// so that enroll writes where run reads.
	addConfigFlag(cmd, DefaultConfig, true)
	return cmd
}

// maxTokenFile bounds a token file: a token is a line.
const maxTokenFile = 16 << 10

// readToken is the enrolment token in path ("-": stdin), surrounding space
// removed.
func readToken(path string) (string, error) {
	var r io.Reader = os.Stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return "", hoist.Errorf(hoist.EInvalid, "cannot read the token file: %v", err)
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, maxTokenFile+1))
	if err != nil {
		return "", hoist.Errorf(hoist.EInvalid, "cannot read the token file: %v", err)
	}
	if len(data) > maxTokenFile {
		return "", hoist.Errorf(hoist.EInvalid, "the token file %s is larger than %d bytes: not a token", path, maxTokenFile)
	}
	token := strings.TrimSpace(string(data))
	if token == "" || strings.ContainsAny(token, " \t\r\n") {
		return "", hoist.Errorf(hoist.EInvalid, "the token file %s must hold one token on one line", path)
	}
	return token, nil
}
