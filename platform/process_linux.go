package platform

import (
	"os/exec"
	"syscall"
)

// startProcess starts spec as root with nothing of hoistd's own but what
// spec names. cgroupFD >= 0 clones the child straight into that cgroup.
func startProcess(spec Spec, cgroupFD int) (*Process, error) {
	attr := &syscall.SysProcAttr{
		Setsid:     true,
		Setctty:    spec.TTY,
		Ctty:       0,
		Credential: &syscall.Credential{Uid: 0, Gid: 0, Groups: []uint32{}},
		Pdeathsig:  0, // elevated programs outlive a crashed hoistd; the restarted one adopts them
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
	return &Process{cmd: cmd}, nil
}

// Process is an elevated process started by a Group.
type Process struct {
	cmd *exec.Cmd
}

// Pid is the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Signal sends sig to the process's group (it leads a session of its own),
// which is what a terminal would do.
func (p *Process) Signal(sig syscall.Signal) error {
	return syscall.Kill(-p.cmd.Process.Pid, sig)
}

// Wait waits for the process and returns its exit status the way a shell
// reports it: the exit code, or 128+n when signal n ended it.
func (p *Process) Wait() int {
	err := p.cmd.Wait()
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
