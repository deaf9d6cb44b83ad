package console

import (
	"crypto/hmac"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/control"
)

func (h *Handler) loginPage(w http.ResponseWriter, r *http.Request, v *visit) error {
	if _, err := h.svc.Authenticate(r.Context(), sessionToken(r)); err == nil {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return nil
	}
	h.loginForm(w, r, v, map[string]any{"Next": safeNext(r.URL.Query().Get("next")), "Expired": r.URL.Query().Has("expired")})
	return nil
}

// loginForm draws the sign-in form with a fresh form token, which it also
// puts in a cookie: a sign-in is taken only when the two match, so that
// another site cannot sign a browser into an account of its choosing, even
// where the browser sends no Sec-Fetch-Site or Origin.
func (h *Handler) loginForm(w http.ResponseWriter, r *http.Request, v *visit, data map[string]any) {
	raw := make([]byte, 24)
	_, _ = rand.Read(raw)
	token := base64.RawURLEncoding.EncodeToString(raw)
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: token, Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: 3600})
	data["LoginToken"] = token
	data["SSO"], data["Local"] = h.svc.SSOEnabled(), h.svc.LocalLoginEnabled()
	h.render(w, r, http.StatusOK, "login", v, data)
}

func (h *Handler) login(w http.ResponseWriter, r *http.Request, v *visit) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		return hoist.Errorf(hoist.EInvalid, "the form could not be read")
	}
	name, password, next := r.PostForm.Get("user"), r.PostForm.Get("password"), safeNext(r.PostForm.Get("next"))
	c, err := r.Cookie(loginCookie)
	if err != nil || c.Value == "" || !hmac.Equal([]byte(c.Value), []byte(r.PostForm.Get("login"))) {
		h.loginForm(w, r, v, map[string]any{"Next": next, "User": name,
			"Error": "The sign-in form had expired or did not come from this page. Nothing was done; sign in again."})
		return nil
	}
	var device string
	if c, err := r.Cookie(deviceCookie); err == nil {
		device = c.Value
	}
	res, err := h.svc.LoginConsoleWithDevice(r.Context(), name, password, remoteIP(r), device, h.idle)
	if err != nil {
		code := hoist.ErrorCode(err)
		if code != hoist.EUnauthorized && code != hoist.ERateLimited {
			return err
		}
		h.loginForm(w, r, v, map[string]any{"Next": next, "User": name, "Error": hoist.ErrorMessage(err)})
		return nil
	}
	if res.SecondFactor != "" {
		h.askSecondFactor(w, r, v, res, next)
		return nil
	}
	// A sign-in over an older one ends the older: one browser, one login.
	if old := sessionToken(r); old != "" {
		if a, err := h.svc.Authenticate(r.Context(), old); err == nil {
			_ = h.svc.Logout(r.Context(), a, old)
		}
	}
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: "", Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: -1})
	setSessionCookie(w, res.Token)
	setDeviceCookie(w, res.Device)
	http.Redirect(w, r, next, http.StatusSeeOther)
	return nil
}

func (h *Handler) logout(w http.ResponseWriter, r *http.Request, v *visit) error {
	if err := h.svc.Logout(r.Context(), v.actor, sessionToken(r)); err != nil && hoist.ErrorCode(err) != hoist.ENotFound {
		return err
	}
	clearSessionCookie(w)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
	return nil
}

// approvalsData is the Manage Approvals page.
type approvalsData struct {
	Pending   []hoist.Request
	Sessions  []hoist.Session
	History   []hoist.Request
	Filter    historyFilter
	Durations []durationChoice
	OneTime   time.Duration
	Now       time.Time
	CanDecide bool
	CSRF      string // the live part draws forms outside the layout
	// Accounts maps a pending request's user to the console account that
	// is theirs, when there is one.
	Accounts map[string]string
	// Passkey marks the pending requests whose approval needs the
	// approver's passkey.
	Passkey map[string]bool
	// Names are the agents' names, for the agent tag beside each host.
	Names agentNames
	// Selected are the requests ticked when a decision was sent back to
	// be completed (Deny without a reason): they stay ticked.
	Selected map[string]bool
	// DenyError is what the Deny Selected reason lacks.
	DenyError string
	// Newer and Older are the addresses of the history's next pages, when
	// there are some.
	Newer, Older string
	// Ends says, by session id, how and when each session of the history
	// ended, or when it ends.
	Ends map[string]sessionEnd
}

// sessionEnd is the Session column of the history.
type sessionEnd struct {
	Active bool
	How    string // "expired", "exited by the user", "revoked by carol"…
	At     time.Time
}

// endOf says how s ended.
func endOf(s hoist.Session) sessionEnd {
	if s.State == hoist.SessionActive {
		return sessionEnd{Active: true, At: s.NotAfter}
	}
	how := string(s.EndReason)
	switch s.EndReason {
	case hoist.EndExited:
		how = "exited by the user"
	case hoist.EndRevoked:
		how = "revoked"
		if len(s.History) > 0 && s.History[len(s.History)-1].Actor != "" {
			how += " by " + s.History[len(s.History)-1].Actor
		}
	case hoist.EndExpired:
		how = "expired"
	}
	return sessionEnd{How: how, At: s.EndedAt}
}

type historyFilter struct {
	State, User, Host string
	States            []string
}

type durationChoice struct {
	Value, Label string
	Selected     bool
}

// approveChoices are the windows offered for Approve Selected, up to the
// server's maximum.
var approveChoices = []time.Duration{15 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour, 4 * time.Hour, 8 * time.Hour, 24 * time.Hour}

func (h *Handler) approvalsData(r *http.Request, v *visit) (approvalsData, error) {
	ctx := r.Context()
	set := h.svc.Settings()
	d := approvalsData{OneTime: set.OneTimeDuration, Now: h.clock(), CanDecide: hoist.Can(v.actor.Role, hoist.PermitDecide), CSRF: v.csrf}
	var err error
	if d.Pending, err = h.svc.Requests(ctx, v.actor, hoist.RequestFilter{State: hoist.RequestPending, Limit: hoist.MaxListLimit}); err != nil {
		return d, err
	}
	// Oldest first: the one waiting longest is the one to look at.
	slices.SortStableFunc(d.Pending, func(a, b hoist.Request) int { return a.CreatedAt.Compare(b.CreatedAt) })
	users := make([]string, 0, len(d.Pending))
	for _, p := range d.Pending {
		users = append(users, p.User)
	}
	if d.Accounts, err = h.svc.RequesterAccounts(ctx, v.actor, users); err != nil {
		return d, err
	}
	ids := make([]string, 0, len(d.Pending))
	for _, p := range d.Pending {
		ids = append(ids, p.ID)
	}
	if d.Passkey, err = h.svc.NeedPasskey(ctx, v.actor, ids); err != nil {
		return d, err
	}
	if d.Sessions, err = h.svc.Sessions(ctx, v.actor, hoist.SessionFilter{State: hoist.SessionActive, Limit: hoist.MaxListLimit}); err != nil {
		return d, err
	}
	slices.SortStableFunc(d.Sessions, func(a, b hoist.Session) int { return a.NotAfter.Compare(b.NotAfter) })
	names, err := h.svc.AgentNames(ctx, v.actor)
	if err != nil {
		return d, err
	}
	d.Names = agentNames(names)
	d.Durations = append(d.Durations, durationChoice{Value: "requested", Label: "as requested", Selected: true})
	for _, c := range approveChoices {
		if c <= set.MaxDuration {
			d.Durations = append(d.Durations, durationChoice{Value: formatDuration(c), Label: formatDuration(c)})
		}
	}
	return d, nil
}

func (h *Handler) approvals(w http.ResponseWriter, r *http.Request, v *visit) error {
	d, err := h.approvalsData(r, v)
	if err != nil {
		return err
	}
	return h.approvalsPage(w, r, v, d, http.StatusOK)
}

// approvalsPage draws the page of d with its history, filtered as the
// address says.
func (h *Handler) approvalsPage(w http.ResponseWriter, r *http.Request, v *visit, d approvalsData, status int) error {
	q := r.URL.Query()
	d.Filter = historyFilter{State: q.Get("state"), User: strings.TrimSpace(q.Get("user")), Host: strings.TrimSpace(q.Get("host")),
		States: []string{string(hoist.RequestApproved), string(hoist.RequestDenied), string(hoist.RequestExpired), string(hoist.RequestCancelled)}}
	// Pending requests are listed above; the history is the rest, so ask
	// for enough that the newest 100 decided ones are among them.
	f := hoist.RequestFilter{User: d.Filter.User, Host: d.Filter.Host, Limit: hoist.MaxListLimit}
	if d.Filter.State != "" {
		if !slices.Contains(d.Filter.States, d.Filter.State) {
			return hoist.Errorf(hoist.EInvalid, "unknown state %q: choose one from the list", d.Filter.State)
		}
		f.State = hoist.RequestState(d.Filter.State)
	}
	history, err := h.svc.Requests(r.Context(), v.actor, f)
	if err != nil {
		return err
	}
	for _, req := range history {
		if req.State != hoist.RequestPending {
			d.History = append(d.History, req)
		}
	}
	slices.SortStableFunc(d.History, func(a, b hoist.Request) int { return b.UpdatedAt.Compare(a.UpdatedAt) })
	d.History, d.Newer, d.Older = historyPage(d.History, q)
	if err := h.historyEnds(r, v, &d); err != nil {
		return err
	}
	h.render(w, r, status, "approvals", v, d)
	return nil
}

// historyPage cuts the history, newest first, to the page the address
// asks for (?page=2 is the second hundred), and returns the addresses of
// the pages beside it. The pages reach back over the newest MaxListLimit
// requests; the filters, or the audit log, reach further.
func historyPage(all []hoist.Request, q url.Values) (page []hoist.Request, newer, older string) {
	n, err := strconv.Atoi(q.Get("page"))
	if err != nil || n < 1 {
		n = 1
	}
	size := hoist.DefaultListLimit
	from := min((n-1)*size, len(all))
	to := min(from+size, len(all))
	link := func(p int) string {
		v := url.Values{}
		for _, k := range []string{"state", "user", "host"} {
			if s := q.Get(k); s != "" {
				v.Set(k, s)
			}
		}
		if p > 1 {
			v.Set("page", strconv.Itoa(p))
		}
		if len(v) == 0 {
			return "/approvals#history-h"
		}
		return "/approvals?" + v.Encode() + "#history-h"
	}
	if n > 1 {
		newer = link(n - 1)
	}
	if to < len(all) {
		older = link(n + 1)
	}
	return all[from:to], newer, older
}

// historyEnds fills d.Ends for the sessions of d.History, from the newest
// sessions (the history is the newest requests).
func (h *Handler) historyEnds(r *http.Request, v *visit, d *approvalsData) error {
	want := map[string]bool{}
	for _, req := range d.History {
		if req.SessionID != "" {
			want[req.SessionID] = true
		}
	}
	d.Ends = map[string]sessionEnd{}
	if len(want) == 0 {
		return nil
	}
	ss, err := h.svc.Sessions(r.Context(), v.actor, hoist.SessionFilter{User: d.Filter.User, Host: d.Filter.Host, Limit: hoist.MaxListLimit})
	if err != nil {
		return err
	}
	for _, s := range ss {
		if want[s.ID] {
			d.Ends[s.ID] = endOf(s)
		}
	}
	return nil
}

// approvalsLive is the queue and the active sessions alone, for the page's
// script to swap in: new requests appear without a reload.
func (h *Handler) approvalsLive(w http.ResponseWriter, r *http.Request, v *visit) error {
	d, err := h.approvalsData(r, v)
	if err != nil {
		return err
	}
	return h.renderPart(w, "approvals", "live", d)
}

func (h *Handler) decide(w http.ResponseWriter, r *http.Request, v *visit) error {
	ids := r.PostForm["id"]
	if len(ids) == 0 {
		return h.done(w, r, "/approvals", false, "Select at least one request first.")
	}
	if len(ids) > control.MaxBatch {
		return h.done(w, r, "/approvals", false, fmt.Sprintf("At most %d requests at once.", control.MaxBatch))
	}
	// Who asked, to say who was approved rather than which id.
	asked, err := h.svc.Requests(r.Context(), v.actor, hoist.RequestFilter{IDs: ids, Limit: len(ids)})
	if err != nil {
		return h.refused(w, r, "/approvals", err)
	}
	byID := map[string]hoist.Request{}
	for _, req := range asked {
		byID[req.ID] = req
	}
	var (
		results []control.Result
		verb    string
	)
	approveFn, err := h.approver(r, v, ids)
	if err != nil {
		return h.refused(w, r, "/approvals", err)
	}
	switch r.PostForm.Get("action") {
	case "approve":
		custom := strings.TrimSpace(r.PostForm.Get("for_custom"))
		if r.PostForm.Get("for") == "requested" && custom == "" {
			// Each for the window it asked for: one batch per window.
			verb = "Approved as requested"
			windows := map[time.Duration][]string{}
			var order []time.Duration
			for _, id := range ids {
				d := byID[id].RequestedDuration
				if _, seen := windows[d]; !seen {
					order = append(order, d)
				}
				windows[d] = append(windows[d], id)
			}
			for _, d := range order {
				part, err := approveFn(windows[d], d)
				if err != nil {
					return h.refused(w, r, "/approvals", err)
				}
				results = append(results, part...)
			}
			break
		}
		window := r.PostForm.Get("for")
		if custom != "" {
			window = custom // typed beside the list: it wins
		}
		d, perr := hoist.ParseDuration(window)
		if perr != nil {
			return h.done(w, r, "/approvals", false, "Approve For: "+hoist.ErrorMessage(perr))
		}
		results, err = approveFn(ids, d)
		verb = "Approved for " + formatDuration(d)
	case "once":
		results, err = approveFn(ids, 0)
		verb = "Approved One Time"
	case "deny":
		reason := strings.TrimSpace(r.PostForm.Get("reason"))
		if reason == "" {
			return h.denyWithoutReason(w, r, v, ids)
		}
		results, err = h.svc.Deny(r.Context(), v.actor, ids, reason)
		verb = "Denied"
	default:
		return hoist.Errorf(hoist.EInvalid, "unknown action: use Approve Selected, One Time or Deny Selected")
	}
	if err != nil {
		return h.refused(w, r, "/approvals", err)
	}
	ok, msg := summarize(verb, results, func(id string) string {
		if req, found := byID[id]; found {
			return req.User + " on " + req.Host
		}
		return id
	})
	return h.done(w, r, "/approvals", ok, msg)
}

// denyWithoutReason draws the page again with the same requests ticked
// and the reason field marked, rather than sending the approver back to an
// empty queue to tick them all over again.
func (h *Handler) denyWithoutReason(w http.ResponseWriter, r *http.Request, v *visit, ids []string) error {
	d, err := h.approvalsData(r, v)
	if err != nil {
		return err
	}
	d.Selected = map[string]bool{}
	for _, id := range ids {
		d.Selected[id] = true
	}
	d.DenyError = "give the user a reason"
	v.flash = flash{Message: "Deny Selected: give the user a reason. Nothing was denied; the requests stay selected."}
	return h.approvalsPage(w, r, v, d, http.StatusOK) // a page to complete, as a refused policy form is
}

func (h *Handler) revoke(w http.ResponseWriter, r *http.Request, v *visit) error {
	ids := r.PostForm["id"]
	if len(ids) == 0 {
		return h.done(w, r, "/approvals", false, "No session was named.")
	}
	results, err := h.svc.Revoke(r.Context(), v.actor, ids, strings.TrimSpace(r.PostForm.Get("reason")))
	if err != nil {
		return h.refused(w, r, "/approvals", err)
	}
	ok, msg := summarize("Revoked the session of", results, func(id string) string {
		if sess, err := h.svc.Session(r.Context(), v.actor, id); err == nil {
			return sess.User + " on " + sess.Host
		}
		return id
	})
	return h.done(w, r, "/approvals", ok, msg)
}

// summarize says how a batch went, naming who each decision was for:
// "Approved for 1h: alice on ws-01, bob on ws-02." and, for any that failed,
// why.
func summarize(verb string, results []control.Result, name func(id string) string) (bool, string) {
	var good, bad []string
	for _, res := range results {
		if res.OK && res.Request != nil && res.Request.State == hoist.RequestPending {
			// One approval of several: say how far it is, not "approved".
			good = append(good, name(res.ID)+" ("+res.Request.ApprovalsNeeded()+" so far: it needs another approver)")
		} else if res.OK {
			good = append(good, name(res.ID))
		} else {
			bad = append(bad, name(res.ID)+": "+res.Error)
		}
	}
	var parts []string
	if len(good) > 0 {
		parts = append(parts, verb+": "+strings.Join(good, ", ")+".")
	}
	if len(bad) > 0 {
		parts = append(parts, "Not done for "+strings.Join(bad, "; ")+".")
	}
	return len(bad) == 0, strings.Join(parts, " ")
}

// requestData is the page of one request: its facts, its session, and
// every change of either, in order.
type requestData struct {
	Request hoist.Request
	Session *hoist.Session
	History []historyLine
	// Account is the console account of the requesting user, if any.
	Account string
	// Agent is what the page says about the agent that filed it.
	Agent agentTag
}

type historyLine struct {
	hoist.Transition
	What string // "request" or "session"
}

func (h *Handler) requestPage(w http.ResponseWriter, r *http.Request, v *visit) error {
	req, err := h.svc.Request(r.Context(), v.actor, r.PathValue("id"))
	if err != nil {
		return err
	}
	d := requestData{Request: req}
	accounts, err := h.svc.RequesterAccounts(r.Context(), v.actor, []string{req.User})
	if err != nil {
		return err
	}
	d.Account = accounts[req.User]
	if req.Agent != "" {
		names, err := h.svc.AgentNames(r.Context(), v.actor)
		if err != nil {
			return err
		}
		d.Agent = agentNames(names).Tag(req.Agent, req.Host)
	}
	for _, t := range req.History {
		d.History = append(d.History, historyLine{Transition: t, What: "request"})
	}
	if req.SessionID != "" {
		sess, err := h.svc.Session(r.Context(), v.actor, req.SessionID)
		if err != nil {
			return err
		}
		d.Session = &sess
		for _, t := range sess.History {
			d.History = append(d.History, historyLine{Transition: t, What: "session"})
		}
	}
	slices.SortStableFunc(d.History, func(a, b historyLine) int { return a.At.Compare(b.At) })
	h.render(w, r, http.StatusOK, "request", v, d)
	return nil
}
