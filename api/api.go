// Package api is the control server's HTTP API: JSON under /api/v1, described
// by the OpenAPI document it serves, plus /healthz, /readyz and /metrics.
// Handlers decode and check input, call package control, and answer through
// one error writer; they hold no business rules.
package api

import (
	"context"
	_ "embed"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/control"
)

//go:embed openapi.json
var openAPI []byte

// Handler serves the API.
type Handler struct {
	svc     *control.Service
	store   hoist.Store
	log     *slog.Logger
	clock   func() time.Time
	mux     *http.ServeMux
	metrics *metrics
}

// Config configures a Handler.
type Config struct {
	Service  *control.Service
	Store    hoist.Store // for readiness and gauges
	Logger   *slog.Logger
	Clock    func() time.Time
	Registry *prometheus.Registry
	// MetricsToken is the bearer token GET /metrics requires here; without
	// one, /metrics answers 401 (it is served elsewhere, see
	// MetricsHandler, or not at all).
	MetricsToken string
}

// Route is one registered endpoint, as the OpenAPI test sees it.
type Route struct {
	Method string
	Path   string
	Auth   bool // needs an admin's bearer token
	Agent  bool // needs an agent's client certificate
}

// New returns a Handler with every route registered.
func New(cfg Config) *Handler {
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	h := &Handler{svc: cfg.Service, store: cfg.Store, log: cfg.Logger, clock: cfg.Clock, mux: http.NewServeMux()}
	h.metrics = newMetrics(cfg.Registry, cfg.Store, cfg.Clock)
	if cfg.Service != nil {
		cfg.Registry.MustRegister(integrationCollector{svc: cfg.Service})
	}
	for _, rt := range h.routes() {
		handler := rt.handle
		switch rt.auth {
		case authAdmin:
			handler = h.authenticated(rt.handle)
		case authAgent:
			handler = h.agentAuthenticated(rt.handle)
		}
		h.mux.Handle(rt.method+" "+rt.path, h.instrument(rt.method+" "+rt.path, handler))
	}
	h.mux.Handle("GET /metrics", withSecureHeaders(metricsGate(cfg.MetricsToken, MetricsHandler(cfg.Registry))))
	return h
}

type route struct {
	method, path string
	auth         authKind
	handle       handlerFunc
}

// authKind says who may call a route.
type authKind int

const (
	authNone  authKind = iota
	authAdmin          // a bearer token from /api/v1/login
	authAgent          // a client certificate from enrolment
)

// handlerFunc is a handler that returns its error to the one error writer.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

func (h *Handler) routes() []route {
	return []route{
		{"GET", "/healthz", authNone, h.healthz},
		{"GET", "/readyz", authNone, h.readyz},
		{"GET", "/api/v1/openapi.json", authNone, h.openapi},
		{"POST", "/api/v1/login", authNone, h.login},
		{"POST", "/api/v1/logout", authAdmin, h.logout},
		{"POST", "/api/v1/sso/start", authNone, h.ssoStart},
		{"POST", "/api/v1/sso/token", authNone, h.ssoToken},
		{"GET", "/api/v1/me", authAdmin, h.me},
		{"GET", "/api/v1/settings", authAdmin, h.settings},
		{"GET", "/api/v1/requests", authAdmin, h.listRequests},
		{"GET", "/api/v1/requests/{id}", authAdmin, h.getRequest},
		{"POST", "/api/v1/requests/approve", authAdmin, h.approve},
		{"POST", "/api/v1/requests/deny", authAdmin, h.deny},
		{"GET", "/api/v1/sessions", authAdmin, h.listSessions},
		{"GET", "/api/v1/sessions/{id}", authAdmin, h.getSession},
		{"POST", "/api/v1/sessions/revoke", authAdmin, h.revoke},
		{"GET", "/api/v1/commands", authAdmin, h.searchCommands},
		{"GET", "/api/v1/users", authAdmin, h.listUsers},
		{"POST", "/api/v1/users", authAdmin, h.createUser},
		{"PATCH", "/api/v1/users/{name}", authAdmin, h.updateUser},
		{"DELETE", "/api/v1/users/{name}", authAdmin, h.deleteUser},
		{"GET", "/api/v1/audit", authAdmin, h.listAudit},
		{"GET", "/api/v1/audit/verify", authAdmin, h.verifyAudit},
		{"GET", "/api/v1/audit/export", authAdmin, h.exportAudit},
		{"POST", "/api/v1/enroll-tokens", authAdmin, h.createEnrollToken},
		{"GET", "/api/v1/agents", authAdmin, h.listAgents},
		{"POST", "/api/v1/agents/{id}/revoke", authAdmin, h.revokeAgent},
		{"PUT", "/api/v1/agents/{id}/name", authAdmin, h.pinAgentName},
		{"DELETE", "/api/v1/agents/{id}/name", authAdmin, h.unpinAgentName},
		{"GET", "/api/v1/policies", authAdmin, h.listPolicies},
		{"POST", "/api/v1/policies", authAdmin, h.createPolicy},
		{"GET", "/api/v1/policies/{key}", authAdmin, h.getPolicy},
		{"PUT", "/api/v1/policies/{key}", authAdmin, h.updatePolicy},
		{"DELETE", "/api/v1/policies/{key}", authAdmin, h.deletePolicy},
		{"POST", "/api/v1/policies/{key}/activate", authAdmin, h.activatePolicy},
		{"POST", "/api/v1/policies/{key}/deactivate", authAdmin, h.deactivatePolicy},
		{"POST", "/api/v1/policies/{key}/duplicate", authAdmin, h.duplicatePolicy},
		{"GET", "/api/v1/groups", authAdmin, h.listGroups},
		{"POST", "/api/v1/groups", authAdmin, h.createGroup},
		{"GET", "/api/v1/groups/{key}", authAdmin, h.getGroup},
		{"PUT", "/api/v1/groups/{key}", authAdmin, h.updateGroup},
		{"DELETE", "/api/v1/groups/{key}", authAdmin, h.deleteGroup},
		{"PUT", "/api/v1/groups/{key}/config", authAdmin, h.setGroupConfig},
		{"GET", "/api/v1/integrations", authAdmin, h.listIntegrations},
		{"POST", "/api/v1/integrations", authAdmin, h.addIntegration},
		{"DELETE", "/api/v1/integrations/{name}", authAdmin, h.removeIntegration},
		{"POST", "/api/v1/integrations/{name}/test", authAdmin, h.testIntegration},
		{"GET", "/api/v1/integrations/{name}/dead-letters", authAdmin, h.deadLetters},
		{"POST", "/api/v1/integrations/{name}/retry", authAdmin, h.retryIntegration},
		{"POST", "/api/v1/integrations/{name}/slack-actions", authNone, h.slackAction},
		{"POST", "/agent/v1/enroll", authNone, h.enroll},
		{"POST", "/agent/v1/checkin", authAgent, h.checkin},
		{"POST", "/agent/v1/requests", authAgent, h.agentRequest},
		{"POST", "/agent/v1/requests/cancel", authAgent, h.agentCancel},
		{"GET", "/agent/v1/events", authAgent, h.agentEvents},
		{"POST", "/agent/v1/audit", authAgent, h.agentAudit},
		{"POST", "/agent/v1/sessions/{id}/ended", authAgent, h.agentSessionEnded},
		{"GET", "/api/v1/sessions/{id}/recordings", authAdmin, h.listRecordings},
		{"GET", "/api/v1/recordings/{id}", authAdmin, h.getRecording},
		{"PUT", "/agent/v1/recordings/{id}", authAgent, h.agentRecording},
		{"POST", "/api/v1/offline/decode", authAdmin, h.decodeOffline},
		{"POST", "/api/v1/offline/approve", authAdmin, h.approveOffline},
		{"POST", "/api/v1/emergency-codes", authAdmin, h.issueEmergencyCodes},
		{"GET", "/api/v1/emergency-codes", authAdmin, h.listEmergencyCodes},
		{"POST", "/api/v1/emergency-codes/{id}/revoke", authAdmin, h.revokeEmergencyCode},
		{"POST", "/agent/v1/offline-key", authAgent, h.agentOfflineKey},
		{"POST", "/agent/v1/offline-key/ack", authAgent, h.agentOfflineKeyAck},
	}
}

// Routes lists the registered endpoints with their paths as OpenAPI writes
// them.
func (h *Handler) Routes() []Route {
	var out []Route
	for _, rt := range h.routes() {
		out = append(out, Route{Method: rt.method, Path: rt.path, Auth: rt.auth == authAdmin, Agent: rt.auth == authAgent})
	}
	return out
}

// ServeHTTP answers API requests. Unknown paths and methods get a JSON error
// like every other refusal, never the mux's plain text.
//
// Every answer forbids sniffing and storage (secureHeaders), set when it
// is written rather than here: a header map made before the handler runs
// stays allocated for as long as a long poll waits, ≈0.7 KiB per agent.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, pattern := h.mux.Handler(r); pattern == "" {
		h.noRoute(w, r)
		return
	}
	h.mux.ServeHTTP(w, r)
}

// secureHeaders are on every answer: no content-type sniffing, and no
// copy kept by a browser or a proxy (tokens, requests, the audit trail).
// A handler that set its own Cache-Control keeps it.
func secureHeaders(h http.Header) {
	h.Set("X-Content-Type-Options", "nosniff")
	if _, ok := h["Cache-Control"]; !ok {
		h.Set("Cache-Control", "no-store")
	}
}

// withSecureHeaders sets secureHeaders before next, for the one route not
// served through instrument (the metrics).
func withSecureHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		secureHeaders(w.Header())
		next.ServeHTTP(w, r)
	})
}

// noRoute answers a request that no route takes: 405 with Allow when the
// path has routes for other methods, else 404. Apart from ServeHTTP, whose
// frame every parked long poll keeps (see agentEvents), because its locals
// are large.
//
//go:noinline
func (h *Handler) noRoute(w http.ResponseWriter, r *http.Request) {
	secureHeaders(w.Header())
	cw := &statusCapture{header: http.Header{}}
	h.mux.ServeHTTP(cw, r)
	code := hoist.ENotFound
	msg := "no such endpoint: " + r.Method + " " + r.URL.Path
	if cw.status == http.StatusMethodNotAllowed {
		code, msg = hoist.EInvalid, "method "+r.Method+" is not allowed here"
		w.Header().Set("Allow", cw.header.Get("Allow"))
		writeJSON(w, http.StatusMethodNotAllowed, ErrorBody{Error: ErrorDetail{Code: code, Message: msg}})
		return
	}
	writeJSON(w, http.StatusNotFound, ErrorBody{Error: ErrorDetail{Code: code, Message: msg}})
}

// statusCapture records what the mux would answer for a route it lacks.
type statusCapture struct {
	header http.Header
	status int
}

func (c *statusCapture) Header() http.Header         { return c.header }
func (c *statusCapture) Write(b []byte) (int, error) { return len(b), nil }
func (c *statusCapture) WriteHeader(s int)           { c.status = s }

type actorKey struct{}

func actorFrom(ctx context.Context) control.Actor {
	a, _ := ctx.Value(actorKey{}).(control.Actor)
	return a
}

func bearer(r *http.Request) string {
	const prefix = "Bearer "
	auth := r.Header.Get("Authorization")
	if len(auth) > len(prefix) && strings.EqualFold(auth[:len(prefix)], prefix) {
		return strings.TrimSpace(auth[len(prefix):])
	}
	return ""
}

// authenticated resolves the bearer token to an actor before the handler.
func (h *Handler) authenticated(next handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		a, err := h.svc.Authenticate(r.Context(), bearer(r))
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="hoist"`)
			return err
		}
		return next(w, r.WithContext(context.WithValue(r.Context(), actorKey{}, a)))
	}
}

// instrument turns a handlerFunc into an http.Handler: errors to the one
// writer, panics into a 500 that keeps the server up, and metrics.
//
// The closure's frame stays on every parked long poll's stack (see
// agentEvents), so what it does besides calling next is in functions of
// their own: finish, deferred, and answerError.
func (h *Handler) instrument(name string, next handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		defer h.finish(name, sw, r, time.Now())
		if err := next(sw, r); err != nil {
			h.answerError(name, sw, r, err)
		}
	})
}

// finish, deferred by instrument, turns a panic of the handler into a 500
// (a deliberate http.ErrAbortHandler goes on) and records the metrics.
func (h *Handler) finish(name string, sw *statusWriter, r *http.Request, start time.Time) {
	if p := recover(); p != nil {
		if p == http.ErrAbortHandler {
			panic(p) // a deliberate cut of the connection
		}
		h.log.Error("handler panicked", "route", name, "panic", p)
		if !sw.wrote {
			h.writeError(sw, r, hoist.Errorf(hoist.EInternal, "internal error"))
		}
	}
	if !sw.wrote {
		// The handler wrote nothing: net/http answers 200 with an empty
		// body after this, with the headers as they are now.
		secureHeaders(sw.Header())
	}
	h.metrics.observe(name, sw.status, time.Since(start))
}

// answerError writes a handler's error through the one error writer, or
// logs it when the answer had already begun.
//
//go:noinline
func (h *Handler) answerError(name string, sw *statusWriter, r *http.Request, err error) {
	if sw.wrote {
		h.log.Warn("error after the answer began", "route", name, "err", err)
		return
	}
	h.writeError(sw, r, err)
}

// statusWriter records an answer's status for the metrics and sets
// secureHeaders as the answer begins.
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

// begin is called before anything of the answer goes out.
func (w *statusWriter) begin(status int) {
	if !w.wrote {
		w.status, w.wrote = status, true
		secureHeaders(w.ResponseWriter.Header())
	}
}

func (w *statusWriter) WriteHeader(s int) {
	w.begin(s)
	w.ResponseWriter.WriteHeader(s)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.begin(http.StatusOK)
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's deadlines.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) Flush() {
	w.begin(http.StatusOK) // a flush sends the headers
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
