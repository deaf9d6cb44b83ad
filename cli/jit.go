package cli

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/jit"
	"github.com/hoist-jit/hoist/localapi"
)

var errOutOfTurn = hoist.Errorf(hoist.EUnavailable, "hoistd answered out of turn")

// daemon is hoistd's socket as the JIT helper uses it.
type daemon struct{ socket string }

func (d daemon) Status() (localapi.Status, error) {
	rep, err := exchange(d.socket, localapi.Request{Op: localapi.OpStatus, Helper: true})
	if err != nil {
		return localapi.Status{}, err
	}
	if rep.Status == nil {
		return localapi.Status{}, errOutOfTurn
	}
	return *rep.Status, nil
}

func (d daemon) Request(dur time.Duration, reason string) error {
	req := localapi.Request{Op: localapi.OpRequest, Reason: reason}
	if dur > 0 {
		req.Duration = dur.String()
	}
	_, err := exchange(d.socket, req)
	return err
}

func (d daemon) Exit() error {
	_, err := exchange(d.socket, localapi.Request{Op: localapi.OpExit})
	return err
}

func newJIT(env Env, socket *string) *cobra.Command {
	var (
		forText string
		reason  string
		quiet   bool
	)
	cmd := &cobra.Command{
		Use:   "jit [--for 45m] [--reason TEXT] [--quiet]",
		Short: "The JIT helper: ask for JIT elevated access, wait, count down, remind, and end it early",
		Long: "The JIT helper that the \"Start Hoist JIT Elevated Access\" launcher starts. It asks for JIT mode " +
			"(prompting for a duration and, when the policy wants one, a reason), waits for the approval, then shows the " +
			"time left with reminders in the terminal, as desktop notifications and in the tray, and ends when the session does. " +
			"q or Ctrl-C asks before ending JIT mode early. With --quiet (the desktop autostart) it asks for nothing and " +
			"only follows sessions requested elsewhere.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var forDur time.Duration
			if cmd.Flags().Changed("for") {
				var err error
				if forDur, err = hoist.ParseDuration(forText); err != nil {
					return hoist.Errorf(hoist.EInvalid, "--for: %s", hoist.ErrorMessage(err))
				}
			}
			d := daemon{socketPath(env, *socket)}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if quiet {
				// The desktop session ends: so does the quiet helper.
				sigs := make(chan os.Signal, 1)
				signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
				defer signal.Stop(sigs)
				go func() { <-sigs; cancel() }()
			}
			desktop := jit.OpenDesktop(func() { _ = d.Exit() })
			defer desktop.Close()
			h := &jit.Helper{Daemon: d, Desktop: desktop, In: env.Stdin, Out: env.Stdout, Quiet: quiet, For: forDur, Reason: reason}
			if code := h.Run(ctx); code != 0 {
				return exitStatus{code}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&forText, "for", "", "how long to ask for, like 30m, 2h or 1d (default: the policy's)")
	f.StringVar(&reason, "reason", "", "why you need it, for the approver")
	f.BoolVar(&quiet, "quiet", false, "ask for nothing; follow sessions, remind and show the tray (the desktop autostart)")
	return cmd
}
