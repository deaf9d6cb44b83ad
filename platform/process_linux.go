package platform

import (
	"errors"
	"fmt"
	"os/exec"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// ErrExited is returned by Signal once the process has exited: from then
// on its pid may be handed to another process, so nothing is sent.
var ErrExited = errors.New("the process has exited")

// startProcess starts spec as root with nothing of hoistd's own but what
// spec names. cgroupFD >= 0 clones the child straight into that cgroup.
func startProcess(spec Spec, cgroupFD int) (*Process, error) {
	pidfd := -1
	attr := &syscall.SysProcAttr{
		Setsid:     true,
		Setctty:    spec.TTY,
		Ctty:       0,
		Credential: &syscall.Credential{Uid: 0, Gid: 0, Groups: []uint32{}},
		Pdeathsig:  0,      // elevated programs outlive a crashed hoistd; the restarted one adopts them
		PidFD:      &pidfd, // taken by clone itself, so it names the child from its birth
	}
	if cgroupFD >= 0 {
		attr.UseCgroupFD, attr.CgroupFD = true, cgroupFD
	}
	cmd := &exec.Cmd{
		Path:        spec.Path,
		Args:        spec.Argv,
		Env:         spec.Env,
		Dir:         spec.Dir,
		Stdin:       spec.Stdin,
		Stdout:      spec.Stdout,
		Stderr:      spec.Stderr,
		SysProcAttr: attr,
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	if pidfd < 0 {
		// A kernel without CLONE_PIDFD (before 5.2). The child cannot have
		// been reaped yet, only we reap it, so its pid still names it.
		fd, err := unix.PidfdOpen(cmd.Process.Pid, 0)
		if err != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			return nil, fmt.Errorf("no pidfd for the new process: %w", err)
		}
		pidfd = fd
	}
	return &Process{cmd: cmd, pidfd: pidfd}, nil
}

// Process is an elevated process started by a Group. Its signals never
// reach another process: Signal sends only until Wait has seen the exit,
// and Wait reaps (frees the pid) only after that.
type Process struct {
	cmd   *exec.Cmd
	pidfd int // from the spawn; closed by Wait

	mu     sync.Mutex // Signal against the end of signalling
	exited bool

	waitOnce sync.Once
	status   int
}

// Pid is the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Signal sends sig to the process's group (it leads a session of its own,
// so its pid is its group's id), which is what a terminal would do. Once
// the process has exited it sends nothing and returns ErrExited.
//
// The group is signalled by kill(-pid), which a pidfd cannot aim, and that
// is safe here: until Wait reaps it, the exited leader is a zombie whose
// pid, and so the group id, the kernel cannot hand out again; Wait marks
// the process exited (under mu) before it reaps.
func (p *Process) Signal(sig syscall.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exited {
		return ErrExited
	}
	return unix.Kill(-p.cmd.Process.Pid, sig)
}

// Wait waits for the process and returns its exit status the way a shell
// reports it: the exit code, or 128+n when signal n ended it. It may be
// called more than once, and from several goroutines; all get the status.
func (p *Process) Wait() int {
	p.waitOnce.Do(func() { p.status = p.wait() })
	return p.status
}

// wait sees the exit without reaping, stops Signal, then reaps.
func (p *Process) wait() int {
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PIDFD, p.pidfd, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if !errors.Is(err, unix.EINTR) {
			break // any other error (none is expected) stops Signal early, the safe side; the reap still waits
		}
	}
	p.mu.Lock()
	p.exited = true
	p.mu.Unlock()
	err := p.cmd.Wait()
	unix.Close(p.pidfd)
	state := p.cmd.ProcessState
	if state == nil {
		if err != nil {
			return 126
		}
		return 0
	}
	if ws, ok := state.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return state.ExitCode()
}
