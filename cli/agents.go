package cli

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/client"
)

func newEnrollToken(env Env) *cobra.Command {
	var (
		group  string
		ttl    time.Duration
		uses   int
		asJSON bool
	)
	cmd := adminCommand(env, "enroll-token [--group NAME] [--ttl 24h] [--uses N] [--json]",
		"Make a token that enrols machines (hoistd enroll --token …); printed on the last line",
		cobra.NoArgs, func(c *client.Client, cmd *cobra.Command, args []string) error {
			ctx, cancel := timeout()
			defer cancel()
			ans, err := c.EnrollToken(ctx, group, ttl, uses)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(env.Stdout, ans)
			}
			fmt.Fprintf(env.Stdout, "enrolment token for %d machine(s), valid until %s; on each machine run:\n  hoistd enroll --token TOKEN\n%s\n",
				ans.Uses, ans.ExpiresAt.Local().Format(time.RFC3339), ans.Token)
			return nil
		})
	cmd.Flags().StringVar(&group, "group", "", "computer group the machines join")
	cmd.Flags().DurationVar(&ttl, "ttl", 24*time.Hour, "how long the token is valid")
	cmd.Flags().IntVar(&uses, "uses", 1, "how many machines may enrol with it")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON object")
	return cmd
}

func newAgents(env Env) *cobra.Command {
	var asJSON bool
	cmd := adminCommand(env, "agents [--json]", "List enrolled machines: host, version, last seen, groups, what version gating holds back",
		cobra.NoArgs, func(c *client.Client, cmd *cobra.Command, args []string) error {
			ctx, cancel := timeout()
			defer cancel()
			as, err := c.Agents(ctx)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(env.Stdout, as)
			}
			if len(as) == 0 {
				fmt.Fprintln(env.Stdout, "no agents enrolled")
				return nil
			}
			tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tHOST\tVERSION\tOS\tLAST SEEN\tGROUPS\tSTATE\tHELD BACK")
			for _, a := range as {
				state := "active"
				switch {
				case a.Revoked:
					state = "revoked"
				case !a.Current:
					state = "active, policies pending"
				}
				var held []string
				for _, h := range a.HeldBack {
					held = append(held, h.String())
				}
				for _, s := range a.Skipped {
					held = append(held, fmt.Sprintf("skipped by the agent: %s (%s)", s.Name, s.Reason))
				}
				if len(held) == 0 {
					held = []string{"-"}
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s %s\t%s ago\t%s\t%s\t%s\n", a.ID, a.Hostname, a.Version, a.OS, a.Kernel,
					hoist.FormatDuration(time.Since(a.LastSeen).Truncate(time.Second)), strings.Join(a.Groups, ", "), state, strings.Join(held, "; "))
			}
			return tw.Flush()
		})
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array")
	return cmd
}

func newAgent(env Env) *cobra.Command {
	agent := &cobra.Command{Use: "agent", Short: "Act on one enrolled machine"}
	agent.AddCommand(adminCommand(env, "revoke ID", "Cut an agent off now: its certificate is refused from here on",
		cobra.ExactArgs(1), func(c *client.Client, cmd *cobra.Command, args []string) error {
			ctx, cancel := timeout()
			defer cancel()
			if err := c.RevokeAgent(ctx, args[0]); err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "agent %s revoked\n", args[0])
			return nil
		}))
	refuseUnknown(agent)
	return agent
}
