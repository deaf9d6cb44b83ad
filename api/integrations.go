package api

import (
	"context"
	"errors"
	"io"
	"mime"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/control"
)

// RetryBody names the dead letters to queue again; none: all of them.
type RetryBody struct {
	IDs []string `json:"ids,omitempty"`
}

// RetryAnswer says how many dead letters were queued again.
type RetryAnswer struct {
	Retried int `json:"retried"`
}

// TestAnswer is the answer of a test send that got through.
type TestAnswer struct {
	OK bool `json:"ok"`
}

func (h *Handler) listIntegrations(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
		return err
	}
	vs, err := h.svc.Integrations(r.Context(), actorFrom(r.Context()))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"integrations": vs})
	return nil
}

func (h *Handler) addIntegration(w http.ResponseWriter, r *http.Request) error {
	var in control.IntegrationInput
	if err := decodeBody(w, r, &in); err != nil {
		return err
	}
	v, err := h.svc.AddIntegration(r.Context(), actorFrom(r.Context()), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, v)
	return nil
}

func (h *Handler) removeIntegration(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.RemoveIntegration(r.Context(), actorFrom(r.Context()), r.PathValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) testIntegration(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.TestIntegration(r.Context(), actorFrom(r.Context()), r.PathValue("name")); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, TestAnswer{OK: true})
	return nil
}

func (h *Handler) deadLetters(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
		return err
	}
	ds, err := h.svc.DeadLetters(r.Context(), actorFrom(r.Context()), r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string][]hoist.Delivery{"deliveries": ds})
	return nil
}

func (h *Handler) retryIntegration(w http.ResponseWriter, r *http.Request) error {
	var in RetryBody
	if err := decodeBody(w, r, &in); err != nil {
		return err
	}
	if len(in.IDs) > control.MaxBatch {
		return hoist.FieldErrorf("ids", "at most %d at once", control.MaxBatch)
	}
	n, err := h.svc.RetryDeadLetters(r.Context(), actorFrom(r.Context()), r.PathValue("name"), in.IDs)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, RetryAnswer{Retried: n})
	return nil
}

// integrationCollector reports each integration's delivery, read at scrape
// time: this server's delivered and failed attempts, and the store's count
// of what waits (the lag, in events or audit records) and dead letters.
type integrationCollector struct{ svc *control.Service }

var (
	intDeliveredDesc = prometheus.NewDesc("hoist_integration_delivered_total", "Deliveries this server got through, per integration.", []string{"integration", "kind"}, nil)
	intFailedDesc    = prometheus.NewDesc("hoist_integration_failed_total", "Delivery attempts of this server that failed, per integration.", []string{"integration", "kind"}, nil)
	intLagDesc       = prometheus.NewDesc("hoist_integration_lag", "Events (for SIEM sinks audit records) not yet delivered, per integration.", []string{"integration", "kind"}, nil)
	intDeadDesc      = prometheus.NewDesc("hoist_integration_dead_letters", "Deliveries given up on, per integration.", []string{"integration", "kind"}, nil)
	intOpenDesc      = prometheus.NewDesc("hoist_integration_breaker_open", "1 while the integration's breaker holds deliveries back.", []string{"integration", "kind"}, nil)
)

func (c integrationCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{intDeliveredDesc, intFailedDesc, intLagDesc, intDeadDesc, intOpenDesc} {
		ch <- d
	}
}

func (c integrationCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	vs, err := c.svc.IntegrationStats(ctx)
	if err != nil {
		return
	}
	counts := c.svc.DeliveryCounters().Snapshot()
	for _, v := range vs {
		labels := []string{v.Name, string(v.Kind)}
		n := counts[v.Name]
		open := 0.0
		if v.BreakerOpen {
			open = 1
		}
		ch <- prometheus.MustNewConstMetric(intDeliveredDesc, prometheus.CounterValue, float64(n[0]), labels...)
		ch <- prometheus.MustNewConstMetric(intFailedDesc, prometheus.CounterValue, float64(n[1]), labels...)
		ch <- prometheus.MustNewConstMetric(intLagDesc, prometheus.GaugeValue, float64(v.Pending), labels...)
		ch <- prometheus.MustNewConstMetric(intDeadDesc, prometheus.GaugeValue, float64(v.Dead), labels...)
		ch <- prometheus.MustNewConstMetric(intOpenDesc, prometheus.GaugeValue, open, labels...)
	}
}

// SlackAnswer is the answer to a Slack button: a message only the person
// who pressed it sees.
type SlackAnswer struct {
	ResponseType    string `json:"response_type"`
	Text            string `json:"text"`
	ReplaceOriginal bool   `json:"replace_original"`
}

// slackAction takes Slack's interactive callbacks. It needs no token: the
// call is authenticated by Slack's signature (control.SlackAction).
func (h *Handler) slackAction(w http.ResponseWriter, r *http.Request) error {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/x-www-form-urlencoded" {
		return hoist.Errorf(hoist.EInvalid, "the body must be application/x-www-form-urlencoded, as Slack sends it")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return hoist.Errorf(hoist.ETooLarge, "the body is larger than %d bytes", MaxBodyBytes)
	}
	if err != nil {
		return hoist.Errorf(hoist.EInvalid, "cannot read the body")
	}
	text, err := h.svc.SlackAction(r.Context(), r.PathValue("name"), control.SlackCall{
		Timestamp: r.Header.Get("X-Slack-Request-Timestamp"), Signature: r.Header.Get("X-Slack-Signature"), Body: body})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, SlackAnswer{ResponseType: "ephemeral", Text: text})
	return nil
}
