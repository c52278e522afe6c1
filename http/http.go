// Package http serves otos over HTTP: the device API (POST /api/v1/device/auth),
// the admin API, /healthz, /readyz and /metrics. It also holds the admin API
// client that the command line uses. This file has the one table that maps
// otos error codes to HTTP statuses.
package http

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/otos-iot/otos"
)

// statuses is the one place where an error code becomes an HTTP status.
var statuses = map[otos.Code]int{
	otos.EINVALID:         http.StatusBadRequest,
	otos.ETOOLARGE:        http.StatusRequestEntityTooLarge,
	otos.EUNAUTHORIZED:    http.StatusUnauthorized,
	otos.EFORBIDDEN:       http.StatusForbidden,
	otos.ENOTFOUND:        http.StatusNotFound,
	otos.ECONFLICT:        http.StatusConflict,
	otos.EUNAVAILABLE:     http.StatusServiceUnavailable,
	otos.EINTERNAL:        http.StatusInternalServerError,
	otos.ESECRETUNKNOWN:   http.StatusUnauthorized,
	otos.EREGISTRATIONOFF: http.StatusForbidden,
	otos.EDEVICEEXISTS:    http.StatusConflict,
	otos.EPRODUCTUNKNOWN:  http.StatusBadRequest,
	otos.ESUBDEVICEFIELDS: http.StatusBadRequest,
	otos.EPARENTUNKNOWN:   http.StatusBadRequest,
	otos.ESUBADDRTAKEN:    http.StatusConflict,
	otos.EBADSIGNATURE:    http.StatusUnauthorized,
	otos.ESTALE:           http.StatusUnauthorized,
	otos.EREPLAY:          http.StatusUnauthorized,
	otos.ENOTALLOWED:      http.StatusForbidden,
	otos.ECAPREACHED:      http.StatusForbidden,
	otos.ERATELIMITED:     http.StatusTooManyRequests,
}

// errorStatus returns the HTTP status for err.
func errorStatus(err error) int {
	if s, ok := statuses[errorCode(err)]; ok {
		return s
	}
	return http.StatusInternalServerError
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

// errorCode is otos.ErrorCode, except that a request that ran out of time
// waiting on the store is EUNAVAILABLE rather than EINTERNAL.
func errorCode(err error) otos.Code {
	if err != nil && otos.AsError(err) == nil && errors.Is(err, context.DeadlineExceeded) {
		return otos.EUNAVAILABLE
	}
	return otos.ErrorCode(err)
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
	switch errorCode(err) {
	case otos.EINTERNAL:
		log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	case otos.EUNAVAILABLE:
		log.Warn("store unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
	}
}
