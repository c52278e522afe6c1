package http

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the server's Prometheus metrics, on the registry it is given.
type metrics struct {
	registrations *prometheus.CounterVec
	latency       prometheus.Histogram
	// rateLimited counts answers 201003 by reason: "lockout" or "template".
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
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "otos_rate_limited_total",
			Help: "Device auth requests refused with code 201003, by reason: lockout or template.",
		}, []string{"reason"}),
	}
	reg.MustRegister(m.registrations, m.latency, m.rateLimited)
	// Registering twice (two servers on one registry) is harmless for these.
	_ = reg.Register(collectors.NewGoCollector())
	_ = reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func itoa(n int) string { return strconv.Itoa(n) }
