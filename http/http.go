// Package http serves otos over HTTP: the device API (POST /api/v1/device/auth)
// over the core's otos.Registrar, the admin API over otos.Admin, /healthz,
// /readyz and /metrics. It reads requests and writes answers; the rules, the
// lock-out and the audit are the core's. It also holds the admin API client
// that the command line uses.
package http

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/otos-iot/otos"
)

// errorStatus returns the HTTP status for err, from the table of codes.
func errorStatus(err error) int {
	return otos.ErrorCode(err).Status()
}

// setRetryAfter sets the Retry-After header when err carries a wait (an
// ERATELIMITED error does). It is the one place that writes the header.
func setRetryAfter(h http.Header, err error) {
	if e := otos.AsError(err); e != nil && e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.FormatInt(retrySeconds(e.RetryAfter), 10))
	}
}

// retrySeconds is d in whole seconds, rounded up: a client that waits as
// long as it is told is not refused again.
func retrySeconds(d time.Duration) int64 {
	return int64((d + time.Second - 1) / time.Second)
}

// Envelope is the body of every device API answer and of admin API errors.
type Envelope struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Data    any    `json:"data,omitempty"`
}

// writeJSON writes v with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// logError logs what a client will not see: the detail of unexpected errors.
func logError(log *slog.Logger, r *http.Request, err error) {
	switch otos.ErrorCode(err) {
	case otos.EINTERNAL:
		log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	case otos.EUNAVAILABLE:
		log.Warn("store unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
	}
}
