package caddymodule

import (
	"context"
	"encoding/json"
	"net/http"
	"time"
)

// DefaultEndpointPrefix is where Portcullis serves its own endpoints.
const DefaultEndpointPrefix = "/.portcullis/"

// readyTimeout bounds the readiness checks.
const readyTimeout = 500 * time.Millisecond

// check is one readiness check's answer.
type check struct {
	Status string `json:"status"`
}

// serveHealth answers /healthz (the process serves requests) and
// /readyz (the dependencies it needs now are reachable: the store when
// it is Redis). Answers are JSON, uncached, and carry no detail beyond
// ok/unavailable.
func (a *App) serveHealth(w http.ResponseWriter, r *http.Request, ready bool) {
	body := struct {
		Status string           `json:"status"`
		Checks map[string]check `json:"checks,omitempty"`
	}{Status: "ok"}
	status := http.StatusOK
	if ready {
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		body.Checks = map[string]check{"store": {Status: "ok"}}
		if err := a.store.Ping(ctx); err != nil {
			body.Checks["store"] = check{Status: "unavailable"}
			body.Status, status = "unavailable", http.StatusServiceUnavailable
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_ = json.NewEncoder(w).Encode(body)
	}
}
