package server

import "net/http"

// WrapHandler lets tests wrap the API handler.
func WrapHandler(cfg *Config, f func(http.Handler) http.Handler) { cfg.wrapHandler = f }
