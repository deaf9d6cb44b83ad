package cli

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/client"
)

// newOffline is hoist admin offline: responses to offline challenges.
func newOffline(env Env) *cobra.Command {
	cmd := &cobra.Command{Use: "offline", Short: "Answer the offline challenge of a machine that cannot reach the server"}
	cmd.AddCommand(newOfflineApprove(env))
	refuseUnknown(cmd)
	return cmd
}

func newOfflineApprove(env Env) *cobra.Command {
	var (
		forDur, agent string
		once, asJSON  bool
	)
	cmd := &cobra.Command{
		Use:   "approve CHALLENGE (--for DURATION | --once) [--agent NAME]",
		Short: "Print the response code approving an offline challenge For a duration or One Time (on the last line)",
		Args:  cobra.ExactArgs(1),
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
			out, err := c.ApproveOffline(ctx, args[0], agent, d)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(env.Stdout, out)
			}
			user := out.User
			if user == "" {
				user = "a user not seen on it before (confirm with the caller)"
			}
			fmt.Fprintf(env.Stdout, "Machine: %s\nUser: %s\nAsked: %s\nApproved: %s\n", out.Host, user, out.RequestedDuration, out.ApprovedDuration)
			if out.Reason != "" {
				fmt.Fprintf(env.Stdout, "Reason: %s\n", out.Reason)
			}
			fmt.Fprintf(env.Stdout, "Read this response to the user (hoist request --response CODE):\n%s\n", out.Response)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&forDur, "for", "", "approve For this long (at most what the challenge asks)")
	f.BoolVar(&once, "once", false, "approve One Time: 30 minutes, or less when less was asked")
	f.StringVar(&agent, "agent", "", "the machine (name or id), when the challenge fits several")
	f.BoolVar(&asJSON, "json", false, "print the response as JSON")
	return cmd
}

// newEmergencyCodes is hoist admin emergency-codes.
func newEmergencyCodes(env Env) *cobra.Command {
	cmd := &cobra.Command{Use: "emergency-codes", Short: "One-time codes for JIT mode when no approver can be reached"}
	cmd.AddCommand(newEmergencyIssue(env), newEmergencyList(env), newEmergencyRevoke(env))
	refuseUnknown(cmd)
	return cmd
}

func newEmergencyIssue(env Env) *cobra.Command {
	var (
		agent, group, forDur string
		count                int
		asJSON               bool
	)
	cmd := &cobra.Command{
		Use:   "issue (--agent NAME | --group NAME) [--count N] [--for D]",
		Short: "Issue one-time emergency codes for a machine or a computer group; their values are printed this once",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if (agent == "") == (group == "") {
				return hoist.Errorf(hoist.EInvalid, "give --agent NAME or --group NAME")
			}
			var d time.Duration
			if cmd.Flags().Changed("for") {
				var err error
				if d, err = hoist.ParseDuration(forDur); err != nil {
					return hoist.Errorf(hoist.EInvalid, "--for: %s", hoist.ErrorMessage(err))
				}
			}
			c, err := loggedIn(env)
			if err != nil {
				return err
			}
			ctx, cancel := timeout()
			defer cancel()
			codes, err := c.IssueEmergencyCodes(ctx, agent, group, count, d)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(env.Stdout, codes)
			}
			fmt.Fprintf(env.Stderr, "These codes are shown this once; each grants JIT mode once, without an approver (hoist request --response CODE):\n")
			for _, v := range codes {
				fmt.Fprintf(env.Stdout, "%s  %s  %s\n", v.Code, v.ID, v.Window)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&agent, "agent", "", "the machine (name or id)")
	f.StringVar(&group, "group", "", "the computer group: any of its machines takes each code once")
	f.IntVar(&count, "count", 0, "how many codes (default 5, at most 20)")
	f.StringVar(&forDur, "for", "", "the window each code grants (default 1h, at most 4h)")
	f.BoolVar(&asJSON, "json", false, "print the codes as JSON")
	return cmd
}

func newEmergencyList(env Env) *cobra.Command {
	var asJSON bool
	cmd := adminCommand(env, "ls", "List emergency codes (never their values): outstanding, used, revoked, expired", cobra.NoArgs,
		func(c *client.Client, cmd *cobra.Command, args []string) error {
			ctx, cancel := timeout()
			defer cancel()
			codes, err := c.EmergencyCodes(ctx)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(env.Stdout, codes)
			}
			tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tFOR\tWINDOW\tSTATE\tUSED\tBY")
			for _, v := range codes {
				target := v.Agent
				if v.Group != "" {
					target = "group " + v.Group
				}
				used := "-"
				if v.UsedAt != nil {
					used = v.UsedAt.UTC().Format(time.RFC3339) + " on " + v.UsedOn + " by " + v.UsedBy
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", v.ID, target, v.Window, v.State, used, v.CreatedBy)
			}
			return tw.Flush()
		})
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array")
	return cmd
}

func newEmergencyRevoke(env Env) *cobra.Command {
	return adminCommand(env, "revoke ID", "Revoke an emergency code; machines drop it at their next check-in", cobra.ExactArgs(1),
		func(c *client.Client, cmd *cobra.Command, args []string) error {
			ctx, cancel := timeout()
			defer cancel()
			v, err := c.RevokeEmergencyCode(ctx, args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "Emergency code revoked.\n%s\n", v.ID)
			return nil
		})
}
