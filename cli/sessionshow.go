package cli

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/spf13/cobra"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/client"
	"github.com/hoist-jit/hoist/wire"
)

// newSessionShow is `hoist admin sessions show ID [--json]`.
func newSessionShow(env Env) *cobra.Command {
	var asJSON bool
	cmd := adminCommand(env, "show ID [--json]", "One session: who, where, who approved it, how it ended, the programs that ran in it and what it changed",
		cobra.ExactArgs(1), func(c *client.Client, cmd *cobra.Command, args []string) error {
			ctx, cancel := timeout()
			defer cancel()
			p, err := c.SessionPage(ctx, args[0])
			if err != nil {
				return err
			}
			if p.DetailsHidden != "" {
				return hoist.Errorf(hoist.EForbidden, "%s", p.DetailsHidden)
			}
			if asJSON {
				return printJSON(env.Stdout, p)
			}
			return printSessionPage(env.Stdout, p)
		})
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	return cmd
}

// newSessionSearch is `hoist admin sessions search TEXT [--json]`.
func newSessionSearch(env Env) *cobra.Command {
	var asJSON bool
	var limit int
	cmd := adminCommand(env, "search TEXT [--limit N] [--json]", "Find the programs run in sessions whose name or arguments contain TEXT (which session ran useradd?)",
		cobra.ExactArgs(1), func(c *client.Client, cmd *cobra.Command, args []string) error {
			ctx, cancel := timeout()
			defer cancel()
			cmds, err := c.SearchCommands(ctx, args[0], limit)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(env.Stdout, cmds)
			}
			if len(cmds) == 0 {
				fmt.Fprintln(env.Stdout, "no programs match")
				return nil
			}
			tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "AT\tSESSION\tUSER\tHOST\tCOMMAND")
			for _, c := range cmds {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.At.Local().Format(time.DateTime), c.Session, c.User, c.Host, shellLine(c.Argv))
			}
			return tw.Flush()
		})
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array")
	cmd.Flags().IntVar(&limit, "limit", 0, "the most programs to list (default 100)")
	return cmd
}

func printSessionPage(w io.Writer, p wire.SessionPage) error {
	state := string(p.State)
	if p.EndReason != "" {
		state += " (" + string(p.EndReason) + ")"
	}
	fmt.Fprintf(w, "session   %s\nuser      %s\nhost      %s\nstate     %s\n", p.ID, p.User, p.Host, state)
	fmt.Fprintf(w, "request   %s", p.RequestID)
	if p.Reason != "" {
		fmt.Fprintf(w, " (%q)", p.Reason)
	}
	fmt.Fprintf(w, "\napproved  by %s, for %s\n", strings.Join(p.Approvers, ", "), hoist.FormatDuration(p.ExpiresAt.Sub(p.StartedAt).Round(time.Second)))
	fmt.Fprintf(w, "window    %s to %s\n", p.StartedAt.Local().Format(time.DateTime), p.ExpiresAt.Local().Format(time.DateTime))
	if p.EndedAt != nil {
		fmt.Fprintf(w, "ended     %s\n", p.EndedAt.Local().Format(time.DateTime))
	}
	var cmds []hoist.SessionCommand
	if p.Commands != nil {
		cmds = *p.Commands
	}
	fmt.Fprintf(w, "\ncommands  %d recorded", len(cmds))
	if p.CommandsSource != "" {
		fmt.Fprintf(w, " (from %s)", p.CommandsSource)
	}
	fmt.Fprintln(w)
	for i, depth := range hoist.CommandDepths(cmds) {
		c := cmds[i]
		status := ""
		if c.ExitStatus != nil {
			status = " exit " + strconv.Itoa(*c.ExitStatus)
		}
		fmt.Fprintf(w, "  %s  pid %-7d%s%s%s\n", c.At.Local().Format("15:04:05"), c.Pid, strings.Repeat("  ", depth), shellLine(c.Argv), status)
	}
	if p.CommandsSummary != "" {
		fmt.Fprintf(w, "  %s\n", p.CommandsSummary)
	}
	var changes []wire.ChangeView
	if p.Changes != nil {
		changes = *p.Changes
	}
	fmt.Fprintf(w, "\nchanges   %d\n", len(changes))
	for _, c := range changes {
		fmt.Fprintf(w, "  %-8s %-10s %s", c.Change, c.Kind, c.Name)
		if c.Detail != "" {
			fmt.Fprintf(w, "  (%s)", c.Detail)
		}
		fmt.Fprintln(w)
	}
	if p.ChangesOmitted > 0 {
		fmt.Fprintf(w, "  … and %d more changes left out of the report\n", p.ChangesOmitted)
	}
	return nil
}

// shellLine shows argv as a shell would take it, quoting where needed.
func shellLine(argv []string) string {
	out := make([]string, len(argv))
	for i, a := range argv {
		if a == "" || strings.ContainsAny(a, " \t\n'\"\\$`;&|<>*?()[]{}#~!") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		out[i] = graphic(a)
	}
	return strings.Join(out, " ")
}

// graphic escapes what a terminal would act on (control characters,
// escapes) rather than show.
func graphic(s string) string {
	var b strings.Builder
	for _, r := range s {
		if unicode.IsGraphic(r) {
			b.WriteRune(r)
			continue
		}
		q := strconv.QuoteRune(r)
		b.WriteString(q[1 : len(q)-1])
	}
	return b.String()
}
