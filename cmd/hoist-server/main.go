// Command hoist-server is Hoist's control server: the HTTP API, approvals,
// the audit log. See "hoist-server --help".
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/control"
	"github.com/hoist-jit/hoist/sdnotify"
	"github.com/hoist-jit/hoist/server"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the process: it returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	root := newRoot(stdout, stderr)
	root.SetArgs(args)
	if err := root.Execute(); err != nil {
		fmt.Fprintln(stderr, "hoist-server:", message(err))
		return 1
	}
	return 0
}

// message is what the operator reads for err: the user-safe message of a
// Hoist error, or the text of cobra's own usage errors.
func message(err error) string {
	var herr *hoist.Error
	if errors.As(err, &herr) {
		return herr.Message
	}
	return err.Error()
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "hoist-server",
		Short:         "Hoist control server: API, approvals and audit for just-in-time elevation",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return hoist.Errorf(hoist.EInvalid, "%v (see %s --help)", err, c.CommandPath())
	})
	root.AddCommand(newServe(stdout, stderr), newAudit(stdout))
	return root
}

func newServe(stdout, stderr io.Writer) *cobra.Command {
	var (
		cfg      server.Config
		logLevel string
		logJSON  bool
		proxies  []string
		remind   time.Duration
		keepRecs string
		gcPct    int
	)
	set := hoist.DefaultApprovalSettings()
	cmd := &cobra.Command{
		Use:   "serve --data DIR [--listen ADDR] [--database URL]",
		Short: "Serve the API until SIGINT or SIGTERM",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return hoist.Errorf(hoist.EInvalid, "--log-level must be debug, info, warn or error")
			}
			opts := &slog.HandlerOptions{Level: level}
			cfg.Logger = slog.New(slog.NewTextHandler(stderr, opts))
			if logJSON {
				cfg.Logger = slog.New(slog.NewJSONHandler(stderr, opts))
			}
			cfg.Settings = set
			switch {
			case remind < 0:
				return hoist.Errorf(hoist.EInvalid, "--approval-reminder must be a duration such as 10m, or 0 for none")
			case remind == 0:
				cfg.ReminderAfter = -1 // none
			default:
				cfg.ReminderAfter = remind
			}
			var err error
			if cfg.RecordingRetention, err = hoist.ParseDuration(keepRecs); err != nil {
				return hoist.Errorf(hoist.EInvalid, "--recording-retention: %s", hoist.ErrorMessage(err))
			}
			if cfg.TrustedProxies, err = server.ParseTrustedProxies(proxies); err != nil {
				return err
			}
			if gcPct < 10 || gcPct > 1000 {
				return hoist.Errorf(hoist.EInvalid, "--gc-percent must be a number from 10 to 1000")
			}
			server.TuneCollector(gcPct)
			cfg.AdminPassword = os.Getenv("HOIST_ADMIN_PASSWORD")
			cfg.Out = stdout
			ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
			defer cancel()
			m, err := server.Start(ctx, cfg)
			if err != nil {
				return err
			}
			// Under systemd (Type=notify) the unit is up only now, listening.
			if err := sdnotify.Ready(); err != nil {
				cfg.Logger.Warn("cannot tell systemd the server is ready", "err", err)
			}
			<-ctx.Done()
			_ = sdnotify.Stopping()
			cfg.Logger.Info("shutting down: finishing requests in flight")
			return m.Close()
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.DataDir, "data", "", "data directory: SQLite database, CA and certificates (required)")
	f.StringVar(&cfg.Listen, "listen", "127.0.0.1:8443", "address to serve HTTPS on")
	f.StringVar(&cfg.DatabaseURL, "database", "", "PostgreSQL URL (postgres://…) instead of SQLite in --data")
	f.StringVar(&cfg.TLSCert, "tls-cert", "", "TLS certificate file, instead of one made from the data directory's CA")
	f.StringVar(&cfg.TLSKey, "tls-key", "", "TLS key file, with --tls-cert")
	f.StringSliceVar(&cfg.Hosts, "host", nil, "extra DNS name or IP address for the generated certificate (repeatable)")
	f.DurationVar(&set.OneTimeDuration, "one-time", set.OneTimeDuration, "window of a One Time approval")
	f.DurationVar(&set.MaxDuration, "max-duration", set.MaxDuration, "longest window that may be requested or approved")
	f.DurationVar(&set.PendingTTL, "pending-ttl", set.PendingTTL, "how long a request waits for a decision before it expires")
	f.BoolVar(&set.ReasonRequired, "require-reason", false, "refuse requests without a reason")
	f.StringVar(&set.ReasonPattern, "reason-pattern", "", "regular expression every reason must match")
	f.DurationVar(&cfg.ConsoleIdleTimeout, "console-idle", 30*time.Minute, "sign out a web console left alone this long")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	f.BoolVar(&logJSON, "log-json", false, "log JSON instead of text")
	f.StringArrayVar(&proxies, "trusted-proxy", nil, "CIDR or address of a reverse proxy whose X-Forwarded-For is believed (repeatable); without one the header is ignored")
	f.StringVar(&cfg.MetricsListen, "metrics-listen", "", "also serve /metrics, without authentication, over plain HTTP on this (private) address")
	f.StringVar(&cfg.MetricsTokenFile, "metrics-token-file", "", "file with the bearer token /metrics on --listen requires; without it and --metrics-listen, /metrics answers 401")
	f.StringVar(&cfg.AuditCheckpoints, "audit-checkpoints", "", "file to append the audit log's signed checkpoints to (default DIR/audit-checkpoints)")
	f.DurationVar(&cfg.AuditCheckpointInterval, "audit-checkpoint-interval", server.DefaultCheckpointInterval, "how often to checkpoint the audit log's head when it moved")
	f.DurationVar(&remind, "approval-reminder", control.DefaultReminderAfter, "remind approvers (the approval.reminder event) of a request still pending this long; 0 for never")
	f.StringVar(&keepRecs, "recording-retention", "90d", "how long terminal recordings are kept, counted from their upload (90d, 2160h)")
	f.IntVar(&gcPct, "gc-percent", server.DefaultGCPercent, "Go collector target (GOGC): lower keeps less garbage per connected agent at some CPU; the environment's GOGC wins")
	addOIDCFlags(cmd, &cfg.OIDC)
	_ = cmd.MarkFlagRequired("data")
	addConfigFlag(cmd, DefaultConfig)
	return cmd
}

func newAudit(stdout io.Writer) *cobra.Command {
	audit := &cobra.Command{Use: "audit", Short: "Verify or export the audit log"}
	var (
		dataDir, dbURL string
		asJSON         bool
		after          int64
		checkpoints    string
		noCheckpoints  bool
	)
	verify := &cobra.Command{
		Use:   "verify --data DIR [--database URL] [--checkpoints PATH]",
		Short: "Check the audit log's hash chain against its signed checkpoints; exit 1 when any record was changed, reordered, or removed up to the last checkpoint",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			rep, err := server.VerifyAudit(ctx, server.VerifyOptions{DataDir: dataDir, DatabaseURL: dbURL,
				Checkpoints: checkpoints, NoCheckpoints: noCheckpoints})
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(stdout)
				enc.SetIndent("", "  ")
				_ = enc.Encode(rep)
			} else {
				printReport(stdout, rep)
			}
			if !rep.OK {
				return hoist.Errorf(hoist.EConflict, "the audit log was tampered with: %s", rep.Problem)
			}
			return nil
		},
	}
	export := &cobra.Command{
		Use:   "export --data DIR [--database URL] [--after SEQ] [--checkpoints PATH]",
		Short: "Write the audit log to stdout as JSON lines (and, with --data, checkpoint its head)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if after < 0 {
				return hoist.Errorf(hoist.EInvalid, "--after must not be negative")
			}
			_, err := server.ExportAudit(context.Background(), dataDir, dbURL, checkpoints, after, stdout)
			return err
		},
	}
	for _, c := range []*cobra.Command{verify, export} {
		c.Flags().StringVar(&dataDir, "data", "", "data directory (SQLite)")
		c.Flags().StringVar(&dbURL, "database", "", "PostgreSQL URL instead of --data")
	}
	verify.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	export.Flags().Int64Var(&after, "after", 0, "export records after this sequence number")
	verify.Flags().StringVar(&checkpoints, "checkpoints", "", "checkpoint file to check against (default DIR/audit-checkpoints)")
	verify.Flags().BoolVar(&noCheckpoints, "no-checkpoints", false, "without a checkpoint file, check the chain alone instead of failing")
	export.Flags().StringVar(&checkpoints, "checkpoints", "", "checkpoint file to append the head's checkpoint to (default DIR/audit-checkpoints)")
	audit.AddCommand(verify, export)
	return audit
}

// printReport says what verify found, for a person.
func printReport(w io.Writer, rep control.ChainReport) {
	if rep.OK {
		fmt.Fprintf(w, "audit chain intact: %d records, head %d %s\n", rep.Records, rep.HeadSeq, rep.HeadHash)
		if rep.Checkpoints > 0 {
			fmt.Fprintf(w, "checked against %d signed checkpoints; the last covers record %d (%s)\n",
				rep.Checkpoints, rep.CheckpointedSeq, rep.CheckpointedAt.UTC().Format(time.RFC3339))
		}
	} else {
		fmt.Fprintf(w, "audit chain BROKEN after %d good records: %s\n", rep.Records, rep.Problem)
		if rep.BadSeq > 0 {
			fmt.Fprintf(w, "first bad record: %d\n", rep.BadSeq)
		}
	}
	for _, n := range rep.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
}
