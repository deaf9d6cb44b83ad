//go:build unix

package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/creack/pty"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/localapi"
)

func newRun(env Env, socket *string) *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   "run [--reason TEXT] [--] CMD [ARG...]",
		Short: "Run CMD as root while JIT elevated access is active (or a policy allows it)",
		Long: "Run CMD as root. The exit status is CMD's (128+n when signal n ended it); " +
			"126 when hoist refuses, 127 when CMD is not found.",
		Args:                  cobra.MinimumNArgs(1),
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			code, err := runElevated(env, socketPath(env, *socket), args, reason)
			if err != nil {
				var r refusal
				if errors.As(err, &r) {
					fmt.Fprintln(env.Stderr, "hoist:", r.e.Message)
					return exitStatus{max(r.e.Exit, 1)}
				}
				return err
			}
			return exitStatus{code}
		},
	}
	// Everything after CMD is CMD's: "hoist run ls -la" must not parse -la.
	cmd.Flags().SetInterspersed(false)
	cmd.Flags().StringVar(&reason, "reason", "", "the justification a policy asks for, kept in the audit log")
	return cmd
}

// runElevated asks hoistd to run argv and relays until it exits. When stdin
// is a terminal it makes a fresh pseudo-terminal for the program — root
// never gets the user's own terminal — and relays it in raw mode.
func runElevated(env Env, socket string, argv []string, reason string) (int, error) {
	stdin, _ := env.Stdin.(*os.File)
	stdout, _ := env.Stdout.(*os.File)
	stderr, _ := env.Stderr.(*os.File)
	if stdin == nil || stdout == nil || stderr == nil {
		return 1, hoist.Errorf(hoist.EInvalid, "hoist run needs real standard input and output")
	}
	c, err := dial(socket)
	if err != nil {
		return 1, err
	}
	defer c.Close()
	req := localapi.Request{V: localapi.Version, Op: localapi.OpRun, Argv: argv, Term: env.Getenv("TERM"), Reason: reason}
	files := []*os.File{stdin, stdout, stderr}

	var relay *ptyRelay
	if term.IsTerminal(int(stdin.Fd())) {
		relay, err = newPtyRelay(stdin, stdout)
		if err != nil {
			return 1, hoist.Errorf(hoist.EUnavailable, "cannot make a terminal for the program: %v", err)
		}
		defer relay.close()
		req.TTY = true
		files = []*os.File{relay.peer, relay.peer, relay.peer}
	}
	// Catch the signals a user sends hoist from now on, before the program
	// exists: one that came between its start and the reply saying so would
	// otherwise kill this client and leave the program running without it.
	// What is caught before the start is forwarded once the program runs.
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
	defer signal.Stop(sigs)
	if err := localapi.SendRequest(c, req, files...); err != nil {
		return 1, hoist.Errorf(hoist.EUnavailable, "cannot talk to hoistd: %v", err)
	}
	var rep localapi.Reply
	if err := localapi.ReadFrame(c, nil, &rep); err != nil {
		return 1, hoist.Errorf(hoist.EUnavailable, "hoistd closed the connection without an answer")
	}
	if rep.Error != nil {
		return rep.Error.Exit, refusal{rep.Error}
	}
	if rep.Started == nil {
		return 1, hoist.Errorf(hoist.EUnavailable, "hoistd answered out of turn")
	}
	if relay != nil {
		relay.start()
	}

	// Forward the signals a user sends hoist to the program.
	var writeMu sync.Mutex
	go func() {
		for s := range sigs {
			writeMu.Lock()
			_ = localapi.WriteFrame(c, localapi.Request{V: localapi.Version, Op: localapi.OpSignal, Signal: int(s.(syscall.Signal))})
			writeMu.Unlock()
		}
	}()

	for {
		rep = localapi.Reply{}
		if err := localapi.ReadFrame(c, nil, &rep); err != nil {
			return 1, hoist.Errorf(hoist.EUnavailable, "lost hoistd before the program ended")
		}
		if rep.Notice != nil {
			// The terminal may be in raw mode: end the line by hand.
			fmt.Fprintf(stderr, "\r\nhoist: %s\r\n", rep.Notice.Message)
			continue
		}
		if rep.Exited == nil {
			return 1, hoist.Errorf(hoist.EUnavailable, "hoistd answered out of turn")
		}
		break
	}
	if relay != nil {
		relay.drain()
	}
	return rep.Exited.Status, nil
}

// ptyRelay owns the pseudo-terminal of one elevated program.
type ptyRelay struct {
	master, peer *os.File
	in, out      *os.File
	oldState     *term.State
	winch        chan os.Signal
	outDone      chan struct{}
}

func newPtyRelay(in, out *os.File) (*ptyRelay, error) {
	master, peer, err := pty.Open()
	if err != nil {
		return nil, err
	}
	r := &ptyRelay{master: master, peer: peer, in: in, out: out, outDone: make(chan struct{})}
	_ = pty.InheritSize(in, master)
	return r, nil
}

// start puts the user's terminal in raw mode — keys, Ctrl-C included, go to
// the program's terminal, whose line discipline turns them into signals for
// its foreground group — and relays both ways.
func (r *ptyRelay) start() {
	r.peer.Close() // the program has it; keeping it would hide the program's end
	if st, err := term.MakeRaw(int(r.in.Fd())); err == nil {
		r.oldState = st
	}
	r.winch = make(chan os.Signal, 1)
	signal.Notify(r.winch, syscall.SIGWINCH)
	go func() {
		for range r.winch {
			_ = pty.InheritSize(r.in, r.master)
		}
	}()
	go func() { _, _ = io.Copy(r.master, r.in) }()
	go func() {
		_, _ = io.Copy(r.out, r.master) // ends with EIO when the last holder of the terminal closes it
		close(r.outDone)
	}()
}

// drain waits for the program's last output; a background job that keeps
// the terminal open is given a moment, not forever.
func (r *ptyRelay) drain() {
	select {
	case <-r.outDone:
	case <-time.After(200 * time.Millisecond):
	}
}

func (r *ptyRelay) close() {
	if r.winch != nil {
		signal.Stop(r.winch)
		close(r.winch)
	}
	if r.oldState != nil {
		_ = term.Restore(int(r.in.Fd()), r.oldState)
	}
	r.master.Close()
	r.peer.Close()
}
