//go:build !linux

package platform

import (
	"context"
	"syscall"
	"time"
)

// Cgroups is Linux-only; elsewhere every method fails with ErrNotSupported.
type Cgroups struct{ Root string }

// FindCgroup2 fails: there are no cgroups here.
func FindCgroup2() (string, error) { return "", ErrNotSupported }

// Group is a session's process container.
type Group struct{}

// NewGroup fails with ErrNotSupported.
func (c Cgroups) NewGroup(id string) (*Group, error) { return nil, ErrNotSupported }

// OpenGroup fails with ErrNotSupported.
func (c Cgroups) OpenGroup(id string) (*Group, error) { return nil, ErrNotSupported }

// Dir is empty.
func (g *Group) Dir() string { return "" }

// Pids fails with ErrNotSupported.
func (g *Group) Pids() ([]int, error) { return nil, ErrNotSupported }

// Populated fails with ErrNotSupported.
func (g *Group) Populated() (bool, error) { return false, ErrNotSupported }

// Start fails with ErrNotSupported.
func (g *Group) Start(spec Spec) (*Process, error) { return nil, ErrNotSupported }

// End fails with ErrNotSupported.
func (g *Group) End(ctx context.Context, grace time.Duration) (EndReport, error) {
	return EndReport{}, ErrNotSupported
}

// Process is an elevated process.
type Process struct{}

// Pid is zero.
func (p *Process) Pid() int { return 0 }

// Signal fails with ErrNotSupported.
func (p *Process) Signal(sig syscall.Signal) error { return ErrNotSupported }

// Wait returns 126.
func (p *Process) Wait() int { return 126 }

// SealInheritedFDs does nothing here yet.
func SealInheritedFDs() error { return nil }

// KillMarked does nothing here yet.
func KillMarked(marker string) []int { return nil }
