package cli

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/client"
	"github.com/hoist-jit/hoist/wire"
)

func newEnrollToken(env Env) *cobra.Command {
	var (
		group  string
		ttl    string
		uses   int
		asJSON bool
	)
	cmd := adminCommand(env, "enroll-token [--group NAME] [--ttl 24h] [--uses N] [--json]",
		"Make a token that enrols machines (hoistd enroll --token …); printed on the last line",
		cobra.NoArgs, func(c *client.Client, cmd *cobra.Command, args []string) error {
			d, err := hoist.ParseDuration(ttl)
			if err != nil {
				return hoist.Errorf(hoist.EInvalid, "--ttl: %s", hoist.ErrorMessage(err))
			}
			ctx, cancel := timeout()
			defer cancel()
			ans, err := c.EnrollToken(ctx, group, d, uses)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(env.Stdout, ans)
			}
			fmt.Fprintf(env.Stdout, "enrolment token for %s, valid until %s; on each machine run:\n  hoistd enroll --token TOKEN\n%s\n",
				hoist.Plural(ans.Uses, "machine"), ans.ExpiresAt.Local().Format(time.RFC3339), ans.Token)
			return nil
		})
	cmd.Flags().StringVar(&group, "group", "", "computer group the machines join")
	cmd.Flags().StringVar(&ttl, "ttl", "24h", "how long the token is valid, like 2h or 1d")
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
			fmt.Fprintln(tw, "ID\tHOST\tVERSION\tOS\tLAST SEEN\tGROUPS\tSTATE\tHELD BACK\tNAME WARNINGS")
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
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s %s\t%s ago\t%s\t%s\t%s\t%s\n", a.ID, agentHost(a), a.Version, a.OS, a.Kernel,
					hoist.FormatDuration(time.Since(a.LastSeen).Truncate(time.Second)), strings.Join(a.Groups, ", "), state, strings.Join(held, "; "),
					orDash(agentWarnings(a)))
			}
			return tw.Flush()
		})
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array")
	cmd.AddCommand(newPin(env), newUnpin(env))
	return cmd
}

// newPin and newUnpin are "hoist admin agents pin|unpin" (and "hoist admin
// agent pin|unpin").
func newPin(env Env) *cobra.Command {
	var asJSON bool
	cmd := adminCommand(env, "pin AGENT_ID NAME [--json]",
		"Pin the agent's name: requests, sessions and group hostname rules use it, not the hostname the agent reports",
		cobra.ExactArgs(2), func(c *client.Client, cmd *cobra.Command, args []string) error {
			ctx, cancel := timeout()
			defer cancel()
			a, err := c.PinAgentName(ctx, args[0], args[1])
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(env.Stdout, a)
			}
			fmt.Fprintf(env.Stdout, "agent %s is now named %s (it reports %s)\n", a.ID, a.Name, a.Hostname)
			if w := agentWarnings(a); w != "" {
				fmt.Fprintln(env.Stdout, "warning: "+w)
			}
			return nil
		})
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the agent as a JSON object")
	return cmd
}

func newUnpin(env Env) *cobra.Command {
	var asJSON bool
	cmd := adminCommand(env, "unpin AGENT_ID [--json]", "Remove the agent's pinned name: it goes by the hostname it reports again",
		cobra.ExactArgs(1), func(c *client.Client, cmd *cobra.Command, args []string) error {
			ctx, cancel := timeout()
			defer cancel()
			a, err := c.UnpinAgentName(ctx, args[0])
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(env.Stdout, a)
			}
			fmt.Fprintf(env.Stdout, "agent %s has no pinned name: it goes by the hostname it reports, %s\n", a.ID, a.Hostname)
			return nil
		})
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the agent as a JSON object")
	return cmd
}

// agentHost is the agent's name as the agents table shows it: the pinned
// name marked as such, with the hostname it reports when that differs.
func agentHost(a wire.AgentView) string {
	if a.PinnedName == "" {
		return a.Hostname
	}
	if a.HostnameMismatch {
		return a.PinnedName + " (pinned; reports " + a.Hostname + ")"
	}
	return a.PinnedName + " (pinned)"
}

// agentWarnings says what is wrong with the agent's name, or nothing.
func agentWarnings(a wire.AgentView) string {
	return nameWarnings(a.Name, wire.AgentNameFlags{AgentID: a.ID, ReportedHostname: a.Hostname,
		DuplicateHostname: a.DuplicateHostname, DuplicateOf: a.DuplicateOf, HostnameMismatch: a.HostnameMismatch})
}

// nameWarnings says what an approver must know about the name host of an
// agent with flags f: another agent claims it, or it reports another
// hostname than its pinned name.
func nameWarnings(host string, f wire.AgentNameFlags) string {
	var w []string
	if f.DuplicateHostname {
		w = append(w, "another agent also calls itself "+host+" ("+strings.Join(f.DuplicateOf, ", ")+")")
	}
	if f.HostnameMismatch {
		w = append(w, "it reports the hostname "+f.ReportedHostname+", not its pinned name")
	}
	return strings.Join(w, "; ")
}

// agentColumn is the AGENT column of the approvals and sessions tables:
// the agent's short id, and a warning when its name is not to be trusted.
func agentColumn(host string, f wire.AgentNameFlags) string {
	if f.AgentID == "" {
		return "-"
	}
	s := shortAgentID(f.AgentID)
	if w := nameWarnings(host, f); w != "" {
		s += " (!) " + w
	}
	return s
}

// shortAgentID is an agent id cut for tables: enough to tell agents apart
// at a glance; --json has the whole id.
func shortAgentID(id string) string {
	const keep = len(hoist.AgentIDPrefix) + 8
	if len(id) <= keep {
		return id
	}
	return id[:keep] + "…"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
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
	agent.AddCommand(newPin(env), newUnpin(env))
	refuseUnknown(agent)
	return agent
}
