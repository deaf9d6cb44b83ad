package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/cli/local"
	"github.com/hoist-jit/hoist/client"
	"github.com/hoist-jit/hoist/wire"
)

// adminConfig is what "hoist admin login" keeps for the next commands, in
// $HOME/.config/hoist/admin.json, readable by its owner only.
type adminConfig struct {
	Server string `json:"server"`
	CA     string `json:"ca,omitempty"` // PEM, copied so a moved file does not break later commands
	User   string `json:"user"`
	Token  string `json:"token"`
}

func configPath(env Env) (string, error) {
	home := env.Getenv("HOME")
	if home == "" {
		return "", hoist.Errorf(hoist.EInvalid, "$HOME is not set: nowhere to keep the login")
	}
	return filepath.Join(home, ".config", "hoist", "admin.json"), nil
}

func loadConfig(env Env) (adminConfig, error) {
	var cfg adminConfig
	path, err := configPath(env)
	if err != nil {
		return cfg, err
	}
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return cfg, hoist.Errorf(hoist.EUnauthorized, "not logged in: run hoist admin login --server URL --user NAME")
	}
	if err != nil {
		return cfg, hoist.Errorf(hoist.EInvalid, "cannot read %s: %v", path, err)
	}
	if err := json.Unmarshal(data, &cfg); err != nil || cfg.Server == "" || cfg.Token == "" {
		return cfg, hoist.Errorf(hoist.EInvalid, "%s is damaged: log in again", path)
	}
	return cfg, nil
}

func saveConfig(env Env, cfg adminConfig) error {
	path, err := configPath(env)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return hoist.Errorf(hoist.EInvalid, "cannot create %s: %v", filepath.Dir(path), err)
	}
	data, _ := json.MarshalIndent(cfg, "", "  ")
	tmp, err := os.CreateTemp(filepath.Dir(path), ".admin-*.json")
	if err != nil {
		return hoist.Errorf(hoist.EInvalid, "cannot write the login: %v", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return hoist.Errorf(hoist.EInvalid, "cannot write the login: %v", err)
	}
	if err := tmp.Close(); err != nil {
		return hoist.Errorf(hoist.EInvalid, "cannot write the login: %v", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return hoist.Errorf(hoist.EInvalid, "cannot write the login: %v", err)
	}
	return nil
}

// loggedIn returns a client with the stored login.
func loggedIn(env Env) (*client.Client, error) {
	cfg, err := loadConfig(env)
	if err != nil {
		return nil, err
	}
	return client.New(cfg.Server, []byte(cfg.CA), cfg.Token)
}

func timeout() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), time.Minute)
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

func newAdmin(env Env) *cobra.Command {
	admin := &cobra.Command{
		Use:   "admin",
		Short: local.AdminShort,
	}
	admin.AddCommand(newLogin(env), newLogout(env), newApprovals(env), newApprove(env), newDeny(env), newRevoke(env), newSessions(env),
		newEnrollToken(env), newAgents(env), newAgent(env), newPolicies(env), newGroups(env), newConfig(env))
	admin.AddCommand(newUsers(env))
	admin.AddCommand(newIntegrations(env))
	admin.AddCommand(newAudit(env))
	admin.AddCommand(newOffline(env), newEmergencyCodes(env))
	refuseUnknown(admin)
	return admin
}

func newLogin(env Env) *cobra.Command {
	var server, user, caFile string
	var passwordStdin, sso bool
	cmd := &cobra.Command{
		Use:   "login --server URL (--user NAME [--password-stdin] | --sso) [--ca FILE]",
		Short: "Log in to hoist-server and keep the token for the next commands",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if sso {
				return loginSSOFlags(env, server, user, caFile, passwordStdin)
			}
			if server == "" || user == "" {
				return hoist.Errorf(hoist.EInvalid, "--server and --user are required")
			}
			pw, err := readPassword(env, user, passwordStdin)
			if err != nil {
				return err
			}
			var ca []byte
			if caFile != "" {
				if ca, err = os.ReadFile(caFile); err != nil {
					return hoist.Errorf(hoist.EInvalid, "cannot read the CA file: %v", err)
				}
			}
			c, err := client.New(server, ca, "")
			if err != nil {
				return err
			}
			ctx, cancel := timeout()
			defer cancel()
			base := strings.TrimRight(server, "/")
			ans, err := c.LoginWithDevice(ctx, user, pw, savedDevice(env, base, user))
			if err != nil {
				return err
			}
			if err := saveConfig(env, adminConfig{Server: base, CA: string(ca), User: user, Token: ans.Token}); err != nil {
				return err
			}
			saveDevice(env, base, user, ans.Device)
			fmt.Fprintf(env.Stdout, "logged in to %s as %s (%s) until %s\n", server, ans.User.Name, ans.User.Role, ans.ExpiresAt.Local().Format(time.RFC3339))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&server, "server", "", "server URL, e.g. https://hoist.example.org:8443")
	f.StringVar(&user, "user", "", "admin user name")
	f.BoolVar(&passwordStdin, "password-stdin", false, "read the password from standard input (else it is asked for on the terminal)")
	f.StringVar(&caFile, "ca", "", "CA certificate to trust for this server (the server's DATA/ca.pem)")
	f.BoolVar(&sso, "sso", false, "sign in through the server's identity provider in a browser, instead of with a password")
	return cmd
}

// readPassword reads the password from standard input with --password-stdin
// (a script's way), else asks for it on the terminal without echo.
func readPassword(env Env, user string, fromStdin bool) (string, error) {
	if !fromStdin {
		f, ok := env.Stdin.(*os.File)
		if !ok || !term.IsTerminal(int(f.Fd())) {
			return "", hoist.Errorf(hoist.EInvalid, "no terminal to ask for the password on: give it on standard input with --password-stdin")
		}
		fmt.Fprintf(env.Stderr, "Password for %s: ", user)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(env.Stderr)
		if err != nil {
			return "", hoist.Errorf(hoist.EInvalid, "cannot read the password from the terminal")
		}
		if len(b) == 0 {
			return "", hoist.Errorf(hoist.EInvalid, "no password given")
		}
		return string(b), nil
	}
	pw, err := bufio.NewReader(io.LimitReader(env.Stdin, 4096)).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", hoist.Errorf(hoist.EInvalid, "cannot read the password from standard input")
	}
	pw = strings.TrimRight(pw, "\r\n")
	if pw == "" {
		return "", hoist.Errorf(hoist.EInvalid, "the password on standard input is empty")
	}
	return pw, nil
}

func newLogout(env Env) *cobra.Command {
	return &cobra.Command{
		Use:   "logout",
		Short: "Revoke the stored token and forget it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := loggedIn(env)
			if err != nil {
				return err
			}
			ctx, cancel := timeout()
			defer cancel()
			if err := c.Logout(ctx); err != nil && hoist.ErrorCode(err) != hoist.EUnauthorized {
				return err
			}
			path, _ := configPath(env)
			_ = os.Remove(path)
			fmt.Fprintln(env.Stdout, "logged out")
			return nil
		},
	}
}

func newApprovals(env Env) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "approvals [--json]",
		Short: "List the requests waiting for a decision",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := loggedIn(env)
			if err != nil {
				return err
			}
			ctx, cancel := timeout()
			defer cancel()
			rs, err := c.Requests(ctx, client.RequestQuery{State: string(hoist.RequestPending), Limit: hoist.MaxListLimit})
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(env.Stdout, rs)
			}
			if len(rs) == 0 {
				fmt.Fprintln(env.Stdout, "no requests waiting")
				return nil
			}
			tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tUSER\tHOST\tDURATION\tWAITING\tREASON\tAGENT\tAPPROVALS")
			for _, r := range rs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.User, r.Host, askedColumn(r),
					hoist.FormatDuration(time.Since(r.CreatedAt).Truncate(time.Second)), r.Reason, agentColumn(r.Host, r.AgentNameFlags), approvalsColumn(r))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array")
	return cmd
}

// askedColumn is what a request asks for: a window, or more time on a
// session that ends at a given time.
func askedColumn(r wire.RequestView) string {
	if r.Kind == hoist.RequestKindExtension && r.SessionEnd != nil {
		return fmt.Sprintf("+%s (extension; ends %s)", r.RequestedDuration, r.SessionEnd.Local().Format("15:04"))
	}
	return r.RequestedDuration
}

// approvalsColumn says how far a request is: "1 of 2 approvals (carol)".
func approvalsColumn(r wire.RequestView) string {
	need := max(r.ApprovalsRequired, 1)
	word := "approvals"
	if need == 1 {
		word = "approval"
	}
	out := fmt.Sprintf("%d of %d %s", len(r.Approvals), need, word)
	if len(r.Approvals) > 0 {
		by := make([]string, len(r.Approvals))
		for i, a := range r.Approvals {
			by[i] = a.By
		}
		out += " (" + strings.Join(by, ", ") + ")"
	}
	return out
}

// printResults reports a batch, one line per id, and fails when any id
// failed.
func printResults(env Env, results []wire.ResultView, asJSON bool, verb string) error {
	failed := 0
	for _, r := range results {
		if !r.OK {
			failed++
		}
	}
	if asJSON {
		if err := printJSON(env.Stdout, results); err != nil {
			return err
		}
	} else {
		for _, r := range results {
			switch {
			case !r.OK:
				fmt.Fprintf(env.Stderr, "%s: not %s: %s\n", r.ID, verb, r.Error)
			case r.Request != nil && r.Request.State == hoist.RequestPending:
				fmt.Fprintf(env.Stdout, "%s: approval recorded; %s, it needs another approver\n", r.ID, approvalsColumn(*r.Request))
			case r.Session != nil && r.Session.State == hoist.SessionActive:
				fmt.Fprintf(env.Stdout, "%s: %s; session %s for %s on %s until %s\n", r.ID, verb, r.Session.ID,
					r.Session.User, r.Session.Host, r.Session.ExpiresAt.Local().Format("15:04:05 MST"))
			default:
				fmt.Fprintf(env.Stdout, "%s: %s\n", r.ID, verb)
			}
		}
	}
	if failed > 0 {
		if asJSON {
			fmt.Fprintf(env.Stderr, "hoist: %d of %d not %s\n", failed, len(results), verb)
		}
		return exitStatus{Code: 1}
	}
	return nil
}

// forOrOnce reads an approval's window from --for DURATION or --once (0:
// One Time, the server's default), refusing neither or both.
func forOrOnce(cmd *cobra.Command, forDur string, once bool) (time.Duration, error) {
	switch {
	case once && cmd.Flags().Changed("for"):
		return 0, hoist.Errorf(hoist.EInvalid, "give either --for DURATION or --once, not both")
	case !once && !cmd.Flags().Changed("for"):
		return 0, hoist.Errorf(hoist.EInvalid, "give --for DURATION (e.g. --for 1h) or --once")
	case once:
		return 0, nil
	}
	d, err := hoist.ParseDuration(forDur)
	if err != nil {
		return 0, hoist.Errorf(hoist.EInvalid, "--for: %s", hoist.ErrorMessage(err))
	}
	return d, nil
}

func newApprove(env Env) *cobra.Command {
	var (
		forDur string
		once   bool
		reason string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "approve ID... (--for DURATION | --once)",
		Short: "Approve requests For a duration (e.g. 1h) or One Time (the 30-minute default)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := forOrOnce(cmd, forDur, once)
			if err != nil {
				return err
			}
			c, err := loggedIn(env)
			if err != nil {
				return err
			}
			ctx, cancel := timeout()
			defer cancel()
			results, err := c.Approve(ctx, args, d, reason)
			if err != nil {
				return err
			}
			return printResults(env, results, asJSON, "approved")
		},
	}
	f := cmd.Flags()
	f.StringVar(&forDur, "for", "", "approve For this long, like 30m, 2h or 1d")
	f.BoolVar(&once, "once", false, "approve One Time: the default window (30 minutes)")
	f.StringVar(&reason, "reason", "", "a note kept with the decision")
	f.BoolVar(&asJSON, "json", false, "print the results as JSON")
	return cmd
}

func newDeny(env Env) *cobra.Command {
	cmd := newBatch(env, "deny ID... --reason TEXT", "Deny requests, saying why", "why, shown to the requester (required)", "denied", (*client.Client).Deny)
	// The server refuses a denial without a reason too; saying so here
	// names the flag.
	cmd.PreRunE = func(cmd *cobra.Command, args []string) error {
		if r, _ := cmd.Flags().GetString("reason"); strings.TrimSpace(r) == "" {
			return hoist.Errorf(hoist.EInvalid, "--reason TEXT is required: the requester is shown why they were denied")
		}
		return nil
	}
	return cmd
}

func newRevoke(env Env) *cobra.Command {
	return newBatch(env, "revoke ID... [--reason TEXT]", "End active sessions now (by session id or request id)",
		"why, kept in the audit log", "revoked", (*client.Client).Revoke)
}

// newBatch makes a command that applies one decision, with a reason, to
// several ids and reports each.
func newBatch(env Env, use, short, reasonHelp, verb string,
	decide func(*client.Client, context.Context, []string, string) ([]wire.ResultView, error)) *cobra.Command {
	var reason string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := loggedIn(env)
			if err != nil {
				return err
			}
			ctx, cancel := timeout()
			defer cancel()
			results, err := decide(c, ctx, args, reason)
			if err != nil {
				return err
			}
			return printResults(env, results, asJSON, verb)
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", reasonHelp)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the results as JSON")
	return cmd
}

func newSessions(env Env) *cobra.Command {
	var asJSON, all bool
	cmd := &cobra.Command{
		Use:   "sessions [--json] [--all]",
		Short: "List active sessions with the time remaining",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := loggedIn(env)
			if err != nil {
				return err
			}
			ctx, cancel := timeout()
			defer cancel()
			state := string(hoist.SessionActive)
			if all {
				state = ""
			}
			ss, err := c.Sessions(ctx, state, hoist.MaxListLimit)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(env.Stdout, ss)
			}
			if len(ss) == 0 {
				if all {
					fmt.Fprintln(env.Stdout, "no sessions")
				} else {
					fmt.Fprintln(env.Stdout, "no active sessions")
				}
				return nil
			}
			tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tUSER\tHOST\tSTATE\tEXPIRES\tREMAINING\tREQUEST\tAGENT")
			for _, s := range ss {
				state := string(s.State)
				if s.EndReason != "" {
					state += " (" + string(s.EndReason) + ")"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, s.User, s.Host, state,
					s.ExpiresAt.Local().Format("15:04:05"), hoist.FormatDuration(time.Duration(s.RemainingSeconds)*time.Second), s.RequestID,
					agentColumn(s.Host, s.AgentNameFlags))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array")
	cmd.Flags().BoolVar(&all, "all", false, "include ended sessions")
	cmd.AddCommand(newSessionShow(env), newSessionSearch(env)) // sessionshow.go
	cmd.AddCommand(newSessionRecording(env))
	return cmd
}

// adminCommand makes a command that runs fn with a logged-in client.
func adminCommand(env Env, use, short string, args cobra.PositionalArgs, fn func(c *client.Client, cmd *cobra.Command, args []string) error) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  args,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := loggedIn(env)
			if err != nil {
				return err
			}
			return fn(c, cmd, args)
		},
	}
}

// refuseUnknown makes a command that only groups others fail on an unknown
// subcommand, instead of printing its help and succeeding.
func refuseUnknown(cmd *cobra.Command) {
	cmd.Args = cobra.ArbitraryArgs
	cmd.RunE = func(c *cobra.Command, args []string) error {
		if len(args) == 0 {
			return c.Help()
		}
		return hoist.Errorf(hoist.EInvalid, "unknown command %q for %q; see %s --help", args[0], c.CommandPath(), c.CommandPath())
	}
}
