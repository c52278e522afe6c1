package http

import (
	"strconv"

	"github.com/otos-iot/otos/limit"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the server's Prometheus metrics, on the registry it is given.
type metrics struct {
	registrations *prometheus.CounterVec
	latency       prometheus.Histogram
	// lockouts counts client addresses locked out; rateLimited counts
	// answers 201003 by reason: "lockout" or "template".
	lockouts    prometheus.Counter
	rateLimited *prometheus.CounterVec
}

func newMetrics(reg *prometheus.Registry) *metrics {
	m := &metrics{
		registrations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "otos_registrations_total",
			Help: "Device registration attempts by result code.",
		}, []string{"code"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "otos_registration_duration_seconds",
			Help:    "Time to answer POST /api/v1/device/auth.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}),
		lockouts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "otos_lockouts_total",
			Help: "Client addresses locked out after too many failed secrets or signatures.",
		}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "otos_rate_limited_total",
			Help: "Device auth requests refused with code 201003, by reason: lockout or template.",
		}, []string{"reason"}),
	}
	reg.MustRegister(m.registrations, m.latency, m.lockouts, m.rateLimited)
	// Registering twice (two servers on one registry) is harmless for these.
	_ = reg.Register(collectors.NewGoCollector())
	_ = reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func itoa(n int) string { return strconv.Itoa(n) }

// watchLockout exports the size of the lock-out's table, so that an operator
// sees it fill under attack; nothing when there is no lock-out.
func (m *metrics) watchLockout(reg *prometheus.Registry, l *limit.Lockout) {
	if l == nil {
		return
	}
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "otos_lockout_tracked_addresses",
			Help: "Client addresses the lock-out currently tracks (bounded).",
		}, func() float64 { return float64(l.Len()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "otos_lockout_untracked_total",
			Help: "Failures not counted because the lock-out table was full of locked addresses.",
		}, func() float64 { return float64(l.Untracked()) }),
	)
}
