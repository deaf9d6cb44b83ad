package console

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/hoist-jit/hoist"
)

// page is what every template sees: the layout's needs, and the page's own
// Data.
type page struct {
	Name  string // the template, also the nav item that is current
	Title string
	Actor struct {
		Name string
		Role hoist.Role
	}
	CSRF  string
	Flash flash
	Nav   []navItem
	Now   time.Time
	Data  any
}

type navItem struct {
	Name, Label, Href string
}

// navFor lists the pages role may open.
func navFor(role hoist.Role) []navItem {
	items := []navItem{{"approvals", "Approvals", "/approvals"}, {"policies", "Policies", "/policies"},
		{"groups", "Computer groups", "/groups"},
		// The configuration every agent starts from: the default group's.
		{"config", "Agent configuration", "/groups/" + url.PathEscape(hoist.DefaultGroup) + "#config-h"},
		{"agents", "Agents", "/agents"}}
	if hoist.Can(role, hoist.PermitDecide) {
		items = append(items, navItem{"offline", "Offline approval", "/offline"})
	}
	items = append(items, navItem{"emergency", "Emergency codes", "/emergency"})
	// Approvers read the audit of the sessions they approved.
	if hoist.Can(role, hoist.PermitReadAudit) || hoist.Can(role, hoist.PermitDecide) {
		items = append(items, navItem{"audit", "Audit", "/audit"})
	}
	if hoist.Can(role, hoist.PermitManageUsers) {
		items = append(items, navItem{"users", "Users", "/users"})
	}
	if hoist.Can(role, hoist.PermitManageIntegrations) {
		items = append(items, navItem{"integrations", "Integrations", "/integrations"})
	}
	return items
}

var pageTitles = map[string]string{
	"login": "Sign in", "approvals": "Approvals", "policies": "Policies", "policy": "Policy",
	"groups": "Computer groups", "group": "Computer group", "agents": "Agents", "audit": "Audit", "users": "Users", "request": "Request", "account": "Your account", "error": "Error",
	"agent": "Agent", "integrations": "Integrations",
	"recording": "Terminal recording",
	"offline":   "Offline approval", "emergency": "Emergency codes",
	"sso":     "Signed in",
	"session": "Session", "commands": "Programs run in sessions",
}

func parsePages() map[string]*template.Template {
	funcs := template.FuncMap{
		"dur":       formatDuration,
		"when":      func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
		"iso":       func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"ago":       ago,
		"left":      func(now, end time.Time) string { return formatDuration(end.Sub(now).Round(time.Second)) },
		"join":      strings.Join,
		"split":     strings.Fields,
		"tri":       triState,
		"has":       slices.Contains[[]string],
		"can":       func(role hoist.Role, p string) bool { return hoist.Can(role, hoist.Permit(p)) },
		"isJIT":     func(kind string) bool { return kind != hoist.KindApplication },
		"kindLabel": kindLabel,
		"field":     newField,
		"brk":       brk,
		"ph":        withPlaceholder,
		"defaults":  configDefaults,
		"inc":       func(i int) int { return i + 1 },
		"fields":    detailFields,
		"objLink":   objectLink,
		"brkValue":  brkValue,
		"hasPrefix": strings.HasPrefix,
		"clock":     func(t time.Time) string { return t.UTC().Format("15:04:05") },
	}
	base := template.Must(template.New("layout").Funcs(funcs).ParseFS(templateFiles, "templates/layout.html", "templates/parts.html"))
	names, err := fs.Glob(templateFiles, "templates/*.html")
	if err != nil {
		panic(err)
	}
	pages := map[string]*template.Template{}
	for _, file := range names {
		name := strings.TrimSuffix(path.Base(file), ".html")
		if name == "layout" || name == "parts" {
			continue
		}
		pages[name] = template.Must(template.Must(base.Clone()).ParseFS(templateFiles, file))
	}
	return pages
}

// render writes page name inside the layout. It renders into a buffer first,
// so that a template error becomes an error page, never half a page.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, name string, v *visit, data any) {
	// The one-time message is taken here, when a whole page is drawn, so
	// that a background poll or an asset cannot swallow it.
	if v.flash.Message == "" {
		v.flash = h.takeFlash(w, r)
	}
	p := page{Name: name, Title: pageTitles[name], CSRF: v.csrf, Flash: v.flash, Now: h.clock(), Data: data}
	p.Actor.Name, p.Actor.Role = v.actor.Name, v.actor.Role
	if v.actor.Name != "" {
		p.Nav = navFor(v.actor.Role)
	}
	var buf bytes.Buffer
	t := h.pages[name]
	if t == nil {
		panic("console: no template " + name)
	}
	if err := t.ExecuteTemplate(&buf, "layout", p); err != nil {
		h.log.Error("console template failed", "page", name, "err", err)
		http.Error(w, "The page could not be drawn; the server log says why.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// renderPart writes one named template alone (the live parts of a page).
func (h *Handler) renderPart(w http.ResponseWriter, name, part string, data any) error {
	var buf bytes.Buffer
	if err := h.pages[name].ExecuteTemplate(&buf, part, data); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, err := w.Write(buf.Bytes())
	return err
}

// triState names an optional yes/no setting.
func triState(b *bool) string {
	switch {
	case b == nil:
		return "inherit"
	case *b:
		return "Yes"
	}
	return "No"
}

// formatDuration writes "1h", "30m", "1h30m", "45s" without Go's trailing
// zero units. It is exact: what a form shows is what it saves again.
func formatDuration(d time.Duration) string {
	if d <= 0 {
		return "0s"
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func formatDurations(ds []hoist.Duration) string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = formatDuration(d.D())
	}
	return strings.Join(out, ", ")
}

func ago(now, t time.Time) string {
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h ago", int(d.Hours()))
	}
	return fmt.Sprintf("%d days ago", int(d.Hours()/24))
}

func kindLabel(kind string) string {
	switch kind {
	case hoist.KindJITStartup:
		return "JIT Mode (Startup and Approval)"
	case hoist.KindJITMode:
		return "JIT Mode"
	case hoist.KindJITChildren:
		return "JIT Mode (Child Processes)"
	case hoist.KindApplication:
		return "Application"
	}
	return kind
}

// field is one labelled input of a form, with its value as last typed and
// the error for it.
type field struct {
	Name, Label, Hint, Value, Error string
	Values                          []string
	// Placeholder is shown in an empty input: what empty means.
	Placeholder string
}

// withPlaceholder is f showing p while empty.
func withPlaceholder(f field, p string) field {
	f.Placeholder = p
	return f
}

// ID is the element id, also used to tie the hint and error to the input.
func (f field) ID() string { return "f-" + strings.ReplaceAll(f.Name, ".", "-") }

func newField(values url.Values, errs map[string]string, name, label, hint string) field {
	return field{Name: name, Label: label, Hint: hint, Value: values.Get(name), Values: values[name], Error: errs[name]}
}

// brk writes s escaped, with a line-break opportunity (<wbr>) after each
// separator inside it (. / _ - : = , @ and ",") so that a long token — a
// dotted action, a path, an id — wraps between its parts, while words and
// numbers stay whole (console.css breaks nothing mid-word).
func brk(s string) template.HTML {
	var b strings.Builder
	for i, r := range s {
		b.WriteString(template.HTMLEscapeString(string(r)))
		if strings.ContainsRune("./_-:=,@", r) && i+1 < len(s) {
			b.WriteString("<wbr>")
		}
	}
	return template.HTML(b.String())
}

// configDefaults are what an empty agent configuration field means where
// no other group of the agent sets it, as the group page's placeholders
// say.
func configDefaults() map[string]string {
	return map[string]string{
		"config.reminders":        "default: " + formatDurations(hoist.DefaultReminders),
		"config.default_duration": "default: the policy's, else " + formatDuration(hoist.DefaultOneTimeDuration),
		"config.max_duration":     "default: the policy's, else " + formatDuration(hoist.DefaultMaxDuration),
		"config.checkin_interval": "default: " + formatDuration(hoist.DefaultCheckinInterval),
		"config.grace":            "default: the policy's, else " + formatDuration(hoist.DefaultGrace),
		"config.reminder_every":   "default: the policy's, else every " + formatDuration(hoist.DefaultReminderEvery),
	}
}
