package api

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/wire"
)

// StatusOf maps error codes to HTTP status, in this one place (the web
// console answers with it too).
func StatusOf(code string) int {
	switch code {
	case hoist.EInvalid:
		return http.StatusBadRequest
	case hoist.EUnauthorized:
		return http.StatusUnauthorized
	case hoist.EForbidden:
		return http.StatusForbidden
	case hoist.ENotFound:
		return http.StatusNotFound
	case hoist.EConflict:
		return http.StatusConflict
	case hoist.ETooLarge:
		return http.StatusRequestEntityTooLarge
	case hoist.ERateLimited:
		return http.StatusTooManyRequests
	case hoist.EUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// unavailableRetryAfter is the Retry-After of a 503, in seconds: about
// what a PostgreSQL restart takes.
const unavailableRetryAfter = "2"

// ErrorBody is defined in package wire, which clients import without the server.
type ErrorBody = wire.ErrorBody

// ErrorDetail is defined in package wire, which clients import without the server.
type ErrorDetail = wire.ErrorDetail

// writeError is the one error writer: the user-safe message to the client,
// the cause to the log.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := hoist.ErrorCode(err)
	status := StatusOf(code)
	if status >= 500 {
		h.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	} else {
		h.log.Debug("request refused", "method", r.Method, "path", r.URL.Path, "code", code, "err", err)
	}
	var herr *hoist.Error
	if code == hoist.ERateLimited && errors.As(err, &herr) {
		w.Header().Set("Retry-After", "1")
	}
	if code == hoist.EUnavailable {
		// A dependency is down (the database restarting, most often):
		// clients and proxies retry instead of treating it as a failure.
		w.Header().Set("Retry-After", unavailableRetryAfter)
	}
	detail := ErrorDetail{Code: code, Message: hoist.ErrorMessage(err)}
	if errors.As(err, &herr) && len(herr.Fields) > 0 {
		detail.Fields = herr.Fields
	}
	writeJSON(w, status, ErrorBody{Error: detail})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		slog.Debug("cannot write response", "err", err)
	}
}
