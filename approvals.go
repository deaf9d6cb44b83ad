package hoist

import (
	"fmt"
	"strings"
	"time"
)

// RequestKind says what a request asks for.
type RequestKind string

const (
	RequestKindJIT       RequestKind = "jit"       // a new JIT session
	RequestKindExtension RequestKind = "extension" // more time on the active session
)

// MaxApprovalsRequired bounds a policy's approvals_required.
const MaxApprovalsRequired = 10

// ApprovalMark is one approver's approval of a request that needs several.
type ApprovalMark struct {
	By       string        `json:"by"`
	At       time.Time     `json:"at"`
	Duration time.Duration `json:"duration"`
	OneTime  bool          `json:"one_time,omitempty"`
}

// KindOrJIT returns r's kind, jit for a record stored before kinds.
func (r Request) KindOrJIT() RequestKind {
	if r.Kind == "" {
		return RequestKindJIT
	}
	return r.Kind
}

// Required returns how many distinct approvers r needs: at least one.
func (r Request) Required() int { return max(r.ApprovalsRequired, 1) }

// ApprovalsNeeded says how far r is, as people read it: "1 of 2 approvals".
func (r Request) ApprovalsNeeded() string {
	n := len(r.Approvals)
	if r.State == RequestApproved {
		n = r.Required()
	}
	word := "approvals"
	if r.Required() == 1 {
		word = "approval"
	}
	return fmt.Sprintf("%d of %d %s", n, r.Required(), word)
}

// Approvers names who approved r so far, in order ("carol, dave").
func (r Request) Approvers() string { return approvers(r.Approvals) }

func approvers(ms []ApprovalMark) string {
	names := make([]string, len(ms))
	for i, m := range ms {
		names[i] = m.By
	}
	return strings.Join(names, ", ")
}

// shortest returns the approval with the shortest window: of several
// approvers, each agreed to at least that much.
func shortest(ms []ApprovalMark) ApprovalMark {
	best := ms[0]
	for _, m := range ms[1:] {
		if m.Duration < best.Duration {
			best = m
		}
	}
	return best
}

func joinNote(a, b string) string {
	if b == "" {
		return a
	}
	return a + ": " + b
}
