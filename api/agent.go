package api

import (
	"context"
	"encoding/base64"
	"net/http"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/control"
	"github.com/hoist-jit/hoist/wire"
)

// The agent API, under /agent/v1: enrolment with a token, then everything
// over mutual TLS with the certificate enrolment issued. Its shapes are in
// package wire, which hoistd imports without the server.

type agentKey struct{}

func agentFrom(ctx context.Context) hoist.AgentRecord {
	a, _ := ctx.Value(agentKey{}).(hoist.AgentRecord)
	return a
}

// agentAuthenticated admits a request only with a client certificate that
// the server's CA signed and that names an agent not revoked.
//
// The check runs in withAgent, not here: this closure stays on the stack of
// every parked long poll (see agentEvents), and its frame would otherwise
// hold the agent's record and a request's copy for the poll's whole wait.
func (h *Handler) agentAuthenticated(next handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		r, err := h.withAgent(r)
		if err != nil {
			return err
		}
		return next(w, r)
	}
}

// withAgent returns r carrying the agent its client certificate names, or
// EUnauthorized when there is no verified certificate, or the agent is
// unknown or revoked.
//
//go:noinline
func (h *Handler) withAgent(r *http.Request) (*http.Request, error) {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return nil, hoist.Errorf(hoist.EUnauthorized, "an agent certificate is required")
	}
	leaf := r.TLS.VerifiedChains[0][0]
	a, err := h.svc.Agent(r.Context(), leaf.Subject.CommonName)
	if err != nil {
		return nil, err
	}
	return r.WithContext(context.WithValue(r.Context(), agentKey{}, a)), nil
}

func (h *Handler) enroll(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	var in wire.EnrollBody
	if err := decodeStrict(body, &in); err != nil {
		return err
	}
	csr, err := base64.StdEncoding.DecodeString(in.CSR)
	if err != nil || in.Secret == "" {
		return hoist.Errorf(hoist.EInvalid, "secret and csr (base64 DER) are required")
	}
	enr, err := h.svc.Enroll(r.Context(), in.Secret, csr, in.Facts)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, enr)
	return nil
}

func (h *Handler) checkin(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	var facts wire.AgentFacts
	if err := decodeStrict(body, &facts); err != nil {
		return err
	}
	ans, err := h.svc.Checkin(r.Context(), agentFrom(r.Context()).ID, facts)
	if err != nil {
		return err
	}
	if ans == nil {
		w.WriteHeader(http.StatusNoContent) // the agent holds its latest bundle
		return nil
	}
	writeJSON(w, http.StatusOK, ans)
	return nil
}

func (h *Handler) agentRequest(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	var in wire.AgentRequestBody
	if err := decodeStrict(body, &in); err != nil {
		return err
	}
	var d time.Duration
	if in.Duration != "" {
		if d, err = hoist.ParseDuration(in.Duration); err != nil {
			return err
		}
	}
	var (
		req     hoist.Request
		created bool
	)
	if in.Extends != "" {
		req, created, err = h.svc.AgentExtend(r.Context(), agentFrom(r.Context()), in.User, in.Extends, in.Reason, d)
	} else {
		req, created, err = h.svc.AgentRequestOf(r.Context(), agentFrom(r.Context()), in.User, in.UnixGroups, in.Reason, d)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wire.AgentRequestAnswer{Request: requestView(req), Created: created})
	return nil
}

// agentCancel withdraws the user's waiting request on the calling agent.
func (h *Handler) agentCancel(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	var in wire.AgentCancelBody
	if err := decodeStrict(body, &in); err != nil {
		return err
	}
	req, err := h.svc.AgentCancelRequest(r.Context(), agentFrom(r.Context()), in.User)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wire.AgentRequestAnswer{Request: requestView(req)})
	return nil
}

// agentEvents is the agent's long poll: it parks in control.AgentEvents for
// up to a minute, and tens of thousands of agents each hold one parked poll.
// Its goroutine's stack is what a parked poll costs, so the steps with large
// frames (reading the query, writing the answer) are functions of their own
// that are not inlined and have returned, or not yet begun, while the poll
// waits. The stack then stays within the runtime's smaller start size (and
// the runtime, which starts goroutines at the average size of those it
// scanned, starts every goroutine smaller). BENCHMARKS.md has the figures.
func (h *Handler) agentEvents(w http.ResponseWriter, r *http.Request) error {
	poll, err := readEventPoll(r)
	if err != nil {
		return err
	}
	evs, err := h.svc.AgentEvents(r.Context(), poll.agentID, poll.after, poll.wait)
	if err != nil {
		return err
	}
	writeEvents(w, evs, poll.after)
	return nil
}

// eventPoll is what an agent's long poll asks for.
type eventPoll struct {
	agentID string
	after   int64         // the agent's cursor: events after this number
	wait    time.Duration // how long an empty answer may be held
}

// readEventPoll reads the poll's query (after, wait) and its agent; EInvalid
// names a bad parameter.
//
//go:noinline
func readEventPoll(r *http.Request) (eventPoll, error) {
	q, err := query(r, "after", "wait")
	if err != nil {
		return eventPoll{}, err
	}
	after, err := intParam(q, "after", 0, 1<<62)
	if err != nil {
		return eventPoll{}, err
	}
	waitSeconds, err := intParam(q, "wait", 0, int64(control.MaxEventWait/time.Second))
	if err != nil {
		return eventPoll{}, err
	}
	return eventPoll{agentID: agentFrom(r.Context()).ID, after: after, wait: time.Duration(waitSeconds) * time.Second}, nil
}

// writeEvents answers a poll with evs and the cursor after them (after
// itself when there are none).
//
//go:noinline
func writeEvents(w http.ResponseWriter, evs []hoist.AgentEvent, after int64) {
	ans := wire.EventsAnswer{Events: evs, Cursor: after}
	if ans.Events == nil {
		ans.Events = []hoist.AgentEvent{}
	}
	if len(evs) > 0 {
		ans.Cursor = evs[len(evs)-1].Seq
	}
	writeJSON(w, http.StatusOK, ans)
}

func (h *Handler) agentAudit(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	var in wire.AuditBody
	if err := decodeStrict(body, &in); err != nil {
		return err
	}
	n, err := h.svc.AgentAudit(r.Context(), agentFrom(r.Context()), in.Events)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]int{"stored": n})
	return nil
}

func (h *Handler) agentSessionEnded(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.AgentSessionEnded(r.Context(), agentFrom(r.Context()), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// EnrollTokenBody is defined in package wire, which clients import without the server.
type EnrollTokenBody = wire.EnrollTokenBody

// EnrollTokenAnswer is defined in package wire, which clients import without the server.
type EnrollTokenAnswer = wire.EnrollTokenAnswer

func (h *Handler) createEnrollToken(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	var in EnrollTokenBody
	if err := decodeStrict(body, &in); err != nil {
		return err
	}
	ttl := 24 * time.Hour
	if in.TTL != "" {
		if ttl, err = hoist.ParseDuration(in.TTL); err != nil {
			return err
		}
	}
	if in.Uses == 0 {
		in.Uses = 1
	}
	token, et, err := h.svc.CreateEnrollToken(r.Context(), actorFrom(r.Context()), in.Group, ttl, in.Uses)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, EnrollTokenAnswer{Token: token, Group: et.Group, Uses: et.UsesLeft, ExpiresAt: et.ExpiresAt})
	return nil
}

func (h *Handler) listAgents(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
		return err
	}
	as, err := h.svc.AgentViews(r.Context(), actorFrom(r.Context()))
	if err != nil {
		return err
	}
	if as == nil {
		as = []wire.AgentView{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"agents": as})
	return nil
}

func (h *Handler) revokeAgent(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.RevokeAgent(r.Context(), actorFrom(r.Context()), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// PinBody is defined in package wire, which clients import without the server.
type PinBody = wire.PinBody

// pinAgentName pins the agent's name and answers with the agent as listed.
func (h *Handler) pinAgentName(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	var in PinBody
	if err := decodeStrict(body, &in); err != nil {
		return err
	}
	if _, err := h.svc.PinAgentName(r.Context(), actorFrom(r.Context()), r.PathValue("id"), in.Name); err != nil {
		return err
	}
	return h.writeAgent(w, r, r.PathValue("id"))
}

// unpinAgentName removes the agent's pinned name.
func (h *Handler) unpinAgentName(w http.ResponseWriter, r *http.Request) error {
	if _, err := h.svc.UnpinAgentName(r.Context(), actorFrom(r.Context()), r.PathValue("id")); err != nil {
		return err
	}
	return h.writeAgent(w, r, r.PathValue("id"))
}

// writeAgent answers with agent id as GET /api/v1/agents lists it.
func (h *Handler) writeAgent(w http.ResponseWriter, r *http.Request, id string) error {
	as, err := h.svc.AgentViews(r.Context(), actorFrom(r.Context()))
	if err != nil {
		return err
	}
	for _, a := range as {
		if a.ID == id {
			writeJSON(w, http.StatusOK, a)
			return nil
		}
	}
	return hoist.Errorf(hoist.ENotFound, "no agent %q", id)
}

// flagRequests and flagSessions add to each view what approvers must know
// about the name of the agent that filed it (wire.AgentNameFlags).
func (h *Handler) flagRequests(r *http.Request, views []RequestView) error {
	names, err := h.svc.AgentNames(r.Context(), actorFrom(r.Context()))
	if err != nil {
		return err
	}
	for i, v := range views {
		if n, ok := names[v.AgentID]; ok {
			views[i].AgentNameFlags = wire.NameFlags(v.AgentID, v.Host, n)
		}
	}
	return nil
}

func (h *Handler) flagSessions(r *http.Request, views []SessionView) error {
	names, err := h.svc.AgentNames(r.Context(), actorFrom(r.Context()))
	if err != nil {
		return err
	}
	for i, v := range views {
		if n, ok := names[v.AgentID]; ok {
			views[i].AgentNameFlags = wire.NameFlags(v.AgentID, v.Host, n)
		}
	}
	return nil
}
