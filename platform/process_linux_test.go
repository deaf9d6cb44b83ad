package platform_test

import (
	"bufio"
	"context"
	"errors"
	"os"
	"strconv"
	"sync"
	"syscall"
	"testing"

	"github.com/hoist-jit/hoist/platform"
)

// TestSignalAfterWaitSendsNothing: once Wait has returned, the program's
// pid may be handed out again, so Signal must send nothing, even to the
// program's process group, which outlives it here in a background child.
// The child reports the first of SIGUSR1 (what Signal would send) and
// SIGUSR2 (sent to it directly afterwards) it gets: a shell runs pending
// traps in signal order, so a SIGUSR1 sent first is reported first.
func TestSignalAfterWaitSendsNothing(t *testing.T) {
	for kind, tracker := range trackers(t) {
		t.Run(kind, func(t *testing.T) {
			g, err := tracker.NewGroup("ses_signal_after_wait")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _, _ = g.End(context.Background(), 0) })
			child := `trap 'echo USR1; exit' USR1; trap 'echo USR2; exit' USR2; echo $$; while :; do sleep 1 & wait $!; done`
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			devnull, _ := os.OpenFile(os.DevNull, os.O_RDWR, 0)
			defer devnull.Close()
			p, err := g.Start(platform.Spec{Path: "/bin/sh", Argv: []string{"sh", "-c", `sh -c "$0" & exit 0`, child},
				Env: []string{"PATH=/usr/bin:/bin"}, Dir: "/", Stdin: devnull, Stdout: w, Stderr: devnull})
			w.Close()
			if err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(r)
			childPid, err := strconv.Atoi(readLine(t, r, br))
			if err != nil {
				t.Fatalf("the child's pid: %v", err)
			}
			if status := p.Wait(); status != 0 {
				t.Fatalf("the program's status = %d, want 0", status)
			}
			if err := p.Signal(syscall.SIGUSR1); !errors.Is(err, platform.ErrExited) {
				t.Errorf("Signal after Wait = %v, want ErrExited", err)
			}
			if err := syscall.Kill(childPid, syscall.SIGUSR2); err != nil {
				t.Fatal(err)
			}
			if got := readLine(t, r, br); got != "USR2" {
				t.Errorf("the program's group got %s first: Signal after Wait sent a signal", got)
			}
		})
	}
}

// TestSignalAndWaitRace: the relay signals while the program exits and is
// reaped; run under -race. Every Signal either reaches the live program
// or fails with ErrExited, and every Signal after Wait fails.
func TestSignalAndWaitRace(t *testing.T) {
	g, err := testCgroups(t).NewGroup("ses_signal_race")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = g.End(context.Background(), 0) })
	devnull, _ := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	defer devnull.Close()
	for range 100 {
		p, err := g.Start(platform.Spec{Path: "/bin/sh", Argv: []string{"sh", "-c", "exit 3"}, Dir: "/", Stdin: devnull, Stdout: devnull, Stderr: devnull})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		stop := make(chan struct{})
		for range 2 {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					if err := p.Signal(syscall.SIGCONT); err != nil && !errors.Is(err, platform.ErrExited) && !errors.Is(err, syscall.ESRCH) {
						t.Errorf("Signal: %v", err)
						return
					}
				}
			})
		}
		statuses := make(chan int, 2)
		for range 2 {
			wg.Go(func() { statuses <- p.Wait() })
		}
		for range 2 {
			if s := <-statuses; s != 3 {
				t.Errorf("Wait = %d, want 3", s)
			}
		}
		close(stop)
		wg.Wait()
		if err := p.Signal(syscall.SIGCONT); !errors.Is(err, platform.ErrExited) {
			t.Fatalf("Signal after Wait = %v, want ErrExited", err)
		}
	}
}
