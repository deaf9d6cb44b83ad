package console

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/control"
	"github.com/hoist-jit/hoist/wire"
)

type agentsData struct {
	Agents    []wire.AgentView
	Groups    []string
	CanManage bool
	// Token is a new enrolment token, shown once.
	Token     string
	TokenInfo hoist.EnrollToken
	Now       time.Time
	// Names are the agents' names, for the warnings beside each.
	Names agentNames
}

func (h *Handler) agentsPage(w http.ResponseWriter, r *http.Request, v *visit, d agentsData) error {
	var err error
	if d.Agents, err = h.svc.AgentViews(r.Context(), v.actor); err != nil {
		return err
	}
	slices.SortStableFunc(d.Agents, func(a, b wire.AgentView) int { return strings.Compare(a.Name, b.Name) })
	names, err := h.svc.AgentNames(r.Context(), v.actor)
	if err != nil {
		return err
	}
	d.Names = agentNames(names)
	d.CanManage, d.Now = hoist.Can(v.actor.Role, hoist.PermitManageAgents), h.clock()
	if d.CanManage {
		if d.Groups, err = h.groupNames(r, v); err != nil {
			return err
		}
	}
	h.render(w, r, http.StatusOK, "agents", v, d)
	return nil
}

func (h *Handler) agents(w http.ResponseWriter, r *http.Request, v *visit) error {
	return h.agentsPage(w, r, v, agentsData{})
}

func (h *Handler) revokeAgent(w http.ResponseWriter, r *http.Request, v *visit) error {
	id := r.PathValue("id")
	if err := h.svc.RevokeAgent(r.Context(), v.actor, id); err != nil {
		return h.refused(w, r, "/agents", err)
	}
	return h.done(w, r, "/agents", true, "Revoked agent "+id+": the server refuses its certificate from now on.")
}

// createEnrollToken answers with the page itself, not a redirect: the token
// is a secret to be shown once, and is never put in a cookie or a URL.
func (h *Handler) createEnrollToken(w http.ResponseWriter, r *http.Request, v *visit) error {
	uses, err := strconv.Atoi(strings.TrimSpace(r.PostForm.Get("uses")))
	if err != nil || uses < 1 {
		return h.done(w, r, "/agents", false, "Uses: a whole number of machines, 1 or more.")
	}
	ttl, err := hoist.ParseDuration(r.PostForm.Get("ttl"))
	if err != nil {
		return h.done(w, r, "/agents", false, "Valid for: "+hoist.ErrorMessage(err))
	}
	group := r.PostForm.Get("group")
	if group == hoist.DefaultGroup {
		group = "" // every agent is in it anyway
	}
	tok, info, err := h.svc.CreateEnrollToken(r.Context(), v.actor, group, ttl, uses)
	if err != nil {
		return h.refused(w, r, "/agents", err)
	}
	return h.agentsPage(w, r, v, agentsData{Token: tok, TokenInfo: info})
}

type auditData struct {
	Records []auditLine
	Filter  auditQuery
	Chain   control.ChainReport
	Checked bool // Chain holds a report (the first page)
	// Older is the query for the next page back; empty on the last page.
	// Newest is the first page with the same filters.
	Older, Newest string
	ExportURL     string
	// WholeLog says the reader may read the whole log (admins, auditors);
	// an approver reads the records of the sessions they approved, listed
	// in Approved when no subject is asked for.
	WholeLog bool
	Approved []hoist.Session
}

type auditQuery struct {
	Action, Actor, Subject, Text string
	Before                       int64
	// From and To are the time range as typed (UTC); Since and Until
	// the times they name.
	From, To     string
	Since, Until time.Time
}

// auditLine is a record as the page shows it.
type auditLine struct {
	hoist.AuditRecord
	Detail string
}

// readableDetail is a record's detail as compact JSON without the escapes
// the store keeps for hashing ("\u003c" is shown, and searched, as "<").
func readableDetail(raw []byte) string {
	if len(raw) == 0 {
		return ""
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return string(raw)
	}
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return string(raw)
	}
	return strings.TrimSpace(b.String())
}

// detailValues is the text of every value in a record's detail, unquoted,
// for the search: `"quotes"` in a reason is found as typed.
func detailValues(raw []byte) string {
	var v any
	if len(raw) == 0 || json.Unmarshal(raw, &v) != nil {
		return string(raw)
	}
	var b strings.Builder
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				b.WriteString(k + " ")
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		default:
			fmt.Fprint(&b, v, " ")
		}
	}
	walk(v)
	return b.String()
}

// auditPageSize is how many records one page of the audit log shows.
const auditPageSize = 100

// errPageFull stops the walk through the log once a page is full.
var errPageFull = errors.New("page full")

func readAuditQuery(q url.Values) (auditQuery, error) {
	f := auditQuery{Action: strings.TrimSpace(q.Get("action")), Actor: strings.TrimSpace(q.Get("actor")),
		Subject: strings.TrimSpace(q.Get("subject")), Text: strings.TrimSpace(q.Get("text"))}
	for _, s := range []string{f.Action, f.Actor, f.Subject, f.Text} {
		if len(s) > 200 {
			return f, hoist.Errorf(hoist.EInvalid, "a search term is at most 200 characters")
		}
	}
	if s := q.Get("before"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 1 {
			return f, hoist.Errorf(hoist.EInvalid, "before must be a record number")
		}
		f.Before = n
	}
	var err error
	f.From, f.To = strings.TrimSpace(q.Get("from")), strings.TrimSpace(q.Get("to"))
	if f.Since, err = parseFormTime("from", f.From); err != nil {
		return f, err
	}
	if f.Until, err = parseFormTime("to", f.To); err != nil {
		return f, err
	}
	return f, nil
}

// parseFormTime reads a time of the audit's range as a datetime-local
// field sends it (2026-01-02T15:04, in UTC as the page shows times), or
// RFC 3339; zero when empty.
func parseFormTime(field, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05", "2006-01-02", time.RFC3339} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, &hoist.Error{Code: hoist.EInvalid, Message: field + " must be a time such as 2026-01-02T15:04 (UTC)",
		Fields: map[string]string{field: "a time such as 2026-01-02T15:04 (UTC)"}}
}

// filter is what the store selects; the action (a prefix: "request."
// finds every request record) and the text are matched here.
func (f auditQuery) filter() hoist.AuditFilter {
	return hoist.AuditFilter{Actor: f.Actor, Subject: f.Subject, BeforeSeq: f.Before, ActionPrefix: f.Action, Since: f.Since, Until: f.Until}
}

// matches is the action prefix and the free-text search: any of actor,
// action, subject or detail (as shown, not as JSON escapes it) contains the
// text, ignoring case.
func (f auditQuery) matches(rec hoist.AuditRecord) bool {
	if !strings.HasPrefix(rec.Action, f.Action) {
		return false
	}
	if f.Text == "" {
		return true
	}
	t := strings.ToLower(f.Text)
	for _, s := range []string{rec.Actor, rec.Action, rec.Subject, detailValues(rec.Detail)} {
		if strings.Contains(strings.ToLower(s), t) {
			return true
		}
	}
	return false
}

func (f auditQuery) values() url.Values {
	v := url.Values{}
	for k, s := range map[string]string{"action": f.Action, "actor": f.Actor, "subject": f.Subject, "text": f.Text, "from": f.From, "to": f.To} {
		if s != "" {
			v.Set(k, s)
		}
	}
	return v
}

func (h *Handler) audit(w http.ResponseWriter, r *http.Request, v *visit) error {
	q, err := readAuditQuery(r.URL.Query())
	if err != nil {
		return err
	}
	d := auditData{Filter: q, WholeLog: hoist.Can(v.actor.Role, hoist.PermitReadAudit)}
	if !d.WholeLog && q.Subject == "" {
		return h.approvedSessions(w, r, v, d)
	}
	filter := q.filter()
	filter.Newest = true
	err = h.svc.Audit(r.Context(), v.actor, filter, func(rec hoist.AuditRecord) error {
		if !q.matches(rec) {
			return nil
		}
		if len(d.Records) == auditPageSize {
			older := q.values()
			older.Set("before", strconv.FormatInt(d.Records[len(d.Records)-1].Seq, 10))
			d.Older = "/audit?" + older.Encode()
			return errPageFull
		}
		d.Records = append(d.Records, auditLine{AuditRecord: rec, Detail: readableDetail(rec.Detail)})
		return nil
	})
	if err != nil && !errors.Is(err, errPageFull) {
		return err
	}
	// The whole chain is checked on the first page only: paging back
	// through a large log should not re-read all of it each time.
	if q.Before == 0 && d.WholeLog {
		if d.Chain, err = h.svc.VerifyAudit(r.Context(), v.actor); err != nil {
			return err
		}
		d.Checked = true
	}
	d.Newest = "/audit"
	if e := q.values(); len(e) > 0 {
		d.Newest += "?" + e.Encode()
	}
	d.ExportURL = "/audit/export"
	if e := q.values(); len(e) > 0 {
		d.ExportURL += "?" + e.Encode()
	}
	h.render(w, r, http.StatusOK, "audit", v, d)
	return nil
}

// approvedSessionsLimit bounds the sessions an approver's audit page looks
// through for theirs.
const approvedSessionsLimit = hoist.MaxListLimit

// approvedSessions is an approver's audit page without a subject: the
// sessions they approved, newest first, each a link to its records.
func (h *Handler) approvedSessions(w http.ResponseWriter, r *http.Request, v *visit, d auditData) error {
	ss, err := h.svc.Sessions(r.Context(), v.actor, hoist.SessionFilter{Limit: approvedSessionsLimit})
	if err != nil {
		return err
	}
	for _, s := range ss {
		if control.ApprovedBy(s, v.actor.Name) {
			d.Approved = append(d.Approved, s)
		}
	}
	h.render(w, r, http.StatusOK, "audit", v, d)
	return nil
}

// exportAudit downloads the records the filters select, oldest first, one
// JSON object a line: the format `hoist-server audit verify` and the API
// export use.
func (h *Handler) exportAudit(w http.ResponseWriter, r *http.Request, v *visit) error {
	q, err := readAuditQuery(r.URL.Query())
	if err != nil {
		return err
	}
	f := q.filter()
	f.BeforeSeq = 0
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Content-Disposition", `attachment; filename="hoist-audit.jsonl"`)
	rc := http.NewResponseController(w)
	wrote, err := h.svc.ExportAudit(r.Context(), v.actor, f, q.matches, w, func() error {
		return rc.SetWriteDeadline(time.Now().Add(30 * time.Second))
	})
	if err != nil && !wrote {
		w.Header().Del("Content-Disposition")
		return err // nothing sent yet: an error page instead
	}
	if err != nil {
		// Part of the file is out: break the connection, so that the browser
		// reports a failed download rather than keep a short file.
		h.log.Warn("audit export cut off", "err", err)
		panic(http.ErrAbortHandler)
	}
	return nil
}

// agentNames are the agents' names with their warnings, for the rows of
// requests and sessions (hoist.NameAgents).
type agentNames hoist.AgentNames

// agentTag is what a request or session row shows about the agent that
// filed it: its id beside the host, and the warnings about its name.
type agentTag struct {
	ID, Short, Host string
	// Duplicate: another agent goes by or reports this name (Shared);
	// Others are their ids.
	Duplicate      bool
	Shared, Others string
	// Mismatch: the name is pinned and the agent reports Reported.
	Mismatch bool
	Reported string
}

// Tag is the tag of agent id, shown under host. A template calls it:
// {{template "agentTag" ($d.Names.Tag .Agent .Host)}}.
func (n agentNames) Tag(id, host string) agentTag {
	t := agentTag{ID: id, Short: shortID(id), Host: host}
	if a, ok := n[id]; ok {
		t.Duplicate, t.Shared, t.Others = a.Duplicate(), a.Shared, strings.Join(a.SharedWith, ", ")
		t.Mismatch, t.Reported = a.Mismatch, a.Hostname
	}
	return t
}

// shortID is an agent id cut for a table; the whole id is its title.
func shortID(id string) string {
	const keep = len(hoist.AgentIDPrefix) + 8
	if len(id) <= keep {
		return id
	}
	return id[:keep] + "…"
}

// agentData is the page of one agent: its facts, its names, the pin form.
type agentData struct {
	Agent     wire.AgentView
	CanManage bool
	Now       time.Time
	// Others are the agents its name is shared with, as listed.
	Others []wire.AgentView
}

func (h *Handler) agentPage(w http.ResponseWriter, r *http.Request, v *visit) error {
	views, err := h.svc.AgentViews(r.Context(), v.actor)
	if err != nil {
		return err
	}
	d := agentData{CanManage: hoist.Can(v.actor.Role, hoist.PermitManageAgents), Now: h.clock()}
	found := false
	for _, a := range views {
		if a.ID == r.PathValue("id") {
			d.Agent, found = a, true
		}
	}
	if !found {
		return hoist.Errorf(hoist.ENotFound, "no agent %q", r.PathValue("id"))
	}
	for _, a := range views {
		if slices.Contains(d.Agent.DuplicateOf, a.ID) {
			d.Others = append(d.Others, a)
		}
	}
	h.render(w, r, http.StatusOK, "agent", v, d)
	return nil
}

// pinAgentName pins the name typed in the agent page's form; an empty name
// unpins.
func (h *Handler) pinAgentName(w http.ResponseWriter, r *http.Request, v *visit) error {
	id := r.PathValue("id")
	back := "/agents/" + url.PathEscape(id)
	name := strings.TrimSpace(r.PostForm.Get("name"))
	if r.PostForm.Get("action") == "unpin" {
		a, err := h.svc.UnpinAgentName(r.Context(), v.actor, id)
		if err != nil {
			return h.refused(w, r, back, err)
		}
		return h.done(w, r, back, true, "Unpinned: agent "+id+" goes by the hostname it reports, "+a.Hostname+".")
	}
	if _, err := h.svc.PinAgentName(r.Context(), v.actor, id, name); err != nil {
		return h.refused(w, r, back, err)
	}
	return h.done(w, r, back, true, "Pinned: agent "+id+" is named "+name+" on new requests and in group rules.")
}
