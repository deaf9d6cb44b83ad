package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/api"
)

// minMetricsToken is the shortest bearer token --metrics-token-file may
// hold: anything shorter could be guessed.
const minMetricsToken = 16

// readMetricsToken returns the token in path, the file's content without
// its trailing newline, or "" when path is empty. It refuses (EInvalid) a
// file it cannot read, an empty or short token, one with characters a
// header cannot carry, and a file others may read or write; a file its
// group may read is taken with a warning.
func readMetricsToken(path string, log *slog.Logger) (string, error) {
	if path == "" {
		return "", nil
	}
	refuse := func(why string) error {
		return hoist.Errorf(hoist.EInvalid, "--metrics-token-file %s: %s", path, why)
	}
	f, err := os.Open(path)
	if err != nil {
		return "", hoist.WrapError(hoist.EInvalid, "--metrics-token-file "+path+": cannot read it", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return "", refuse("not a regular file")
	}
	if runtime.GOOS != "windows" { // Windows has no mode bits to check
		if perm := fi.Mode().Perm(); perm&0o007 != 0 {
			return "", refuse(fmt.Sprintf("others may read or write it (mode %04o); chmod o-rwx it", perm))
		} else if perm&0o070 != 0 {
			log.Warn("the metrics token file is readable by its group", "file", path, "mode", fmt.Sprintf("%04o", perm))
		}
	}
	data, err := io.ReadAll(io.LimitReader(f, 4097))
	if err != nil {
		return "", hoist.WrapError(hoist.EInvalid, "--metrics-token-file "+path+": cannot read it", err)
	}
	if len(data) > 4096 {
		return "", refuse("larger than 4 KiB; it should hold one token")
	}
	token := string(data)
	for _, nl := range []string{"\r\n", "\n"} {
		if len(token) >= len(nl) && token[len(token)-len(nl):] == nl {
			token = token[:len(token)-len(nl)]
			break
		}
	}
	if token == "" {
		return "", refuse("it is empty")
	}
	for i := 0; i < len(token); i++ {
		if c := token[i]; c <= ' ' || c >= 0x7f {
			return "", refuse("the token must be printable ASCII without spaces, on one line")
		}
	}
	if len(token) < minMetricsToken {
		return "", refuse(fmt.Sprintf("the token is %d characters; use at least %d (openssl rand -hex 32)", len(token), minMetricsToken))
	}
	return token, nil
}

// listenMetrics opens --metrics-listen, when it is set.
func (m *Main) listenMetrics(reg *prometheus.Registry) error {
	if m.cfg.MetricsListen == "" {
		return nil
	}
	l, err := listen("--metrics-listen ", m.cfg.MetricsListen)
	if err != nil {
		return err
	}
	if host, _, err := net.SplitHostPort(m.cfg.MetricsListen); err == nil && (host == "" || host == "0.0.0.0" || host == "::") {
		m.cfg.Logger.Warn("--metrics-listen serves /metrics without authentication on every interface; give it a private address", "addr", m.cfg.MetricsListen)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", api.MetricsHandler(reg))
	m.metricsListener = l
	m.metricsHTTP = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(m.cfg.Logger.Handler(), slog.LevelDebug),
	}
	return nil
}

// serveMetrics serves the metrics listener, if there is one, until Close.
func (m *Main) serveMetrics() {
	if m.metricsHTTP == nil {
		return
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		if err := m.metricsHTTP.Serve(m.metricsListener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.cfg.Logger.Error("metrics listener stopped", "err", err)
		}
	}()
	m.cfg.Logger.Info("hoist-server serving /metrics", "url", m.MetricsURL())
}

// closeMetrics stops the metrics listener: a scrape in flight may finish.
func (m *Main) closeMetrics() error {
	var err error
	if m.metricsHTTP != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = m.metricsHTTP.Shutdown(ctx)
		cancel()
	}
	if m.metricsListener != nil {
		_ = m.metricsListener.Close() // closed already when it was served
	}
	return err
}

// MetricsURL is the address of /metrics on --metrics-listen, or "" when
// there is none.
func (m *Main) MetricsURL() string {
	if m.metricsListener == nil {
		return ""
	}
	return "http://" + m.metricsListener.Addr().String() + "/metrics"
}
