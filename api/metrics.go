package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hoist-jit/hoist"
)

type metrics struct {
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	decisions *prometheus.CounterVec
}

func newMetrics(reg *prometheus.Registry, store hoist.Store, clock func() time.Time) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hoist_http_requests_total", Help: "HTTP requests answered, by route and status code.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "hoist_http_request_duration_seconds", Help: "Time to answer HTTP requests, by route.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hoist_decisions_total", Help: "Approve, deny and revoke outcomes per id.",
		}, []string{"decision", "result"}),
	}
	reg.MustRegister(m.requests, m.latency, m.decisions)
	if store != nil {
		reg.MustRegister(&storeCollector{store: store})
	}
	return m
}

func (m *metrics) observe(route string, status int, d time.Duration) {
	m.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(route).Observe(d.Seconds())
}

func (m *metrics) decision(outcome string, ok bool) {
	result := "ok"
	if !ok {
		result = "refused"
	}
	m.decisions.WithLabelValues(outcome, result).Inc()
}

// storeCollector reports the gauges that only the store knows, read at
// scrape time so that every replica reports the same fleet-wide numbers.
type storeCollector struct{ store hoist.Store }

var (
	pendingDesc = prometheus.NewDesc("hoist_requests_pending", "JIT requests waiting for a decision.", nil, nil)
	activeDesc  = prometheus.NewDesc("hoist_sessions_active", "JIT sessions active now.", nil, nil)
	auditDesc   = prometheus.NewDesc("hoist_audit_records", "Records in the audit log.", nil, nil)
)

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- pendingDesc
	ch <- activeDesc
	ch <- auditDesc
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = c.store.View(ctx, func(tx hoist.Tx) error {
		pending, err := tx.Requests(ctx, hoist.RequestFilter{State: hoist.RequestPending, Limit: hoist.MaxListLimit})
		if err != nil {
			return err
		}
		active, err := tx.Sessions(ctx, hoist.SessionFilter{State: hoist.SessionActive, Limit: hoist.MaxListLimit})
		if err != nil {
			return err
		}
		seq, _, err := tx.AuditHead(ctx)
		if err != nil {
			return err
		}
		ch <- prometheus.MustNewConstMetric(pendingDesc, prometheus.GaugeValue, float64(len(pending)))
		ch <- prometheus.MustNewConstMetric(activeDesc, prometheus.GaugeValue, float64(len(active)))
		ch <- prometheus.MustNewConstMetric(auditDesc, prometheus.GaugeValue, float64(seq))
		return nil
	})
}

// MetricsHandler serves reg's metrics to anyone who can reach it: for a
// listener of its own (hoist-server serve --metrics-listen), usually on a
// private address.
func MetricsHandler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

// metricsGate lets a request through to next only with the header
// "Authorization: Bearer TOKEN". With an empty token nothing passes: the
// metrics are not public on the main listener unless protected.
func metricsGate(token string, next http.Handler) http.Handler {
	// Hashes of equal length, so that the comparison takes the same time
	// whatever the length of what was sent.
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sent, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		got := sha256.Sum256([]byte(sent))
		if token != "" && ok && subtle.ConstantTimeCompare(got[:], want[:]) == 1 {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="hoist-metrics"`)
		msg := "/metrics needs the header Authorization: Bearer with the token of --metrics-token-file"
		if token == "" {
			msg = "/metrics is not served on this listener: start hoist-server serve with --metrics-listen ADDR " +
				"(a listener of its own) or --metrics-token-file FILE (a bearer token here)"
		}
		writeJSON(w, http.StatusUnauthorized, ErrorBody{Error: ErrorDetail{Code: hoist.EUnauthorized, Message: msg}})
	})
}
