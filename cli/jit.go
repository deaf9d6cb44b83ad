package cli

import (
	"context"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/cli/local"
	"github.com/hoist-jit/hoist/jit"
	"github.com/hoist-jit/hoist/localapi"
)

var errOutOfTurn = hoist.Errorf(hoist.EUnavailable, "hoistd answered out of turn")

// daemon is hoistd's socket as the JIT helper uses it.
type daemon struct{ socket string }

func (d daemon) Status() (localapi.Status, error) {
	rep, err := local.Exchange(d.socket, localapi.Request{Op: localapi.OpStatus, Helper: true})
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
	_, err := local.Exchange(d.socket, req)
	return err
}

func (d daemon) Extend(dur time.Duration, reason string) (localapi.Status, error) {
	rep, err := local.Exchange(d.socket, localapi.Request{Op: localapi.OpExtend, Duration: dur.String(), Reason: reason})
	if err != nil {
		return localapi.Status{}, err
	}
	if rep.Status == nil {
		return localapi.Status{}, errOutOfTurn
	}
	return *rep.Status, nil
}

// Offline asks hoistd for an offline challenge (jit.Offliner).
func (d daemon) Offline(dur time.Duration, reason string) (localapi.Challenge, error) {
	req := localapi.Request{Op: localapi.OpOffline, Reason: reason}
	if dur > 0 {
		req.Duration = dur.String()
	}
	rep, err := local.Exchange(d.socket, req)
	if err != nil {
		return localapi.Challenge{}, err
	}
	if rep.Challenge == nil {
		return localapi.Challenge{}, errOutOfTurn
	}
	return *rep.Challenge, nil
}

func (d daemon) Exit() error {
	_, err := local.Exchange(d.socket, localapi.Request{Op: localapi.OpExit})
	return err
}

func newJIT(env Env) *cobra.Command {
	var (
		socket   string
		forText  string
		reason   string
		quiet    bool
		launcher bool
	)
	cmd := &cobra.Command{
		Use:   "jit [--for 45m] [--reason TEXT] [--quiet]",
		Short: local.JITShort,
		Long: "The JIT helper that the \"Start Hoist JIT Elevated Access\" launcher starts. It asks for JIT mode " +
			"(prompting for a duration and, when the policy wants one, a reason), waits for the approval, then shows the " +
			"time left with reminders in the terminal, as desktop notifications and in the tray, and ends when the session does. " +
			"+ (and the tray's Ask for more time) asks for more time on the session; " +
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
			d := daemon{local.SocketPath(env, socket)}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if quiet {
				// The desktop session ends: so does the quiet helper.
				sigs := make(chan os.Signal, 1)
				signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
				defer signal.Stop(sigs)
				go func() { <-sigs; cancel() }()
			}
			// Windows only where there is a display to show them on.
			var dialog *jit.Dialog
			if env.Getenv("DISPLAY") != "" || env.Getenv("WAYLAND_DISPLAY") != "" {
				dialog = jit.FindDialog(exec.LookPath)
			}
			in := env.Stdin
			if launcher {
				front, err := launcherFront(cmd, socket, dialog)
				if front.Terminal != nil || err != nil {
					return err
				}
				in = strings.NewReader("") // nobody types here: the windows ask
			}
			desktop := jit.OpenDesktop(func() { _ = d.Exit() }, dialog)
			defer desktop.Close()
			h := &jit.Helper{Daemon: d, Desktop: desktop, In: in, Out: env.Stdout, Quiet: quiet, For: forDur, Reason: reason}
			if launcher {
				h.Dialog = dialog
			}
			if code := h.Run(ctx); code != 0 {
				return exitStatus{Code: code}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&forText, "for", "", "how long to ask for, like 30m, 2h or 1d (default: the policy's)")
	f.StringVar(&reason, "reason", "", "why you need it, for the approver")
	f.BoolVar(&quiet, "quiet", false, "ask for nothing; follow sessions, remind and show the tray (the desktop autostart)")
	f.StringVar(&socket, local.SocketFlag.Name, "", local.SocketFlag.Usage)
	f.BoolVar(&launcher, "launcher", false, "as the desktop launcher: open a terminal for the helper, or ask in windows (zenity, kdialog) where there is none")
	return cmd
}

// launcherFront opens a terminal emulator running this helper when one is
// installed (the returned Front has Terminal set; the helper then runs
// there). Without one it returns the Front of dialog windows, or an error
// when there is neither.
func launcherFront(cmd *cobra.Command, socket string, dialog *jit.Dialog) (jit.Front, error) {
	self, err := os.Executable()
	if err != nil {
		self = "hoist"
	}
	argv := []string{self, "jit"}
	if socket != "" {
		argv = append(argv, "--socket="+socket)
	}
	cmd.Flags().Visit(func(f *pflag.Flag) {
		if f.Name == "for" || f.Name == "reason" {
			argv = append(argv, "--"+f.Name+"="+f.Value.String())
		}
	})
	front := jit.ChooseFront(exec.LookPath, argv)
	switch {
	case front.Terminal != nil:
		term := exec.Command(front.Terminal[0], front.Terminal[1:]...)
		term.Stdout, term.Stderr = cmd.OutOrStdout(), cmd.ErrOrStderr()
		if err := term.Run(); err != nil {
			return front, hoist.Errorf(hoist.EUnavailable, "cannot open a terminal (%s): %v", front.Terminal[0], err)
		}
		return front, nil
	case dialog != nil:
		return jit.Front{Dialog: dialog}, nil
	}
	return front, hoist.Errorf(hoist.EUnavailable, "no terminal emulator and no dialog program (zenity or kdialog) found: run \"hoist jit\" in a terminal")
}
