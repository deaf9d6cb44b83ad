package console

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/wire"
)

func asHoistError(err error, target **hoist.Error) bool { return errors.As(err, target) }

// ErrorList is the new-group form's errors in the order of its fields.
func (d groupsData) ErrorList() []errorItem { return errorList(d.Errors, groupFields) }

type groupsData struct {
	Groups  []groupRow
	CanEdit bool
	// New holds a rejected new group's values and errors.
	New    url.Values
	Errors map[string]string
}

type groupRow struct {
	Group  hoist.ComputerGroup
	Agents int
}

func (h *Handler) groups(w http.ResponseWriter, r *http.Request, v *visit) error {
	return h.groupsPage(w, r, v, nil, nil)
}

func (h *Handler) groupsPage(w http.ResponseWriter, r *http.Request, v *visit, values url.Values, errs map[string]string) error {
	gs, err := h.svc.Groups(r.Context(), v.actor)
	if err != nil {
		return err
	}
	views, err := h.svc.AgentViews(r.Context(), v.actor)
	if err != nil {
		return err
	}
	members := map[string]int{}
	for _, a := range views {
		if a.Revoked {
			continue
		}
		for _, g := range a.Groups {
			members[g]++
		}
	}
	d := groupsData{CanEdit: hoist.Can(v.actor.Role, hoist.PermitManagePolicies), New: values, Errors: errs}
	if d.New == nil {
		d.New = url.Values{"priority": {"0"}}
	}
	for _, g := range gs {
		d.Groups = append(d.Groups, groupRow{Group: g, Agents: members[g.Name]})
	}
	h.render(w, r, http.StatusOK, "groups", v, d)
	return nil
}

// parseGroup reads the name, description, priority and rules of a group.
func parseGroup(form url.Values) (hoist.ComputerGroup, map[string]string) {
	errs := map[string]string{}
	g := hoist.ComputerGroup{Name: strings.TrimSpace(form.Get("name")), Description: strings.TrimSpace(form.Get("description")),
		Rules: hoist.GroupRules{Hostname: strings.TrimSpace(form.Get("rules.hostname")), OS: strings.TrimSpace(form.Get("rules.os")),
			MinAgentVersion: strings.TrimSpace(form.Get("rules.min_agent_version"))}}
	if s := strings.TrimSpace(form.Get("priority")); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			errs["priority"] = "a whole number between -1000 and 1000"
		}
		g.Priority = n
	}
	if s := form.Get("version"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			errs[""] = "The form lost track of which version of the group it edits; reload the page."
		}
		g.Version = n
	}
	return g, errs
}

func (h *Handler) createGroup(w http.ResponseWriter, r *http.Request, v *visit) error {
	g, errs := parseGroup(r.PostForm)
	if len(errs) > 0 {
		mergeFields(errs, g.Validate())
	}
	if len(errs) == 0 {
		created, err := h.svc.CreateGroup(r.Context(), v.actor, g)
		if err == nil {
			return h.done(w, r, "/groups/"+url.PathEscape(created.ID), true, "Created computer group "+created.Name+".")
		}
		if !formError(err, errs) {
			return err
		}
	}
	return h.groupsPage(w, r, v, r.PostForm, errs)
}

// groupData is the page of one group: its rules and its agent configuration,
// each a form of its own.
type groupData struct {
	Group   hoist.ComputerGroup
	Values  url.Values
	Errors  map[string]string
	Config  url.Values
	CErrors map[string]string
	Members []wire.AgentView
	CanEdit bool
	Default bool
	Summary string
}

func (f groupData) Value(name string) string { return f.Values.Get(name) }

// ErrorList is both forms' errors in the order of their fields.
func (f groupData) ErrorList() []errorItem {
	all := map[string]string{}
	for _, m := range []map[string]string{f.Errors, f.CErrors} {
		for k, v := range m {
			all[k] = v
		}
	}
	return errorList(all, groupFields)
}

// groupFields are the group page's fields in the order it shows them.
var groupFields = []fieldLabel{
	{"config.create_jit_shortcut", "Create JIT mode shortcut"}, {"config.reminders", "Reminders"},
	{"config.default_duration", "Default window"}, {"config.max_duration", "Longest window"},
	{"config.checkin_interval", "Check-in interval"}, {"config.grace", "Grace at the end"},
	{"config.elevate_sudo", "Elevate sudo and pkexec"}, {"config.reminder_every", "Remind every"},
	{"config.change_report", "Change report"}, {"config.change_report_files", "Files compared"},
	{"config.record_terminal", "Record terminals"},
	{"name", "Name"}, {"description", "Description"}, {"priority", "Priority"},
	{"rules.hostname", "Hostname pattern"}, {"rules.os", "Operating system"}, {"rules.min_agent_version", "Lowest agent version"},
}

func (f groupData) CValue(name string) string { return f.Config.Get(name) }

func groupValues(g hoist.ComputerGroup) url.Values {
	v := url.Values{}
	v.Set("name", g.Name)
	v.Set("description", g.Description)
	v.Set("priority", strconv.Itoa(g.Priority))
	v.Set("rules.hostname", g.Rules.Hostname)
	v.Set("rules.os", g.Rules.OS)
	v.Set("rules.min_agent_version", g.Rules.MinAgentVersion)
	v.Set("version", strconv.Itoa(g.Version))
	return v
}

// configValues writes c as form fields. An unset field is empty ("inherit"),
// which is not the same as a set false or zero.
func configValues(c hoist.AgentConfig, version int) url.Values {
	v := url.Values{}
	v.Set("version", strconv.Itoa(version))
	v.Set("config.create_jit_shortcut", yesNo(c.CreateJITShortcut))
	v.Set("config.elevate_sudo", yesNo(c.ElevateSudo))
	v.Set("config.change_report", yesNo(c.ChangeReport))
	if c.ChangeReportFiles != nil {
		v.Set("config.change_report_files", strings.Join(c.ChangeReportFiles, ", "))
	}
	if c.RecordTerminal != nil {
		v.Set("config.record_terminal", *c.RecordTerminal)
	}
	v.Set("config.reminders", formatDurations(c.Reminders))
	for name, d := range map[string]*hoist.Duration{"config.default_duration": c.DefaultDuration, "config.max_duration": c.MaxDuration,
		"config.checkin_interval": c.CheckinInterval, "config.grace": c.Grace, "config.reminder_every": c.ReminderEvery} {
		if d != nil {
			v.Set(name, formatDuration(d.D()))
		}
	}
	return v
}

// yesNo is a yes/no field's form value: "" (inherit) when unset.
func yesNo(b *bool) string {
	switch {
	case b == nil:
		return ""
	case *b:
		return "yes"
	}
	return "no"
}

// parseYesNo reads a yes/no field: nil for "" (inherit); false when s is
// none of the three.
func parseYesNo(s string) (*bool, bool) {
	switch s {
	case "yes", "no":
		b := s == "yes"
		return &b, true
	case "":
		return nil, true
	}
	return nil, false
}

func parseConfig(form url.Values) (hoist.AgentConfig, map[string]string) {
	errs := map[string]string{}
	var c hoist.AgentConfig
	for name, dst := range map[string]**bool{"config.create_jit_shortcut": &c.CreateJITShortcut, "config.elevate_sudo": &c.ElevateSudo,
		"config.change_report": &c.ChangeReport} {
		var ok bool
		if *dst, ok = parseYesNo(form.Get(name)); !ok {
			errs[name] = "choose Yes, No or Inherit"
		}
	}
	if files := splitList(form.Get("config.change_report_files")); len(files) > 0 {
		c.ChangeReportFiles = files
	}
	switch rt := form.Get("config.record_terminal"); rt {
	case "":
	case hoist.RecordOff, hoist.RecordOutput, hoist.RecordOutputAndInput:
		c.RecordTerminal = &rt
	default:
		errs["config.record_terminal"] = "choose what to record, Off or Inherit"
	}
	for _, s := range splitList(form.Get("config.reminders")) {
		d, err := hoist.ParseDuration(s)
		if err != nil {
			errs["config.reminders"] = "durations such as 10m, 1m, separated by commas: " + hoist.ErrorMessage(err)
			break
		}
		c.Reminders = append(c.Reminders, hoist.Duration(d))
	}
	for name, dst := range map[string]**hoist.Duration{"config.default_duration": &c.DefaultDuration, "config.max_duration": &c.MaxDuration,
		"config.checkin_interval": &c.CheckinInterval, "config.grace": &c.Grace, "config.reminder_every": &c.ReminderEvery} {
		s := strings.TrimSpace(form.Get(name))
		if s == "" {
			continue
		}
		d, err := formDuration(s)
		if err != nil {
			errs[name] = hoist.ErrorMessage(err) + ", or empty to inherit"
			continue
		}
		hd := hoist.Duration(d)
		*dst = &hd
	}
	return c, errs
}

func (h *Handler) groupPage(w http.ResponseWriter, r *http.Request, v *visit, d groupData) error {
	views, err := h.svc.AgentViews(r.Context(), v.actor)
	if err != nil {
		return err
	}
	for _, a := range views {
		for _, g := range a.Groups {
			if g == d.Group.Name && !a.Revoked {
				d.Members = append(d.Members, a)
			}
		}
	}
	if d.Values == nil {
		d.Values = groupValues(d.Group)
	}
	if d.Config == nil {
		d.Config = configValues(d.Group.Config, d.Group.Version)
	}
	d.CanEdit, d.Default = hoist.Can(v.actor.Role, hoist.PermitManagePolicies), d.Group.Name == hoist.DefaultGroup
	if d.Summary == "" {
		d.Summary = d.Errors[""] + d.CErrors[""]
	}
	h.render(w, r, http.StatusOK, "group", v, d)
	return nil
}

func (h *Handler) editGroup(w http.ResponseWriter, r *http.Request, v *visit) error {
	g, err := h.svc.Group(r.Context(), v.actor, r.PathValue("key"))
	if err != nil {
		return err
	}
	return h.groupPage(w, r, v, groupData{Group: g})
}

func (h *Handler) saveGroup(w http.ResponseWriter, r *http.Request, v *visit) error {
	cur, err := h.svc.Group(r.Context(), v.actor, r.PathValue("key"))
	if err != nil {
		return err
	}
	g, errs := parseGroup(r.PostForm)
	g.Config = cur.Config
	if g.Version == 0 {
		errs[""] = "The form lost track of which version of the group it edits; reload the page."
	}
	if len(errs) > 0 {
		mergeFields(errs, g.Validate())
	}
	if len(errs) == 0 {
		saved, err := h.svc.UpdateGroup(r.Context(), v.actor, cur.ID, g)
		if err == nil {
			return h.done(w, r, "/groups/"+url.PathEscape(saved.ID), true, "Saved computer group "+saved.Name+".")
		}
		if !formError(err, errs) {
			return err
		}
	}
	return h.groupPage(w, r, v, groupData{Group: cur, Values: r.PostForm, Errors: errs})
}

func (h *Handler) saveGroupConfig(w http.ResponseWriter, r *http.Request, v *visit) error {
	cur, err := h.svc.Group(r.Context(), v.actor, r.PathValue("key"))
	if err != nil {
		return err
	}
	c, errs := parseConfig(r.PostForm)
	version, err := strconv.Atoi(r.PostForm.Get("version"))
	if err != nil || version < 1 {
		errs[""] = "The form lost track of which version of the group it edits; reload the page."
	}
	if len(errs) > 0 {
		check := cur
		check.Config = c
		mergeFields(errs, check.Validate())
	}
	if len(errs) == 0 {
		saved, err := h.svc.SetGroupConfigAt(r.Context(), v.actor, cur.ID, c, version)
		if err == nil {
			return h.done(w, r, "/groups/"+url.PathEscape(saved.ID), true, "Saved the agent configuration of "+saved.Name+". Its agents hear of it now.")
		}
		if !formError(err, errs) {
			return err
		}
	}
	return h.groupPage(w, r, v, groupData{Group: cur, Config: r.PostForm, CErrors: errs})
}

func (h *Handler) deleteGroup(w http.ResponseWriter, r *http.Request, v *visit) error {
	g, err := h.svc.Group(r.Context(), v.actor, r.PathValue("key"))
	if err != nil {
		return err
	}
	if err := h.svc.DeleteGroup(r.Context(), v.actor, g.ID); err != nil {
		return h.refused(w, r, "/groups/"+url.PathEscape(g.ID), err)
	}
	return h.done(w, r, "/groups", true, "Deleted computer group "+g.Name+".")
}

// formDuration reads a duration typed in a form the way the CLI does (30m,
// 2h, 1d, 1h30m), and also a zero ("0", "0s"), which some fields mean
// (a grace of 0 kills at once) and others refuse with their own message.
func formDuration(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	if d, err := time.ParseDuration(t); err == nil && d == 0 {
		return 0, nil // "0", "0s", "0m"
	}
	return hoist.ParseDuration(t)
}
