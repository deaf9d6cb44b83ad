package cli

import (
	"context"
	"fmt"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/hoist-jit/hoist"
)

func newSessionRecording(env Env) *cobra.Command {
	var (
		index int
		list  bool
	)
	cmd := &cobra.Command{
		Use:   "recording SESSION-ID [--index N] [--list]",
		Short: "Write a session's terminal recording (asciicast v2) to stdout",
		Long: "Write a session's terminal recording, an asciicast v2 file, to stdout (play it with asciinema play). " +
			"A session with several recordings (one per hoist run on a terminal) has them numbered from 1, oldest first: " +
			"--index chooses one (default 1, the first; stderr says how many there are), --list lists them. " +
			"Several recordings are never concatenated: the result would not be one valid asciicast file.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := loggedIn(env)
			if err != nil {
				return err
			}
			ctx, cancel := timeout()
			recs, err := c.Recordings(ctx, args[0])
			cancel()
			if err != nil {
				return err
			}
			if list {
				if len(recs) == 0 {
					fmt.Fprintln(env.Stdout, "no recordings")
				}
				for i, r := range recs {
					fmt.Fprintf(env.Stdout, "%d\t%s\t%s\t%d bytes\t%s\n", i+1, r.ID, r.Started.Local().Format("2006-01-02 15:04:05"), r.Size, clean(fmt.Sprint(r.Argv)))
				}
				return nil
			}
			switch {
			case len(recs) == 0:
				return hoist.Errorf(hoist.ENotFound, "session %s has no terminal recording", args[0])
			case index < 1 || index > len(recs):
				return hoist.Errorf(hoist.EInvalid, "--index %d: session %s has %s, numbered 1 to %d", index, args[0], hoist.Plural(len(recs), "recording"), len(recs))
			}
			if len(recs) > 1 && !cmd.Flags().Changed("index") {
				fmt.Fprintf(env.Stderr, "hoist: session %s has %d recordings; writing the first (--index N for another, --list to see them)\n", args[0], len(recs))
			}
			dl, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return c.Recording(dl, recs[index-1].ID, env.Stdout)
		},
	}
	cmd.Flags().IntVar(&index, "index", 1, "which recording, from 1 (oldest first)")
	cmd.Flags().BoolVar(&list, "list", false, "list the session's recordings instead")
	return cmd
}
