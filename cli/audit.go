package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/client"
)

// auditFlags are the filters every audit command takes.
type auditFlags struct {
	action, actor, subject, since, until string
	limit                                int
}

func (f *auditFlags) add(cmd *cobra.Command, limitHelp string, limit int) {
	fs := cmd.Flags()
	fs.StringVar(&f.action, "action", "", "only actions that start with PREFIX (session., request.approved)")
	fs.StringVar(&f.actor, "actor", "", "only records by NAME (an admin, a user, an agent's host)")
	fs.StringVar(&f.subject, "subject", "", "only records about ID (a request, session or account)")
	fs.StringVar(&f.since, "since", "", "only records from TIME: RFC 3339 (2026-01-02T15:04:05Z), a date (2026-01-02), or how long ago (2h, 1d)")
	fs.StringVar(&f.until, "until", "", "only records before TIME, written as for --since")
	fs.IntVar(&f.limit, "limit", limit, limitHelp)
}

func (f *auditFlags) query(now time.Time) (client.AuditQuery, error) {
	q := client.AuditQuery{ActionPrefix: f.action, Actor: f.actor, Subject: f.subject}
	var err error
	if q.Since, err = parseWhen("--since", f.since, now); err != nil {
		return q, err
	}
	if q.Until, err = parseWhen("--until", f.until, now); err != nil {
		return q, err
	}
	if f.limit < 0 {
		return q, hoist.Errorf(hoist.EInvalid, "--limit must be a positive number")
	}
	return q, nil
}

// parseWhen reads a time as an admin types one: RFC 3339, a date (local
// midnight), or a duration back from now ("2h" is two hours ago).
func parseWhen(flag, s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation("2006-01-02", s, time.Local); err == nil {
		return t, nil
	}
	d, err := hoist.ParseDuration(strings.TrimSuffix(strings.TrimSpace(s), " ago"))
	if err != nil {
		return time.Time{}, hoist.Errorf(hoist.EInvalid, "%s %q: want an RFC 3339 time (2026-01-02T15:04:05Z), a date (2026-01-02) or how long ago (2h, 1d)", flag, s)
	}
	return now.Add(-d), nil
}

func newAudit(env Env) *cobra.Command {
	var (
		f      auditFlags
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "audit [--action PREFIX] [--actor NAME] [--subject ID] [--since TIME] [--until TIME] [--limit N] [--json]",
		Short: "Read the audit log, oldest record first (admins and auditors)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			q, err := f.query(time.Now())
			if err != nil {
				return err
			}
			c, err := loggedIn(env)
			if err != nil {
				return err
			}
			ctx, cancel := timeout()
			defer cancel()
			recs, err := auditPages(ctx, c, q, f.limit)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(env.Stdout, recs)
			}
			return printAudit(env.Stdout, recs)
		},
	}
	f.add(cmd, "the most records to show", hoist.DefaultListLimit)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array of the records")
	cmd.AddCommand(newAuditExport(env), newAuditVerify(env))
	return cmd
}

// auditPages reads up to limit records, a page at a time.
func auditPages(ctx context.Context, c *client.Client, q client.AuditQuery, limit int) ([]hoist.AuditRecord, error) {
	out := []hoist.AuditRecord{}
	for len(out) < limit {
		q.Limit = min(limit-len(out), hoist.MaxListLimit)
		recs, next, err := c.Audit(ctx, q)
		if err != nil {
			return nil, err
		}
		out = append(out, recs...)
		if len(recs) < q.Limit || next <= q.After {
			break
		}
		q.After = next
	}
	return out, nil
}

// printAudit prints one line per record: its details as key=value, keys
// in order.
func printAudit(w io.Writer, recs []hoist.AuditRecord) error {
	if len(recs) == 0 {
		fmt.Fprintln(w, "no audit records")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tTIME\tACTOR\tACTION\tSUBJECT\tDETAILS")
	for _, r := range recs {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", r.Seq, r.Time.Local().Format(time.DateTime), clean(r.Actor), r.Action, clean(r.Subject), details(r.Detail))
	}
	return tw.Flush()
}

// details renders a record's detail object as key=value pairs, sorted.
func details(raw json.RawMessage) string {
	var m map[string]any
	if len(raw) == 0 || json.Unmarshal(raw, &m) != nil {
		return clean(string(raw))
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		v := m[k]
		var s string
		switch v := v.(type) {
		case string:
			s = v
		default:
			b, _ := json.Marshal(v)
			s = string(b)
		}
		if strings.ContainsAny(s, " \t") {
			s = fmt.Sprintf("%q", s)
		}
		parts = append(parts, k+"="+s)
	}
	return clean(strings.Join(parts, " "))
}

// clean keeps text from the audit from moving the terminal's cursor: a
// control character is shown escaped.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return '?'
		}
		return r
	}, s)
}

func newAuditExport(env Env) *cobra.Command {
	var f auditFlags
	cmd := &cobra.Command{
		Use:   "export [--action PREFIX] [--actor NAME] [--subject ID] [--since TIME] [--until TIME] [--limit N]",
		Short: "Write the audit log to stdout as JSON lines, one record a line, oldest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			q, err := f.query(time.Now())
			if err != nil {
				return err
			}
			q.Limit = f.limit
			c, err := loggedIn(env)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return c.ExportAudit(ctx, q, env.Stdout)
		},
	}
	f.add(cmd, "the most records to export (0: all)", 0)
	return cmd
}

func newAuditVerify(env Env) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "verify [--json]",
		Short: "Have the server check the audit log's hash chain and signed checkpoints; exit 1 when it finds a problem",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := loggedIn(env)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			rep, err := c.VerifyAudit(ctx)
			if err != nil {
				return err
			}
			if asJSON {
				if err := printJSON(env.Stdout, rep); err != nil {
					return err
				}
			} else {
				printVerify(env.Stdout, rep)
			}
			if !rep.OK {
				return exitStatus{Code: 1}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the server's report as JSON")
	return cmd
}

func printVerify(w io.Writer, rep client.AuditReport) {
	if rep.OK {
		fmt.Fprintf(w, "audit log intact: %d records, head %d (%s)\n", rep.Records, rep.HeadSeq, rep.HeadHash)
	} else {
		fmt.Fprintf(w, "audit log NOT intact: %s", clean(rep.Problem))
		if rep.BadSeq > 0 {
			fmt.Fprintf(w, " (record %d)", rep.BadSeq)
		}
		fmt.Fprintln(w)
	}
	if rep.Checkpoints > 0 {
		fmt.Fprintf(w, "checked against %d signed checkpoints, the last covering record %d; %d records since\n", rep.Checkpoints, rep.CheckpointedSeq, rep.Uncovered)
	}
	for _, n := range rep.Notes {
		fmt.Fprintln(w, "note: "+clean(n))
	}
}
