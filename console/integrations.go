package console

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/control"
)

type integrationsData struct {
	Integrations []integrationRow
	Kinds        []hoist.SinkKind
	Events       []string
	// New holds a refused integration's fields as typed (never a secret).
	New map[string]string
}

type integrationRow struct {
	control.IntegrationView
	DeadLetters []hoist.Delivery
}

func (h *Handler) integrationsPage(w http.ResponseWriter, r *http.Request, v *visit, d integrationsData) error {
	vs, err := h.svc.Integrations(r.Context(), v.actor)
	if err != nil {
		return err
	}
	for _, it := range vs {
		row := integrationRow{IntegrationView: it}
		if it.Dead > 0 {
			if row.DeadLetters, err = h.svc.DeadLetters(r.Context(), v.actor, it.ID); err != nil {
				return err
			}
		}
		d.Integrations = append(d.Integrations, row)
	}
	d.Kinds, d.Events = hoist.SinkKinds, hoist.EventTypes
	if d.New == nil {
		d.New = map[string]string{"kind": string(hoist.SinkWebhook)}
	}
	h.render(w, r, http.StatusOK, "integrations", v, d)
	return nil
}

func (h *Handler) integrations(w http.ResponseWriter, r *http.Request, v *visit) error {
	return h.integrationsPage(w, r, v, integrationsData{})
}

// integrationForm is the fields of the console's form that are kept when
// it is refused: everything but the secrets.
var integrationForm = []string{"name", "kind", "url", "ca", "channel", "server", "security", "username", "from", "to", "address", "format", "events", "group", "allow_http"}

func (h *Handler) createIntegration(w http.ResponseWriter, r *http.Request, v *visit) error {
	f := r.PostForm
	in := control.IntegrationInput{Name: strings.TrimSpace(f.Get("name")), Kind: hoist.SinkKind(f.Get("kind")), Group: strings.TrimSpace(f.Get("group")),
		Events: formList(f.Get("events")),
		Config: hoist.SinkConfig{URL: strings.TrimSpace(f.Get("url")), Secret: f.Get("secret"), SigningSecret: f.Get("signing_secret"),
			CA: strings.TrimSpace(f.Get("ca")), AllowHTTP: f.Get("allow_http") == "on", Channel: strings.TrimSpace(f.Get("channel")),
			Server: strings.TrimSpace(f.Get("server")), Security: f.Get("security"), Username: strings.TrimSpace(f.Get("username")),
			From: strings.TrimSpace(f.Get("from")), To: formList(f.Get("to")), Address: strings.TrimSpace(f.Get("address")), Format: f.Get("format")}}
	if in.Kind != hoist.SinkSMTP {
		in.Config.Security = ""
	}
	if in.Kind != hoist.SinkSyslog {
		in.Config.Format = ""
	}
	it, err := h.svc.AddIntegration(r.Context(), v.actor, in)
	if err != nil {
		switch hoist.ErrorCode(err) {
		case hoist.EInvalid, hoist.EConflict:
			typed := map[string]string{}
			for _, k := range integrationForm {
				typed[k] = f.Get(k)
			}
			v.flash = flash{Message: hoist.ErrorMessage(err) + " Nothing was added."}
			return h.integrationsPage(w, r, v, integrationsData{New: typed})
		}
		return h.refused(w, r, "/integrations", err)
	}
	return h.done(w, r, "/integrations", true, "Added "+string(it.Kind)+" integration "+it.Name+". Send a test to see that it works.")
}

func (h *Handler) testIntegration(w http.ResponseWriter, r *http.Request, v *visit) error {
	name := r.PathValue("name")
	if err := h.svc.TestIntegration(r.Context(), v.actor, name); err != nil {
		return h.refused(w, r, "/integrations", err)
	}
	return h.done(w, r, "/integrations", true, "The test reached "+name+".")
}

func (h *Handler) retryIntegration(w http.ResponseWriter, r *http.Request, v *visit) error {
	name := r.PathValue("name")
	var ids []string
	if id := r.PostForm.Get("id"); id != "" {
		ids = []string{id}
	}
	n, err := h.svc.RetryDeadLetters(r.Context(), v.actor, name, ids)
	if err != nil {
		return h.refused(w, r, "/integrations", err)
	}
	return h.done(w, r, "/integrations", true, "Queued "+strconv.Itoa(n)+" dead letters of "+name+" again; what was waiting is retried now.")
}

func (h *Handler) deleteIntegration(w http.ResponseWriter, r *http.Request, v *visit) error {
	name := r.PathValue("name")
	if err := h.svc.RemoveIntegration(r.Context(), v.actor, name); err != nil {
		return h.refused(w, r, "/integrations", err)
	}
	return h.done(w, r, "/integrations", true, "Removed integration "+name+".")
}
