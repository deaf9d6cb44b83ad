package api

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/control"
	"github.com/hoist-jit/hoist/wire"
)

func (h *Handler) healthz(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

func (h *Handler) readyz(w http.ResponseWriter, r *http.Request) error {
	if h.store == nil {
		return hoist.Errorf(hoist.EUnavailable, "no store is configured")
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := h.store.Ping(ctx); err != nil {
		return err
	}
	if problem := h.svcTampered(); problem != "" {
		return hoist.Errorf(hoist.EUnavailable, "audit log tampered: %s", problem)
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	return nil
}

func (h *Handler) openapi(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	_, err := w.Write(openAPI)
	return err
}

// LoginAnswer is defined in package wire, which clients import without the server.
type LoginAnswer = wire.LoginAnswer

func (h *Handler) login(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	in, err := ParseLogin(body)
	if err != nil {
		return err
	}
	res, err := h.svc.LoginWithDevice(r.Context(), in.User, in.Password, remoteIP(r), in.Device)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, LoginAnswer{Token: res.Token, ExpiresAt: res.Expires, User: userView(res.Admin), Device: res.Device})
	return nil
}

func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (h *Handler) logout(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.Logout(r.Context(), actorFrom(r.Context()), bearer(r)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) me(w http.ResponseWriter, r *http.Request) error {
	a := actorFrom(r.Context())
	writeJSON(w, http.StatusOK, map[string]any{"name": a.Name, "role": a.Role})
	return nil
}

func (h *Handler) settings(w http.ResponseWriter, r *http.Request) error {
	s := h.svc.Settings()
	writeJSON(w, http.StatusOK, SettingsView{
		OneTimeDuration: hoist.FormatDuration(s.OneTimeDuration), MaxDuration: hoist.FormatDuration(s.MaxDuration),
		PendingTTL: hoist.FormatDuration(s.PendingTTL), ReasonRequired: s.ReasonRequired, ReasonPattern: s.ReasonPattern,
	})
	return nil
}

// query reads the allowed query parameters; any other is refused, so that a
// misspelt filter never silently lists everything.
func query(r *http.Request, allowed ...string) (url.Values, error) {
	q := r.URL.Query()
	for k := range q {
		ok := false
		for _, a := range allowed {
			ok = ok || k == a
		}
		if !ok {
			return nil, hoist.Errorf(hoist.EInvalid, "unknown query parameter %q", k)
		}
		if len(q[k]) > 1 {
			return nil, hoist.Errorf(hoist.EInvalid, "query parameter %q given more than once", k)
		}
	}
	return q, nil
}

func intParam(q url.Values, name string, min, max int64) (int64, error) {
	s := q.Get(name)
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < min || n > max {
		return 0, hoist.Errorf(hoist.EInvalid, "%s must be a whole number from %d to %d", name, min, max)
	}
	return n, nil
}

func textParam(q url.Values, name string) (string, error) {
	s := q.Get(name)
	if len(s) > 256 {
		return "", hoist.Errorf(hoist.EInvalid, "%s is longer than 256 bytes", name)
	}
	if !hoist.Printable(s) {
		return "", hoist.Errorf(hoist.EInvalid, "%s holds control or invalid characters", name)
	}
	return s, nil
}

func (h *Handler) listRequests(w http.ResponseWriter, r *http.Request) error {
	lp, err := parseList(r, "pending, approved, denied, cancelled or expired",
		hoist.RequestPending, hoist.RequestApproved, hoist.RequestDenied, hoist.RequestCancelled, hoist.RequestExpired)
	if err != nil {
		return err
	}
	f := hoist.RequestFilter{State: hoist.RequestState(lp.state), User: lp.user, Host: lp.host, Limit: lp.limit}
	rs, err := h.svc.Requests(r.Context(), actorFrom(r.Context()), f)
	if err != nil {
		return err
	}
	views := make([]RequestView, 0, len(rs))
	for _, req := range rs {
		views = append(views, requestView(req))
	}
	if err := h.withAccounts(r, views); err != nil {
		return err
	}
	if err := h.flagRequests(r, views); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"requests": views})
	return nil
}

// withAccounts sets each view's requester_account: the console account its
// user belongs to, when there is one.
func (h *Handler) withAccounts(r *http.Request, views []RequestView) error {
	users := make([]string, 0, len(views))
	for _, v := range views {
		users = append(users, v.User)
	}
	accounts, err := h.svc.RequesterAccounts(r.Context(), actorFrom(r.Context()), users)
	if err != nil {
		return err
	}
	for i := range views {
		views[i].RequesterAccount = accounts[views[i].User]
	}
	return nil
}

// listParams are the filters the request and session lists share.
type listParams struct {
	state, user, host string
	limit             int
}

// parseList reads state (one of states, described by help), user, host and
// limit, refusing anything else.
func parseList[S ~string](r *http.Request, help string, states ...S) (listParams, error) {
	var lp listParams
	q, err := query(r, "state", "user", "host", "limit")
	if err != nil {
		return lp, err
	}
	if lp.state = q.Get("state"); lp.state != "" {
		known := false
		for _, st := range states {
			known = known || string(st) == lp.state
		}
		if !known {
			return lp, hoist.Errorf(hoist.EInvalid, "state must be %s", help)
		}
	}
	limit, err := intParam(q, "limit", 1, hoist.MaxListLimit)
	if err != nil {
		return lp, err
	}
	lp.limit = int(limit)
	if lp.user, err = textParam(q, "user"); err != nil {
		return lp, err
	}
	lp.host, err = textParam(q, "host")
	return lp, err
}

func (h *Handler) getRequest(w http.ResponseWriter, r *http.Request) error {
	req, err := h.svc.Request(r.Context(), actorFrom(r.Context()), r.PathValue("id"))
	if err != nil {
		return err
	}
	views := []RequestView{requestView(req)}
	if err := h.withAccounts(r, views); err != nil {
		return err
	}
	if err := h.flagRequests(r, views); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, views[0])
	return nil
}

func (h *Handler) approve(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	in, err := ParseApprove(body)
	if err != nil {
		return err
	}
	results, err := h.svc.Approve(r.Context(), actorFrom(r.Context()), in.IDs, in.Duration, in.Reason)
	return h.writeResults(w, results, err, "approved")
}

func (h *Handler) deny(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	in, err := ParseBatch(body)
	if err != nil {
		return err
	}
	results, err := h.svc.Deny(r.Context(), actorFrom(r.Context()), in.IDs, in.Reason)
	return h.writeResults(w, results, err, "denied")
}

func (h *Handler) revoke(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	in, err := ParseBatch(body)
	if err != nil {
		return err
	}
	results, err := h.svc.Revoke(r.Context(), actorFrom(r.Context()), in.IDs, in.Reason)
	return h.writeResults(w, results, err, "revoked")
}

// writeResults answers a batch: 200 with one result per id, each saying
// whether it succeeded, so that "Approve Selected" reports every row.
func (h *Handler) writeResults(w http.ResponseWriter, results []control.Result, err error, outcome string) error {
	if err != nil {
		return err
	}
	now := h.clock()
	views := make([]ResultView, 0, len(results))
	for _, res := range results {
		v := ResultView{ID: res.ID, OK: res.OK, Code: res.Code, Error: res.Error}
		if res.Request != nil {
			rv := requestView(*res.Request)
			v.Request = &rv
		}
		if res.Session != nil {
			sv := sessionView(*res.Session, now)
			v.Session = &sv
		}
		h.metrics.decision(outcome, res.OK)
		views = append(views, v)
	}
	writeJSON(w, http.StatusOK, map[string]any{"results": views})
	return nil
}

func (h *Handler) listSessions(w http.ResponseWriter, r *http.Request) error {
	lp, err := parseList(r, "active or ended", hoist.SessionActive, hoist.SessionEnded)
	if err != nil {
		return err
	}
	f := hoist.SessionFilter{State: hoist.SessionState(lp.state), User: lp.user, Host: lp.host, Limit: lp.limit}
	ss, err := h.svc.Sessions(r.Context(), actorFrom(r.Context()), f)
	if err != nil {
		return err
	}
	now := h.clock()
	views := make([]SessionView, 0, len(ss))
	for _, s := range ss {
		views = append(views, sessionView(s, now))
	}
	if err := h.flagSessions(r, views); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"sessions": views})
	return nil
}

func (h *Handler) getSession(w http.ResponseWriter, r *http.Request) error {
	s, err := h.svc.Session(r.Context(), actorFrom(r.Context()), r.PathValue("id"))
	if err != nil {
		return err
	}
	views := []SessionView{sessionView(s, h.clock())}
	if err := h.flagSessions(r, views); err != nil {
		return err
	}
	page, err := h.sessionPage(r, views[0])
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}

func (h *Handler) listUsers(w http.ResponseWriter, r *http.Request) error {
	as, err := h.svc.Admins(r.Context(), actorFrom(r.Context()))
	if err != nil {
		return err
	}
	views := make([]UserView, 0, len(as))
	for _, a := range as {
		views = append(views, userView(a))
	}
	writeJSON(w, http.StatusOK, map[string]any{"users": views})
	return nil
}

func (h *Handler) createUser(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	in, err := ParseUser(body)
	if err != nil {
		return err
	}
	if in.Disabled != nil && *in.Disabled {
		return hoist.Errorf(hoist.EInvalid, "a new user cannot be disabled")
	}
	a, err := h.svc.CreateAdmin(r.Context(), actorFrom(r.Context()), control.AdminInput{Name: in.Name, Role: hoist.Role(in.Role), Password: in.Password,
		UnixNames: in.UnixNames, ApproverGroups: in.ApproverGroups})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, userView(a))
	return nil
}

func (h *Handler) updateUser(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	in, err := ParseUser(body)
	if err != nil {
		return err
	}
	if in.Name != "" && in.Name != r.PathValue("name") {
		return hoist.Errorf(hoist.EInvalid, "a user cannot be renamed")
	}
	a, err := h.svc.UpdateAdmin(r.Context(), actorFrom(r.Context()), control.AdminInput{
		Name: r.PathValue("name"), Role: hoist.Role(in.Role), Password: in.Password, Disabled: in.Disabled,
		UnixNames: in.UnixNames, ApproverGroups: in.ApproverGroups})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, userView(a))
	return nil
}

func (h *Handler) deleteUser(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.DeleteAdmin(r.Context(), actorFrom(r.Context()), r.PathValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func auditFilter(r *http.Request, maxLimit int64) (hoist.AuditFilter, error) {
	var f hoist.AuditFilter
	q, err := query(r, "after", "limit", "action", "actor", "subject", "action_prefix", "since", "until")
	if err != nil {
		return f, err
	}
	if f.ActionPrefix, err = textParam(q, "action_prefix"); err != nil {
		return f, err
	}
	if f.Since, err = timeParam(q, "since"); err != nil {
		return f, err
	}
	if f.Until, err = timeParam(q, "until"); err != nil {
		return f, err
	}
	if f.AfterSeq, err = intParam(q, "after", 0, 1<<62); err != nil {
		return f, err
	}
	limit, err := intParam(q, "limit", 1, maxLimit)
	if err != nil {
		return f, err
	}
	f.Limit = int(limit)
	if f.Action, err = textParam(q, "action"); err != nil {
		return f, err
	}
	if f.Actor, err = textParam(q, "actor"); err != nil {
		return f, err
	}
	f.Subject, err = textParam(q, "subject")
	return f, err
}

// timeParam reads an RFC 3339 time; zero when absent.
func timeParam(q url.Values, name string) (time.Time, error) {
	v := q.Get(name)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, &hoist.Error{Code: hoist.EInvalid, Message: name + " must be an RFC 3339 time such as 2026-01-02T15:04:05Z",
			Fields: map[string]string{name: "an RFC 3339 time"}}
	}
	return t, nil
}

func (h *Handler) listAudit(w http.ResponseWriter, r *http.Request) error {
	f, err := auditFilter(r, hoist.MaxListLimit)
	if err != nil {
		return err
	}
	if f.Limit == 0 {
		f.Limit = hoist.DefaultListLimit
	}
	records := []hoist.AuditRecord{}
	err = h.svc.Audit(r.Context(), actorFrom(r.Context()), f, func(rec hoist.AuditRecord) error {
		records = append(records, rec)
		return nil
	})
	if err != nil {
		return err
	}
	next := f.AfterSeq
	if len(records) > 0 {
		next = records[len(records)-1].Seq
	}
	writeJSON(w, http.StatusOK, map[string]any{"records": records, "next_after": next})
	return nil
}

func (h *Handler) verifyAudit(w http.ResponseWriter, r *http.Request) error {
	rep, err := h.svc.VerifyAudit(r.Context(), actorFrom(r.Context()))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rep)
	return nil
}

// exportAudit streams the log as JSON lines, one record a line, in order.
func (h *Handler) exportAudit(w http.ResponseWriter, r *http.Request) error {
	f, err := auditFilter(r, 1<<31)
	if err != nil {
		return err
	}
	// Headers are only sent with the first byte, so an error before any
	// record still becomes a JSON error answer.
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Content-Disposition", `attachment; filename="hoist-audit.jsonl"`)
	rc := http.NewResponseController(w)
	wrote, err := h.svc.ExportAudit(r.Context(), actorFrom(r.Context()), f, nil, w, func() error {
		return rc.SetWriteDeadline(time.Now().Add(exportWriteTimeout))
	})
	if err != nil && !wrote {
		w.Header().Del("Content-Disposition")
		w.Header().Del("Content-Type")
		return err
	}
	if err != nil {
		// Part of the file is out: break the connection, so that the client
		// sees a failed download rather than a complete-looking short file.
		h.log.Warn("audit export cut off", "err", err)
		panic(http.ErrAbortHandler)
	}
	return nil
}

// exportWriteTimeout is how long one batch of an export may take to reach
// the client.
const exportWriteTimeout = 30 * time.Second

// svcTampered is the service's AuditTampered, "" without a service.
func (h *Handler) svcTampered() string {
	if h.svc == nil {
		return ""
	}
	return h.svc.AuditTampered()
}
