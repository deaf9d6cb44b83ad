package console

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hoist-jit/hoist"
)

// policiesData is the policies page: each computer group with the policies
// that target it.
type policiesData struct {
	Groups  []groupPolicies
	Kinds   []string
	CanEdit bool
}

type groupPolicies struct {
	Group    hoist.ComputerGroup
	Policies []hoist.Policy
	// JITOn is true when the group has all three JIT policies active;
	// HasJIT when it has any JIT policy (or is the default group).
	JITOn, HasJIT bool
}

var jitKinds = []string{hoist.KindJITStartup, hoist.KindJITMode, hoist.KindJITChildren}

func (h *Handler) policies(w http.ResponseWriter, r *http.Request, v *visit) error {
	ps, err := h.svc.Policies(r.Context(), v.actor)
	if err != nil {
		return err
	}
	gs, err := h.svc.Groups(r.Context(), v.actor)
	if err != nil {
		return err
	}
	d := policiesData{Kinds: []string{hoist.KindApplication, hoist.KindJITStartup, hoist.KindJITMode, hoist.KindJITChildren},
		CanEdit: hoist.Can(v.actor.Role, hoist.PermitManagePolicies)}
	for _, g := range gs {
		gp := groupPolicies{Group: g}
		active := map[string]bool{}
		for _, p := range ps {
			if slices.Contains(p.Groups, g.Name) {
				gp.Policies = append(gp.Policies, p)
				active[p.Kind] = active[p.Kind] || p.Active
			}
		}
		// JIT policies first, in their fixed order, then by priority.
		slices.SortStableFunc(gp.Policies, func(a, b hoist.Policy) int {
			if ka, kb := kindOrder(a.Kind), kindOrder(b.Kind); ka != kb {
				return ka - kb
			}
			if a.Priority != b.Priority {
				return b.Priority - a.Priority
			}
			return strings.Compare(a.Name, b.Name)
		})
		gp.JITOn = active[hoist.KindJITStartup] && active[hoist.KindJITMode] && active[hoist.KindJITChildren]
		for _, p := range gp.Policies {
			gp.HasJIT = gp.HasJIT || p.Kind != hoist.KindApplication
		}
		gp.HasJIT = gp.HasJIT || g.Name == hoist.DefaultGroup
		d.Groups = append(d.Groups, gp)
	}
	h.render(w, r, http.StatusOK, "policies", v, d)
	return nil
}

func kindOrder(kind string) int {
	if i := slices.Index(jitKinds, kind); i >= 0 {
		return i
	}
	return len(jitKinds)
}

// policyForm is the edit page of one policy, with the values as typed and
// the errors beside them.
type policyForm struct {
	New     bool
	CanEdit bool
	Heading string // the stored name, whatever the form now says
	Policy  hoist.Policy
	Values  url.Values
	Errors  map[string]string
	Groups  []string
	// Summary is an error that belongs to no one field.
	Summary string
	// Warnings are the policy linter's warnings about the stored policy.
	Warnings []hoist.LintFinding
}

func (f policyForm) Value(name string) string { return f.Values.Get(name) }

// ErrorList is the form's errors in the order of its fields, by label.
func (f policyForm) ErrorList() []errorItem { return errorList(f.Errors, policyFields) }

// policyFields are the policy form's fields in the order it shows them.
var policyFields = []fieldLabel{
	{"name", "Name"}, {"description", "Description"}, {"groups", "Computer groups"}, {"priority", "Priority"},
	{"min_agent_version", "Lowest agent version"}, {"application", "Application rule"},
	{"application.path", "Program path"}, {"application.sha256", "SHA-256"}, {"application.args", "Old argument rule"}, {"application.argv", "Arguments"},
	{"application.users", "Users"}, {"application.unix_groups", "Unix groups"}, {"application.action", "Action"},
	{"startup.users", "Users"}, {"startup.unix_groups", "Unix groups"}, {"startup.durations", "Windows offered"},
	{"startup.default_duration", "Default window"}, {"startup.max_duration", "Longest window"},
	{"startup.approver_role", "Who may approve"}, {"startup.approvals_required", "Approvals required"},
	{"startup.pending_ttl", "A request waits at most"}, {"mode.exclude", "Excluded programs"},
	{"children.grace", "Grace"}, {"children.reminders", "Reminders"}, {"children.reminder_every", "Remind every"},
}

// fieldLabel names a form field as its label does.
type fieldLabel struct{ key, label string }

// errorItem is one line of a form's error list: a link to the field, by its
// label.
type errorItem struct{ ID, Label, Message string }

// errorList orders errs as fields does; a key it does not know comes last,
// under its own name.
func errorList(errs map[string]string, fields []fieldLabel) []errorItem {
	var out []errorItem
	seen := map[string]bool{"": true}
	for _, f := range fields {
		if m, ok := errs[f.key]; ok && !seen[f.key] {
			out = append(out, errorItem{ID: field{Name: f.key}.ID(), Label: f.label, Message: m})
			seen[f.key] = true
		}
	}
	var rest []string
	for k := range errs {
		if !seen[k] {
			rest = append(rest, k)
		}
	}
	slices.Sort(rest)
	for _, k := range rest {
		out = append(out, errorItem{ID: field{Name: k}.ID(), Label: k, Message: errs[k]})
	}
	return out
}

// mergeFields adds what the domain's validation finds to the errors the
// form's own reading found, so that one round shows every problem.
func mergeFields(errs map[string]string, err error) {
	var he *hoist.Error
	if err == nil || !asHoistError(err, &he) {
		return
	}
	for k, m := range he.Fields {
		if _, ok := errs[k]; !ok {
			errs[k] = m
		}
	}
}

// policyValues writes p as the form's fields, named as Validate names them.
func policyValues(p hoist.Policy) url.Values {
	v := url.Values{}
	v.Set("name", p.Name)
	v.Set("description", p.Description)
	v["groups"] = p.Groups
	v.Set("priority", strconv.Itoa(p.Priority))
	if p.Active {
		v.Set("active", "on")
	}
	v.Set("min_agent_version", p.MinAgentVersion)
	if p.Version > 0 {
		v.Set("version", strconv.Itoa(p.Version))
	}
	if a := p.Application; a != nil {
		v.Set("application.path", a.Path)
		v.Set("application.sha256", a.SHA256)
		v.Set("application.args", a.Args)
		v.Set("application.argv", argvText(a.Argv))
		v.Set("application.users", strings.Join(a.Users, ", "))
		v.Set("application.unix_groups", strings.Join(a.UnixGroups, ", "))
		v.Set("application.action", a.Action)
	}
	if s := p.Startup; s != nil {
		v.Set("startup.users", strings.Join(s.Users, ", "))
		v.Set("startup.unix_groups", strings.Join(s.UnixGroups, ", "))
		v.Set("startup.durations", formatDurations(s.Durations))
		v.Set("startup.default_duration", optDuration(s.DefaultDuration.D()))
		v.Set("startup.max_duration", optDuration(s.MaxDuration.D()))
		if s.ReasonRequired {
			v.Set("startup.reason_required", "on")
		}
		if s.RequirePasskey {
			v.Set("startup.require_passkey", "on")
		}
		v.Set("startup.approver_role", s.ApproverRole)
		if s.ApprovalsRequired != 0 {
			v.Set("startup.approvals_required", strconv.Itoa(s.ApprovalsRequired))
		}
		v.Set("startup.pending_ttl", optDuration(s.PendingTTL.D()))
	}
	if m := p.Mode; m != nil {
		v.Set("mode.exclude", strings.Join(m.Exclude, "\n"))
	}
	if c := p.Children; c != nil {
		v.Set("children.grace", optDuration(c.Grace.D()))
		v.Set("children.reminders", formatDurations(c.Reminders))
		if c.ReminderEvery != nil {
			v.Set("children.reminder_every", formatDuration(c.ReminderEvery.D()))
		}
	}
	return v
}

func optDuration(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return formatDuration(d)
}

// parsePolicy reads the form into a policy of kind. What cannot even be
// read (a duration that is not one) is reported per field, like Validate's
// findings, so the page shows every problem at once.
func parsePolicy(kind string, form url.Values) (hoist.Policy, map[string]string) {
	errs := map[string]string{}
	p := hoist.Policy{Kind: kind, Name: strings.TrimSpace(form.Get("name")), Description: strings.TrimSpace(form.Get("description")),
		Groups: form["groups"], Active: form.Get("active") == "on", MinAgentVersion: strings.TrimSpace(form.Get("min_agent_version"))}
	if p.Groups == nil {
		p.Groups = []string{}
	}
	if s := strings.TrimSpace(form.Get("priority")); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			errs["priority"] = "a whole number between -1000 and 1000"
		}
		p.Priority = n
	}
	if s := form.Get("version"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			errs[""] = "The form lost track of which version of the policy it edits; reload the page."
		}
		p.Version = n
	}
	duration := func(name string) hoist.Duration {
		s := strings.TrimSpace(form.Get(name))
		if s == "" {
			return 0
		}
		d, err := formDuration(s)
		if err != nil {
			errs[name] = hoist.ErrorMessage(err)
		} else if d == 0 {
			// The policy stores 0 as unset: say so, rather than save a
			// default the admin did not type.
			errs[name] = zeroMeans[name]
		}
		return hoist.Duration(d)
	}
	durations := func(name string) []hoist.Duration {
		var out []hoist.Duration
		for _, s := range splitList(form.Get(name)) {
			d, err := hoist.ParseDuration(s)
			if err != nil {
				errs[name] = "durations such as 15m, 1h, separated by commas: " + hoist.ErrorMessage(err)
				return nil
			}
			out = append(out, hoist.Duration(d))
		}
		return out
	}
	switch kind {
	case hoist.KindApplication:
		// The old args stay in the form until the admin empties them: a
		// save that dropped them silently would turn a rule for some
		// arguments into one for any.
		p.Application = &hoist.ApplicationRule{Path: strings.TrimSpace(form.Get("application.path")),
			SHA256: strings.ToLower(strings.TrimSpace(form.Get("application.sha256"))), Args: strings.TrimSpace(form.Get("application.args")),
			Users: splitList(form.Get("application.users")), UnixGroups: splitList(form.Get("application.unix_groups")),
			Action: form.Get("application.action")}
		argv, err := parseArgvText(form.Get("application.argv"))
		if err != nil {
			errs["application.argv"] = err.Error()
		}
		p.Application.Argv = argv
	case hoist.KindJITStartup:
		p.Startup = &hoist.JITStartup{Users: splitList(form.Get("startup.users")), UnixGroups: splitList(form.Get("startup.unix_groups")),
			Durations: durations("startup.durations"), DefaultDuration: duration("startup.default_duration"),
			MaxDuration: duration("startup.max_duration"), ReasonRequired: form.Get("startup.reason_required") == "on",
			ApproverRole: form.Get("startup.approver_role"), PendingTTL: duration("startup.pending_ttl"),
			RequirePasskey: form.Get("startup.require_passkey") == "on"}
		if n := strings.TrimSpace(form.Get("startup.approvals_required")); n != "" {
			v, err := strconv.Atoi(n)
			if err != nil {
				errs["startup.approvals_required"] = "a whole number from 1 to " + strconv.Itoa(hoist.MaxApprovalsRequired)
			}
			p.Startup.ApprovalsRequired = v
		}
	case hoist.KindJITMode:
		p.Mode = &hoist.JITMode{Exclude: splitLines(form.Get("mode.exclude"))}
	case hoist.KindJITChildren:
		p.Children = &hoist.JITChildren{Grace: duration("children.grace"), Reminders: durations("children.reminders")}
		if t := strings.TrimSpace(form.Get("children.reminder_every")); t != "" {
			d, err := formDuration(t) // 0: no periodic reminders
			if err != nil {
				errs["children.reminder_every"] = hoist.ErrorMessage(err) + ", 0 for none, or empty for the agent configuration's"
			}
			every := hoist.Duration(d)
			p.Children.ReminderEvery = &every
		}
	}
	return p, errs
}

// zeroMeans says, for each duration a policy stores 0 of as unset, what
// to type instead of 0.
var zeroMeans = map[string]string{
	"startup.default_duration": "0 is no window: leave it empty for the default (" + formatDuration(hoist.DefaultOneTimeDuration) + ", or the agent configuration's), or give one such as 30m or 1h",
	"startup.max_duration":     "0 is no window: leave it empty for the default longest window (" + formatDuration(hoist.DefaultMaxDuration) + "), or give one such as 4h",
	"children.grace":           "0 cannot be stored: leave it empty for the agent's grace (" + formatDuration(hoist.DefaultGrace) + " unless configured), or give 1s or more",
}

// splitList reads "a, b c" as [a b c].
func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t' })
}

func splitLines(s string) []string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			out = append(out, line)
		}
	}
	return out
}

func (h *Handler) groupNames(r *http.Request, v *visit) ([]string, error) {
	gs, err := h.svc.Groups(r.Context(), v.actor)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(gs))
	for i, g := range gs {
		names[i] = g.Name
	}
	return names, nil
}

func (h *Handler) newPolicy(w http.ResponseWriter, r *http.Request, v *visit) error {
	kind := r.URL.Query().Get("kind")
	if !slices.Contains([]string{hoist.KindApplication, hoist.KindJITStartup, hoist.KindJITMode, hoist.KindJITChildren}, kind) {
		kind = hoist.KindApplication
	}
	p := hoist.Policy{Kind: kind, Groups: []string{hoist.DefaultGroup}}
	if kind == hoist.KindApplication {
		// A new rule starts by recording, not by deciding: "audit" changes
		// nothing until the admin picks what the rule should do.
		p.Application = &hoist.ApplicationRule{Action: hoist.ActionAudit}
	}
	return h.policyFormAgain(w, r, v, policyForm{New: true, Policy: p, Values: policyValues(p)})
}

func (h *Handler) createPolicy(w http.ResponseWriter, r *http.Request, v *visit) error {
	kind := r.PostForm.Get("kind")
	p, errs := parsePolicy(kind, r.PostForm)
	if len(errs) > 0 {
		mergeFields(errs, p.Validate())
	}
	if len(errs) == 0 {
		created, err := h.svc.CreatePolicy(r.Context(), v.actor, p)
		if err == nil {
			return h.saved(w, r, created, "Created policy "+created.Name+". It is inactive until you turn it on.")
		}
		if !formError(err, errs) {
			return err
		}
	}
	return h.policyFormAgain(w, r, v, policyForm{New: true, Policy: p, Values: r.PostForm, Errors: errs})
}

// saved ends a create or edit of p: back to the list, or, when the policy
// linter warns about p, to p's page, which shows the warnings.
func (h *Handler) saved(w http.ResponseWriter, r *http.Request, p hoist.Policy, message string) error {
	if len(hoist.LintWarnings(hoist.LintPolicy(p))) == 0 {
		return h.done(w, r, "/policies", true, message)
	}
	return h.done(w, r, "/policies/"+url.PathEscape(p.ID), true, message+" The policy linter warns about it: see below.")
}

// formError moves a refusal that belongs on the form (bad fields, a name
// taken, a stale edit) into errs, and reports whether it did.
func formError(err error, errs map[string]string) bool {
	var he *hoist.Error
	if !asHoistError(err, &he) {
		return false
	}
	switch he.Code {
	case hoist.EInvalid, hoist.EConflict, hoist.EForbidden, hoist.ENotFound:
	default:
		return false
	}
	for k, m := range he.Fields {
		errs[k] = m
	}
	if len(he.Fields) == 0 {
		errs[""] = he.Message
	}
	return true
}

func (h *Handler) policyFormAgain(w http.ResponseWriter, r *http.Request, v *visit, f policyForm) error {
	groups, err := h.groupNames(r, v)
	if err != nil {
		return err
	}
	f.Groups, f.Summary, f.CanEdit = groups, f.Errors[""], hoist.Can(v.actor.Role, hoist.PermitManagePolicies)
	foldArgvErrors(f.Errors)
	h.render(w, r, http.StatusOK, "policy", v, f)
	return nil
}

func (h *Handler) editPolicy(w http.ResponseWriter, r *http.Request, v *visit) error {
	p, err := h.svc.Policy(r.Context(), v.actor, r.PathValue("key"))
	if err != nil {
		return err
	}
	// A stored policy that no longer validates (the old args form) opens
	// with its errors shown: what to change before it can be saved.
	errs := map[string]string{}
	mergeFields(errs, p.Validate())
	return h.policyFormAgain(w, r, v, policyForm{Policy: p, Values: policyValues(p), Heading: p.Name, Errors: errs, Warnings: hoist.LintWarnings(hoist.LintPolicy(p))})
}

func (h *Handler) savePolicy(w http.ResponseWriter, r *http.Request, v *visit) error {
	cur, err := h.svc.Policy(r.Context(), v.actor, r.PathValue("key"))
	if err != nil {
		return err
	}
	p, errs := parsePolicy(cur.Kind, r.PostForm)
	if p.Startup != nil && cur.Startup != nil {
		// The automatic approval rules have no form yet: a save keeps
		// them as they are (the API and hoist admin policies edit them).
		p.Startup.AutoApprove = cur.Startup.AutoApprove
	}
	if p.Version == 0 {
		// An edit must say what it edited: without it, it could undo a
		// change it never saw.
		errs[""] = "The form lost track of which version of the policy it edits; reload the page."
	}
	if len(errs) > 0 {
		mergeFields(errs, p.Validate())
	}
	if len(errs) == 0 {
		saved, err := h.svc.UpdatePolicy(r.Context(), v.actor, cur.ID, p)
		if err == nil {
			return h.saved(w, r, saved, "Saved policy "+saved.Name+".")
		}
		if !formError(err, errs) {
			return err
		}
	}
	p.ID, p.CreatedAt, p.UpdatedAt, p.UpdatedBy = cur.ID, cur.CreatedAt, cur.UpdatedAt, cur.UpdatedBy
	return h.policyFormAgain(w, r, v, policyForm{Policy: p, Values: r.PostForm, Errors: errs, Heading: cur.Name})
}

func (h *Handler) setPolicyActive(w http.ResponseWriter, r *http.Request, v *visit) error {
	active := r.PostForm.Get("active") == "true"
	p, err := h.svc.SetPolicyActive(r.Context(), v.actor, r.PathValue("key"), active)
	if err != nil {
		return h.refused(w, r, "/policies", err)
	}
	state := "off"
	if p.Active {
		state = "on"
	}
	msg := "Turned " + state + " policy " + p.Name + ". Agents hear of it now."
	if !p.Active && p.Kind != hoist.KindApplication {
		msg += " Where JIT mode stops, the sessions running end."
	}
	return h.done(w, r, "/policies", true, msg)
}

func (h *Handler) duplicatePolicy(w http.ResponseWriter, r *http.Request, v *visit) error {
	p, err := h.svc.DuplicatePolicy(r.Context(), v.actor, r.PathValue("key"), strings.TrimSpace(r.PostForm.Get("name")), nil)
	if err != nil {
		return h.refused(w, r, "/policies", err)
	}
	return h.done(w, r, "/policies/"+url.PathEscape(p.ID), true, "Duplicated as "+p.Name+" (inactive). Edit it below.")
}

func (h *Handler) deletePolicy(w http.ResponseWriter, r *http.Request, v *visit) error {
	p, err := h.svc.Policy(r.Context(), v.actor, r.PathValue("key"))
	if err != nil {
		return err
	}
	if err := h.svc.DeletePolicy(r.Context(), v.actor, p.ID); err != nil {
		return h.refused(w, r, "/policies", err)
	}
	return h.done(w, r, "/policies", true, "Deleted policy "+p.Name+".")
}
