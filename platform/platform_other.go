//go:build !linux

package platform

import (
	"context"
	"errors"
	"syscall"
)

// NewTracker fails: no tracker is written for this system yet (Windows:
// Job Objects).
func NewTracker(kind, cgroupRoot string) (Tracker, error) { return nil, ErrNotSupported }

// FindCgroup2 fails: there are no cgroups here.
func FindCgroup2() (string, error) { return "", ErrNotSupported }

// Process is an elevated process.
type Process struct{}

// Pid is zero.
func (p *Process) Pid() int { return 0 }

// ErrExited is returned by Signal once the process has exited.
var ErrExited = errors.New("the process has exited")

// Signal fails with ErrNotSupported.
func (p *Process) Signal(sig syscall.Signal) error { return ErrNotSupported }

// Wait returns 126.
func (p *Process) Wait() int { return 126 }

// SealInheritedFDs does nothing here yet.
func SealInheritedFDs() error { return nil }

// KillMarked fails with ErrNotSupported.
func KillMarked(ctx context.Context, marker string) ([]int, error) { return nil, ErrNotSupported }

// KillElevations fails with ErrNotSupported.
func KillElevations(ctx context.Context, uid int, exes []string) ([]int, error) {
	return nil, ErrNotSupported
}

// NewExecWatcher fails: no exec source is written for this system yet.
func NewExecWatcher() (ExecWatcher, error) { return nil, ErrNotSupported }
