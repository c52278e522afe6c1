package mqtt

import "github.com/prometheus/client_golang/prometheus"

// metrics are the broker's Prometheus metrics.
type metrics struct {
	connects *prometheus.CounterVec
	sessions prometheus.Gauge
	denied   prometheus.Counter
	uplinks  prometheus.Counter
	dropped  prometheus.Counter
	// registrations counts device auth requests over MQTT by result code.
	registrations *prometheus.CounterVec
}

func newMetrics(reg *prometheus.Registry) *metrics {
	m := &metrics{
		connects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "otos_mqtt_connects_total", Help: "MQTT CONNECTs by outcome: accepted, or the refusal reason.",
		}, []string{"result"}),
		sessions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "otos_mqtt_sessions", Help: "Live authenticated MQTT sessions.",
		}),
		denied: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "otos_mqtt_acl_denied_total", Help: "Publishes, subscriptions and deliveries refused by the topic ACL.",
		}),
		uplinks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "otos_mqtt_uplinks_total", Help: "Device uplink messages routed to consumer topics.",
		}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "otos_mqtt_dropped_total", Help: "Messages to a client dropped because its outbound queue was full.",
		}),
		registrations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "otos_mqtt_registrations_total", Help: "Device auth requests over MQTT by result code.",
		}, []string{"code"}),
	}
	reg.MustRegister(m.connects, m.sessions, m.denied, m.uplinks, m.dropped, m.registrations)
	return m
}
