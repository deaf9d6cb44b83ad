// Package server wires hoist-server together: the store, the control
// service, the API over HTTPS with the data directory's own CA, the sweeper
// that expires what time has ended, and graceful shutdown. Its Main type is
// what cmd/hoist-server runs and what end-to-end tests start in-process.
package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/api"
	"github.com/hoist-jit/hoist/console"
	"github.com/hoist-jit/hoist/control"
	"github.com/hoist-jit/hoist/pki"
	"github.com/hoist-jit/hoist/postgres"
	"github.com/hoist-jit/hoist/sink"
	"github.com/hoist-jit/hoist/sqlite"
	"github.com/hoist-jit/hoist/sqlstore"
)

// Config is hoist-server's configuration.
type Config struct {
	// DataDir holds the SQLite database (unless DatabaseURL is set), the CA
	// and the server certificate. It is created 0700 if missing.
	DataDir string
	// Listen is the address to serve HTTPS on; default 127.0.0.1:8443.
	Listen string
	// DatabaseURL selects PostgreSQL (postgres://…) instead of SQLite.
	DatabaseURL string
	// TLSCert and TLSKey replace the certificate made from the data
	// directory's CA.
	TLSCert, TLSKey string
	// Hosts are extra names and addresses the generated certificate covers.
	Hosts []string
	// PublicURL is the address agents use to reach this server, put in
	// enrolment tokens; default: the listening address.
	PublicURL string
	// AdminPassword is the first admin's password; generated when empty.
	AdminPassword string
	// Settings are the approval settings.
	Settings hoist.ApprovalSettings
	// SweepInterval is how often expiries are applied; default 1s.
	SweepInterval time.Duration
	// DeliveryInterval is how often integrations are sent what is due;
	// default 1s.
	DeliveryInterval time.Duration
	// ReminderAfter is how long a request waits before its approvers are
	// reminded; control.DefaultReminderAfter when zero, never when
	// negative.
	ReminderAfter time.Duration
	Logger        *slog.Logger
	// Out receives what an operator must see once: the URL and a generated
	// admin password.
	Out   io.Writer
	Clock func() time.Time

	// ConsoleIdleTimeout signs out a web console left alone this long;
	// console.DefaultIdleTimeout when zero.
	ConsoleIdleTimeout time.Duration

	// TrustedProxies are the proxies in front of the server whose
	// X-Forwarded-For is believed (--trusted-proxy); without any, the
	// header is ignored and the client is the connection's peer.
	TrustedProxies []netip.Prefix
	// MetricsListen, when set, serves /metrics without authentication on
	// this address, over plain HTTP (--metrics-listen).
	MetricsListen string
	// MetricsTokenFile, when set, holds the bearer token that /metrics on
	// the main listener requires (--metrics-token-file). With neither,
	// /metrics on the main listener answers 401.
	MetricsTokenFile string
	// AuditCheckpoints is the file the audit log's signed checkpoints are
	// appended to; default DataDir/audit-checkpoints.
	AuditCheckpoints string
	// AuditCheckpointInterval is how often the head is checkpointed when it
	// moved; default 5 minutes. Checkpoints are written at start, on every
	// export and at a clean stop too.
	AuditCheckpointInterval time.Duration

	// RecordingRetention is how long terminal recordings are kept
	// (hoist.DefaultRecordingRetention when zero).
	RecordingRetention time.Duration
	// OIDC is sign-in through an OpenID Connect provider (sso.go).
	OIDC OIDC

	// wrapHandler, when set, wraps the API handler; tests use it to know
	// when a request is in flight.
	wrapHandler func(http.Handler) http.Handler
}

// Main is a running hoist-server.
type Main struct {
	cfg      Config
	store    hoist.Store
	svc      *control.Service
	http     *http.Server
	listener net.Listener
	caPath   string
	anchor   *checkpointFile
	stop     context.CancelFunc
	wg       sync.WaitGroup

	metricsHTTP     *http.Server // --metrics-listen, or nil
	metricsListener net.Listener
}

// split sends the API's paths to the API and every other path to the web
// console.
func split(apiHandler, consoleHandler http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if strings.HasPrefix(p, "/api/") || strings.HasPrefix(p, "/agent/") || p == "/healthz" || p == "/readyz" || p == "/metrics" {
			apiHandler.ServeHTTP(w, r)
			return
		}
		consoleHandler.ServeHTTP(w, r)
	})
}

// OpenStore opens the store the configuration names: PostgreSQL when
// DatabaseURL is set, else SQLite in DataDir.
func OpenStore(ctx context.Context, dataDir, databaseURL string) (hoist.Store, error) {
	if databaseURL != "" {
		if !strings.HasPrefix(databaseURL, "postgres://") && !strings.HasPrefix(databaseURL, "postgresql://") {
			return nil, hoist.Errorf(hoist.EInvalid, "--database must be a postgres:// URL")
		}
		return postgres.Open(ctx, databaseURL)
	}
	if dataDir == "" {
		return nil, hoist.Errorf(hoist.EInvalid, "--data is required")
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, hoist.WrapError(hoist.EInvalid, "cannot create the data directory "+dataDir, err)
	}
	return sqlite.Open(ctx, dataDir)
}

// Start opens everything and starts serving; it returns once the server
// listens. Close stops it.
func Start(ctx context.Context, cfg Config) (*Main, error) {
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:8443"
	}
	if cfg.DeliveryInterval <= 0 {
		cfg.DeliveryInterval = time.Second
	}
	if cfg.SweepInterval <= 0 {
		cfg.SweepInterval = time.Second
	}
	if d := cfg.AuditCheckpointInterval; d < 0 || (d > 0 && d < time.Second) {
		return nil, hoist.Errorf(hoist.EInvalid, "--audit-checkpoint-interval must be at least 1 second, not %s", hoist.FormatDuration(d))
	}
	if cfg.AuditCheckpointInterval == 0 {
		cfg.AuditCheckpointInterval = DefaultCheckpointInterval
	}
	if d := cfg.ConsoleIdleTimeout; d != 0 && (d < time.Minute || d > 12*time.Hour) {
		return nil, hoist.Errorf(hoist.EInvalid, "the console's idle time must be between 1m and 12h, not %s", d)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.DataDir == "" {
		return nil, hoist.Errorf(hoist.EInvalid, "--data is required: the CA and certificates live there")
	}
	if err := cfg.Settings.Validate(); err != nil {
		return nil, err
	}
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return nil, hoist.Errorf(hoist.EInvalid, "--tls-cert and --tls-key go together")
	}
	m := &Main{cfg: cfg, caPath: filepath.Join(cfg.DataDir, pki.CAFile)}
	if err := m.open(ctx); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

func (m *Main) open(ctx context.Context) error {
	cfg := m.cfg
	store, err := OpenStore(ctx, cfg.DataDir, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	m.store = store
	cert, ca, err := m.certificate()
	if err != nil {
		return err
	}
	grantKey, err := loadOrCreateGrantKey(cfg.DataDir)
	if err != nil {
		return hoist.WrapError(hoist.EInvalid, "cannot load or create the grant key: "+err.Error(), err)
	}
	metricsToken, err := readMetricsToken(cfg.MetricsTokenFile, cfg.Logger)
	if err != nil {
		return err
	}
	if m.listener, err = listen("", cfg.Listen); err != nil {
		return err
	}
	publicURL := cfg.PublicURL
	if publicURL == "" {
		publicURL = m.URL()
	}
	if m.anchor, err = openCheckpointFile(m.checkpointPath()); err != nil {
		return hoist.WrapError(hoist.EInvalid, "cannot open the audit checkpoints: "+err.Error(), err)
	}
	integrationKey, err := loadOrCreateIntegrationKey(cfg.DataDir)
	if err != nil {
		return hoist.WrapError(hoist.EInvalid, "cannot load or create the integrations key: "+err.Error(), err)
	}
	ssoCfg, err := cfg.OIDC.ssoConfig(publicURL, cfg.Clock)
	if err != nil {
		return err
	}
	passkeys, err := passkeyConfig(cfg.OIDC.PasskeyOrigin, publicURL)
	if err != nil {
		return err
	}
	m.svc, err = control.New(control.Config{Store: store, Settings: cfg.Settings, Clock: cfg.Clock, Logger: cfg.Logger,
		Signer: &signer{ca: ca, grantKey: grantKey}, URL: publicURL, Checkpoints: m.anchor,
		DeviceKey: deviceKey(grantKey),
		Sink:      sink.New(sink.Config{ConsoleURL: publicURL, Clock: cfg.Clock, Self: []string{m.listener.Addr().String()}}), SecretKey: integrationKey,
		SelfURLs: []string{publicURL, m.URL()}, ReminderAfter: cfg.ReminderAfter,
		SSO: ssoCfg, Passkeys: passkeys})
	if err != nil {
		return err
	}
	generated, err := m.svc.Bootstrap(ctx, cfg.AdminPassword)
	if err != nil {
		return err
	}
	if err := m.svc.Seed(ctx); err != nil {
		return err
	}
	// A new server's first checkpoint, so that verify has one from the start.
	// A log found rolled back does not stop the server: the refusal is
	// logged, alerted and shown by /readyz (see control.CheckpointAudit).
	if _, _, err := m.svc.CheckpointAudit(ctx); err != nil && m.svc.AuditTampered() == "" {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	handler := api.New(api.Config{Service: m.svc, Store: store, Logger: cfg.Logger, Clock: cfg.Clock, Registry: reg, MetricsToken: metricsToken})
	web := console.New(console.Config{Service: m.svc, Logger: cfg.Logger, Clock: cfg.Clock, IdleTimeout: cfg.ConsoleIdleTimeout})
	var root http.Handler = clientAddr(cfg.TrustedProxies, cfg.Logger, split(handler, web))
	if cfg.wrapHandler != nil {
		root = cfg.wrapHandler(root)
	}
	clientCAs := x509.NewCertPool()
	clientCAs.AddCert(ca.Cert)
	m.http = &http.Server{
		Handler: root,
		TLSConfig: &tls.Config{
			MinVersion:   tls.VersionTLS12,
			Certificates: []tls.Certificate{cert},
			// Agents present the certificate enrolment gave them; admins and
			// enrolling agents present none.
			ClientAuth: tls.VerifyClientCertIfGiven,
			ClientCAs:  clientCAs,
			// What ServeTLS would offer; Serve, on the handshaking listener
			// below, serves HTTP/2 when the config names it.
			NextProtos: []string{"h2", "http/1.1"},
		},
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug),
		HTTP2:             agentHTTP2(),
	}
	if err := m.listenMetrics(reg); err != nil {
		return err
	}
	runCtx, stop := context.WithCancel(context.Background())
	m.stop = stop
	if cfg.DatabaseURL != "" {
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			own, _ := store.(*sqlstore.Store)
			postgres.ListenAgentEvents(runCtx, cfg.DatabaseURL, own, cfg.Logger, m.svc.Wake)
		}()
	}
	m.wg.Add(2)
	go func() {
		defer m.wg.Done()
		tl := newHandshakeListener(m.listener, m.http.TLSConfig, m.http.ReadHeaderTimeout, maxHandshakes, cfg.Logger)
		if err := m.http.Serve(tl); err != nil && !errors.Is(err, http.ErrServerClosed) {
			cfg.Logger.Error("server stopped", "err", err)
		}
	}()
	go func() {
		defer m.wg.Done()
		m.sweep(runCtx)
	}()
	m.serveMetrics()
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		m.svc.RunDeliveries(runCtx, cfg.DeliveryInterval)
	}()
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		m.checkpoints(runCtx)
	}()
	cfg.Logger.Info("hoist-server listening", "url", m.URL(), "store", storeKind(cfg.DatabaseURL))
	fmt.Fprintf(cfg.Out, "Hoist server: %s\nCA certificate: %s\n", m.URL(), m.caPath)
	if generated != "" {
		fmt.Fprintf(cfg.Out, "First admin: admin\nPassword (shown once; change it): %s\n", generated)
	}
	return nil
}

func storeKind(url string) string {
	if url != "" {
		return "postgres"
	}
	return "sqlite"
}

// certificate returns the server's TLS certificate and the CA that signs
// agent certificates (and, unless --tls-cert is given, the server's).
func (m *Main) certificate() (tls.Certificate, *pki.CA, error) {
	if err := os.MkdirAll(m.cfg.DataDir, 0o700); err != nil {
		return tls.Certificate{}, nil, hoist.WrapError(hoist.EInvalid, "cannot create the data directory", err)
	}
	now := m.cfg.Clock()
	ca, err := pki.LoadOrCreateCA(m.cfg.DataDir, now)
	if err != nil {
		return tls.Certificate{}, nil, hoist.WrapError(hoist.EInvalid, "cannot load or create the CA in "+m.cfg.DataDir+": "+err.Error(), err)
	}
	if m.cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(m.cfg.TLSCert, m.cfg.TLSKey)
		if err != nil {
			return tls.Certificate{}, nil, hoist.WrapError(hoist.EInvalid, "cannot load --tls-cert/--tls-key", err)
		}
		return cert, ca, nil
	}
	hosts := append(pki.DefaultHosts(), m.cfg.Hosts...)
	if h, _, err := net.SplitHostPort(m.cfg.Listen); err == nil && h != "" && h != "0.0.0.0" && h != "::" {
		hosts = append(hosts, h)
	}
	cert, err := ca.ServerCertificate(m.cfg.DataDir, hosts, now)
	if err != nil {
		return tls.Certificate{}, nil, hoist.WrapError(hoist.EInvalid, "cannot make the server certificate: "+err.Error(), err)
	}
	// The chain carries the CA, so that an enrolling agent can check it
	// against the fingerprint in its token.
	cert.Certificate = append(cert.Certificate, ca.Cert.Raw)
	return cert, ca, nil
}

// sweep applies expiries until ctx ends, and removes the recordings past
// their retention every pruneRecordingsEvery.
func (m *Main) sweep(ctx context.Context) {
	t := time.NewTicker(m.cfg.SweepInterval)
	defer t.Stop()
	var pruned time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := m.svc.Sweep(ctx); err != nil && ctx.Err() == nil {
				m.cfg.Logger.Warn("sweep failed", "err", err)
			}
			if time.Since(pruned) >= pruneRecordingsEvery {
				pruned = time.Now()
				if _, err := m.svc.PruneRecordings(ctx, m.recordingRetention()); err != nil && ctx.Err() == nil {
					m.cfg.Logger.Warn("cannot remove old recordings", "err", err)
				}
			}
		}
	}
}

// pruneRecordingsEvery is how often recordings past their retention are
// looked for.
const pruneRecordingsEvery = 10 * time.Minute

func (m *Main) recordingRetention() time.Duration {
	if m.cfg.RecordingRetention > 0 {
		return m.cfg.RecordingRetention
	}
	return hoist.DefaultRecordingRetention
}

// checkpointPath is where the audit checkpoints go.
func (m *Main) checkpointPath() string {
	if m.cfg.AuditCheckpoints != "" {
		return m.cfg.AuditCheckpoints
	}
	return filepath.Join(m.cfg.DataDir, CheckpointFile)
}

// checkpoints signs the audit head every AuditCheckpointInterval until ctx
// ends (CheckpointAudit writes only when the head moved).
func (m *Main) checkpoints(ctx context.Context) {
	t := time.NewTicker(m.cfg.AuditCheckpointInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, _, err := m.svc.CheckpointAudit(ctx); err != nil && ctx.Err() == nil {
				m.cfg.Logger.Warn("audit checkpoint failed", "err", err)
			}
		}
	}
}

// URL is the server's base URL.
func (m *Main) URL() string {
	addr := m.listener.Addr().(*net.TCPAddr)
	host := addr.IP.String()
	if addr.IP.IsUnspecified() {
		host = "localhost"
	}
	return "https://" + net.JoinHostPort(host, fmt.Sprint(addr.Port))
}

// CAPath is the file of the CA certificate clients pin.
func (m *Main) CAPath() string { return m.caPath }

// Service is the control service, for tests that act as an agent.
func (m *Main) Service() *control.Service { return m.svc }

// Store is the server's store.
func (m *Main) Store() hoist.Store { return m.store }

// Close stops serving: no new connections, in-flight requests finish (up to
// 15 seconds), then the store closes.
func (m *Main) Close() error {
	var err error
	if m.svc != nil {
		m.svc.StopWaiting() // long polls answer now instead of holding the shutdown
	}
	if m.http != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		err = m.http.Shutdown(ctx)
		cancel()
	} else if m.listener != nil {
		m.listener.Close()
	}
	err = errors.Join(err, m.closeMetrics())
	if m.stop != nil {
		m.stop()
	}
	m.wg.Wait()
	if m.svc != nil && m.store != nil {
		// The last word before a clean stop: everything up to here is covered.
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		if _, _, cerr := m.svc.CheckpointAudit(ctx); cerr != nil {
			m.cfg.Logger.Warn("audit checkpoint at stop failed", "err", cerr)
		}
		cancel()
	}
	if m.anchor != nil {
		err = errors.Join(err, m.anchor.Close())
	}
	if m.store != nil {
		err = errors.Join(err, m.store.Close())
	}
	return err
}
