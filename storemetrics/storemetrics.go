// Package storemetrics times the calls to an otos.Store and counts its
// failures, for Prometheus: otos_store_duration_seconds{op} and
// otos_store_errors_total{op,code}, op being the method's name. It wraps
// any store, so that SQLite and PostgreSQL are watched alike.
package storemetrics

import (
	"context"
	"errors"
	"reflect"
	"time"

	"github.com/otos-iot/otos"
	"github.com/prometheus/client_golang/prometheus"
)

// Store is an otos.Store whose calls are observed. Methods beyond
// otos.Store (the Notifier of a shared PostgreSQL store, say) are not
// passed on: keep the wrapped store for those, or reach it with Unwrap.
type Store struct {
	next     otos.Store
	duration *prometheus.HistogramVec
	errors   *prometheus.CounterVec
}

var _ otos.Store = (*Store)(nil)

// failures are the codes counted as errors: the store could not answer.
// The others (not found, conflict, invalid) are answers, part of normal
// work: a wrong template secret is a not found.
var failures = []otos.Code{otos.EUNAVAILABLE, otos.EINTERNAL}

// New returns store observed on reg. It panics if reg has the metrics
// already, as prometheus.MustRegister does.
func New(store otos.Store, reg prometheus.Registerer) *Store {
	s := &Store{
		next: store,
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "otos_store_duration_seconds",
			Help: "Time of store calls, by method, failed or not.",
			// From a SQLite read (tens of microseconds) to a PostgreSQL
			// call near its timeout.
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"op"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "otos_store_errors_total",
			Help: "Store calls that failed, by method and code: unavailable (unreachable, busy, timed out) or internal.",
		}, []string{"op", "code"}),
	}
	// Every series exists from the start at 0, so that a first failure
	// shows in rate() and a dashboard shows 0 rather than no data.
	ops := reflect.TypeFor[otos.Store]()
	for i := range ops.NumMethod() {
		for _, code := range failures {
			s.errors.WithLabelValues(ops.Method(i).Name, string(code))
		}
	}
	reg.MustRegister(s.duration, s.errors)
	return s
}

// Unwrap returns the store that s observes.
func (s *Store) Unwrap() otos.Store { return s.next }

// observe records a call of op that began at start and returned *err. It
// is deferred with the arguments evaluated at the call's start.
func (s *Store) observe(op string, start time.Time, err *error) {
	s.duration.WithLabelValues(op).Observe(time.Since(start).Seconds())
	if *err == nil || errors.Is(*err, context.Canceled) {
		return // a call its caller gave up on is not the store's failure
	}
	code := otos.ErrorCode(*err)
	for _, c := range failures {
		if code == c {
			s.errors.WithLabelValues(op, string(code)).Inc()
			return
		}
	}
}
