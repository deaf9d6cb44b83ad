package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/hoist-jit/hoist"
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
			var d time.Duration
			switch {
			case once && cmd.Flags().Changed("for"):
				return hoist.Errorf(hoist.EInvalid, "give either --for DURATION or --once, not both")
			case !once && !cmd.Flags().Changed("for"):
				return hoist.Errorf(hoist.EInvalid, "give --for DURATION (e.g. --for 1h) or --once")
			case cmd.Flags().Changed("for"):
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
