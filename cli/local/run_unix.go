//go:build unix

package local

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/creack/pty"
	"golang.org/x/term"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/localapi"
)

var runCommand = Command{
	Name:  "run",
	Use:   "run [--reason TEXT] [--] CMD [ARG...]",
	Short: "Run CMD as root while JIT elevated access is active (or a policy allows it)",
	Long: "Run CMD as root. The exit status is CMD's (128+n when signal n ended it); " +
		"126 when hoist refuses, 127 when CMD is not found.",
	DisableFlagsInUseLine: true,
	Program:               true,
	Flags:                 []Flag{{Name: "reason", Usage: "the justification a policy asks for, kept in the audit log"}},
	Run: func(env Env, inv Invocation) error {
		code, err := runElevated(env, inv.socket(env), inv.Args, inv.String("reason"))
		if err != nil {
			return err // a refusal exits with hoistd's status (see Exit)
		}
		return ExitStatus{code}
	},
}

// runElevated asks hoistd to run argv and relays until it exits. The
// program's stdin, stdout and stderr are made from hoist's own (see
// newStdio): root never gets the user's own terminal.
func runElevated(env Env, socket string, argv []string, reason string) (int, error) {
	stdin, _ := env.Stdin.(*os.File)
	stdout, _ := env.Stdout.(*os.File)
	stderr, _ := env.Stderr.(*os.File)
	if stdin == nil || stdout == nil || stderr == nil {
		return 1, hoist.Errorf(hoist.EInvalid, "hoist run needs real standard input and output")
	}
	req := localapi.Request{V: localapi.Version, Op: localapi.OpRun, Argv: argv, Reason: reason}
	if t := env.Getenv("TERM"); localapi.ValidTerm(t) {
		req.Term = t // hoistd refuses a malformed one; the program goes without, as before
	}
	// Bounded here as hoistd bounds it, so the user hears why before
	// anything is sent.
	if err := req.Check(); err != nil {
		return 1, hoist.Errorf(hoist.EInvalid, "%v", err)
	}
	// Before dialling: a closed stdin must not look like hoistd's socket.
	std, err := newStdio([3]*os.File{stdin, stdout, stderr})
	if err != nil {
		return 1, hoist.Errorf(hoist.EUnavailable, "cannot make a terminal for the program: %v", err)
	}
	defer std.close()
	req.TTY = std.pty != nil
	c, err := dial(socket)
	if err != nil {
		return 1, err
	}
	defer c.Close()

	// Catch the signals a user sends hoist from now on, before the program
	// exists: one that came between its start and the reply saying so would
	// otherwise kill this client and leave the program running without it.
	// What is caught before the start is forwarded once the program runs.
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
	defer signal.Stop(sigs)
	if err := localapi.SendRequest(c, req, std.files[:]...); err != nil {
		if errors.Is(err, localapi.ErrInvalid) {
			return 1, hoist.Errorf(hoist.EInvalid, "the command line is too long for hoistd: %v", err)
		}
		return 1, hoist.Errorf(hoist.EUnavailable, "cannot talk to hoistd: %v", err)
	}
	// hoistd has the program's ends now; holding them too would hide the
	// program's end from the relays.
	std.sent()
	var rep localapi.Reply
	if err := localapi.ReadFrame(c, nil, &rep); err != nil {
		return 1, hoist.Errorf(hoist.EUnavailable, "hoistd closed the connection without an answer")
	}
	if rep.Error != nil {
		return rep.Error.Exit, refused(rep.Error)
	}
	if rep.Started == nil {
		return 1, hoist.Errorf(hoist.EUnavailable, "hoistd answered out of turn")
	}
	// Forward the signals a user sends hoist to the program, and, when
	// hoistd records the terminal (it owns the program's then), the size of
	// the user's terminal when it changes.
	var writeMu sync.Mutex
	if rep.Started.Recording && std.pty != nil {
		std.pty.resized = func(cols, rows int) {
			writeMu.Lock()
			defer writeMu.Unlock()
			_ = localapi.WriteFrame(c, localapi.Request{V: localapi.Version, Op: localapi.OpResize, Rows: rows, Cols: cols})
		}
	}
	std.start()

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
	std.drain()
	return rep.Exited.Status, nil
}

// stdio is what the program gets as stdin, stdout and stderr, made from
// hoist's own the way sudo makes them:
//
//   - When any of the three is a terminal, the program gets a fresh
//     pseudo-terminal in place of each that is (one for all of them), and
//     hoist relays it to the user's terminal. Keys are relayed, in raw
//     mode, only when stdin is the terminal; then the pseudo-terminal is
//     also the program's controlling terminal. When stdin is redirected
//     ("hoist run cmd </dev/null", "echo x | hoist run cat") the program
//     reads it as it is, and its terminal only shows its output: nothing
//     types into it, and Ctrl-C reaches the program through hoist, which
//     forwards the signals it gets.
//   - A descriptor hoistd would refuse (a socket, as Node.js, socat or
//     systemd give their children; a device other than /dev/null) is
//     replaced by a pipe that hoist relays.
//   - The rest (files, pipes, /dev/null) is passed as it is, so
//     "hoist run cmd >file" writes the file.
//
// A controlling terminal that none of the three is (all redirected) is not
// replaced: hoistd starts the program in a session of its own, so it never
// has hoist's, and a pseudo-terminal that is none of the three could not
// become its controlling terminal.
type stdio struct {
	files [3]*os.File // what hoistd gets
	mine  []*os.File  // hoist's copies of ends it made for the program
	pty   *ptyRelay
	pipes []*pipeRelay
}

func newStdio(std [3]*os.File) (*stdio, error) {
	s := &stdio{}
	var terminal [3]bool
	for i, f := range std {
		terminal[i] = term.IsTerminal(int(f.Fd()))
	}
	if t := firstTerminal(std, terminal); t != nil {
		var keys *os.File
		if terminal[0] {
			keys = std[0]
		}
		// Where the program's terminal shows: the user's terminal among
		// stdout and stderr, else the one stdin is.
		out := t
		if !terminal[1] && !terminal[2] {
			out = std[0]
		}
		r, err := newPtyRelay(keys, t, out)
		if err != nil {
			return nil, err
		}
		s.pty = r
		s.mine = append(s.mine, r.peer)
	}
	for i, f := range std {
		switch {
		case terminal[i]:
			s.files[i] = s.pty.peer
		case passable(f):
			s.files[i] = f
		case i == 2 && s.files[1] != nil && !terminal[1] && !passable(std[1]) && sameFile(std[1], std[2]):
			s.files[2] = s.files[1] // 2>&1: one pipe keeps the order of what is written
		default:
			p, err := newPipeRelay(f, i == 0)
			if err != nil {
				s.close()
				return nil, err
			}
			s.pipes = append(s.pipes, p)
			s.files[i] = p.theirs
			s.mine = append(s.mine, p.theirs)
		}
	}
	return s, nil
}

// firstTerminal is the user's terminal whose size the program's follows:
// stdout's if it is one, else stderr's, else stdin's.
func firstTerminal(std [3]*os.File, terminal [3]bool) *os.File {
	for _, i := range []int{1, 2, 0} {
		if terminal[i] {
			return std[i]
		}
	}
	return nil
}

// passable reports whether hoistd takes f as it is.
func passable(f *os.File) bool {
	k, err := localapi.Classify(f)
	return err == nil && (k == localapi.KindNull || k == localapi.KindPipe || k == localapi.KindFile)
}

func sameFile(a, b *os.File) bool {
	sa, err1 := a.Stat()
	sb, err2 := b.Stat()
	return err1 == nil && err2 == nil && os.SameFile(sa, sb)
}

// sent closes hoist's copies of the program's ends, once hoistd has its
// own.
func (s *stdio) sent() {
	for _, f := range s.mine {
		f.Close()
	}
	s.mine = nil
}

// start relays once the program runs.
func (s *stdio) start() {
	if s.pty != nil {
		s.pty.start()
	}
	for _, p := range s.pipes {
		p.start()
	}
}

// drain waits for the program's last output.
func (s *stdio) drain() {
	if s.pty != nil {
		s.pty.drain()
	}
	for _, p := range s.pipes {
		p.drain()
	}
}

func (s *stdio) close() {
	s.sent()
	if s.pty != nil {
		s.pty.close()
	}
	for _, p := range s.pipes {
		p.close()
	}
}

// ptyRelay owns the pseudo-terminal of one elevated program.
type ptyRelay struct {
	master, peer *os.File
	// keys is the user's terminal when it is stdin: read in raw mode and
	// relayed; nil when stdin is redirected.
	keys *os.File
	// size is the user's terminal whose size the program's follows; out is
	// where the program's terminal shows.
	size, out *os.File
	oldState  *term.State
	winch     chan os.Signal
	outDone   chan struct{}
	// resized, when set, tells hoistd the new size (it records the
	// terminal and owns the program's).
	resized func(cols, rows int)
}

func newPtyRelay(keys, size, out *os.File) (*ptyRelay, error) {
	master, peer, err := pty.Open()
	if err != nil {
		return nil, err
	}
	r := &ptyRelay{master: master, peer: peer, keys: keys, size: size, out: out, outDone: make(chan struct{})}
	_ = pty.InheritSize(size, master)
	return r, nil
}

// start relays both ways. With keys, the user's terminal goes to raw mode
// — keys, Ctrl-C included, go to the program's terminal, whose line
// discipline turns them into signals for its foreground group.
func (r *ptyRelay) start() {
	r.winch = make(chan os.Signal, 1)
	signal.Notify(r.winch, syscall.SIGWINCH)
	go func() {
		for range r.winch {
			_ = pty.InheritSize(r.size, r.master)
			if r.resized == nil {
				continue
			}
			if rows, cols, err := pty.Getsize(r.size); err == nil && rows > 0 && cols > 0 &&
				rows <= localapi.MaxWinSize && cols <= localapi.MaxWinSize {
				r.resized(cols, rows)
			}
		}
	}()
	if r.keys != nil {
		if st, err := term.MakeRaw(int(r.keys.Fd())); err == nil {
			r.oldState = st
		}
		go func() { _, _ = io.Copy(r.master, r.keys) }()
	}
	go func() {
		// A failed write must not stop the reading: the program would
		// block on a full terminal.
		_, _ = io.Copy(keepWriting{r.out}, r.master) // ends with EIO when the last holder of the terminal closes it
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
		_ = term.Restore(int(r.keys.Fd()), r.oldState)
	}
	r.master.Close()
	r.peer.Close()
}

// keepWriting writes to w and forgets its errors.
type keepWriting struct{ w io.Writer }

func (k keepWriting) Write(p []byte) (int, error) {
	_, _ = k.w.Write(p)
	return len(p), nil
}

// quiet is how long a pipe from the program stays open for more output
// once the program has exited: a background job that keeps it open gets a
// moment, not forever; one that goes on writing keeps hoist relaying, as a
// reader at the end of a shell pipeline would.
const quiet = 200 * time.Millisecond

// pipeRelay stands in for one of hoist's descriptors that hoistd would
// refuse: the program gets one end of a pipe, hoist copies between the
// other end and its own descriptor.
type pipeRelay struct {
	caller *os.File // hoist's own stdin, stdout or stderr
	theirs *os.File // the program's end
	ours   *os.File // hoist's end
	input  bool
	// draining is set once the program has exited; each read then allows
	// quiet for the next.
	draining atomic.Bool
	done     chan struct{}
}

func newPipeRelay(caller *os.File, input bool) (*pipeRelay, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	p := &pipeRelay{caller: caller, input: input, done: make(chan struct{})}
	p.theirs, p.ours = w, r
	if input {
		p.theirs, p.ours = r, w
	}
	return p, nil
}

func (p *pipeRelay) start() {
	if p.input {
		go func() {
			_, _ = io.Copy(p.ours, p.caller)
			p.ours.Close() // the program reads the end of its input
			close(p.done)
		}()
		return
	}
	go func() {
		buf := make([]byte, 32<<10)
		for {
			n, err := p.ours.Read(buf)
			if n > 0 {
				if p.draining.Load() {
					_ = p.ours.SetReadDeadline(time.Now().Add(quiet))
				}
				_, _ = p.caller.Write(buf[:n])
			}
			if err != nil {
				break
			}
		}
		close(p.done)
	}()
}

// drain waits for the program's last output.
func (p *pipeRelay) drain() {
	if p.input {
		return
	}
	p.draining.Store(true)
	_ = p.ours.SetReadDeadline(time.Now().Add(quiet))
	<-p.done
}

func (p *pipeRelay) close() {
	p.ours.Close()
	p.theirs.Close()
}
