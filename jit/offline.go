package jit

import (
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/localapi"
)

// EmergencyStarted is the start message of a session an emergency code
// started: critical, shown until dismissed, and plain that the use is
// reported.
func EmergencyStarted(m Message) Message {
	m.Summary = "JIT elevated access started with an EMERGENCY CODE"
	m.Body += " This use of an emergency code is recorded and reported to your administrators."
	m.Urgent = true
	return m
}

// Offliner is a Daemon that makes offline challenges.
type Offliner interface {
	Offline(d time.Duration, reason string) (localapi.Challenge, error)
}

// offerOffline, when the server cannot be reached, shows an offline
// challenge for the same ask and says how to use it.
func (h *Helper) offerOffline(d time.Duration, reason string) {
	o, ok := h.Daemon.(Offliner)
	if !ok {
		return
	}
	c, err := o.Offline(d, reason)
	if err != nil {
		h.say("Offline approval is not available either: %s", hoist.ErrorMessage(err))
		return
	}
	h.say("The server cannot be reached. For offline approval, read this challenge to an approver (valid until %s):", c.ExpiresAt)
	h.say("    %s", c.Code)
	h.say("then type their response: hoist request --response CODE")
}
