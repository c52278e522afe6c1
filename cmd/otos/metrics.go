package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/otos-iot/otos"
	"github.com/otos-iot/otos/provision"
	"github.com/otos-iot/otos/storemetrics"
	"github.com/prometheus/client_golang/prometheus"
)

// lagTimeout bounds the store reads of one scrape's webhook lag, within
// Prometheus's default scrape timeout (10 s).
const lagTimeout = 5 * time.Second

// meteredStore returns store with each call's duration and failures
// exported on reg: the store the service works through. Main.Store stays
// the raw store, which cluster.go asks for a Notifier, tests assert to
// *sqlite.DB, and Close closes.
func meteredStore(reg *prometheus.Registry, store otos.Store) otos.Store {
	return storemetrics.New(store, reg)
}

// watchWebhooks exports how far the webhooks are behind their events
// (provision.WebhookLag), read from the store at each scrape.
func watchWebhooks(reg *prometheus.Registry, s *provision.Service, log *slog.Logger) {
	reg.MustRegister(&webhookLag{read: s.WebhookLag, log: log,
		behind: prometheus.NewDesc("otos_webhook_lag_seconds",
			"Age of the oldest event a webhook has still to receive (unread or retrying), of the webhook furthest behind.", nil, nil),
		dead: prometheus.NewDesc("otos_webhook_dead_deliveries",
			"Webhook deliveries given up after their retries, waiting for an operator to resend them.", nil, nil),
	})
}

// webhookLag is a collector rather than two GaugeFuncs so that one scrape
// reads the store once for both figures.
type webhookLag struct {
	read         func(context.Context) (provision.WebhookLag, error)
	log          *slog.Logger
	behind, dead *prometheus.Desc
}

// Describe implements prometheus.Collector.
func (c *webhookLag) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.behind
	ch <- c.dead
}

// Collect implements prometheus.Collector. When the store cannot answer it
// exports neither figure rather than fail the whole scrape: the store's own
// metrics say why.
func (c *webhookLag) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), lagTimeout)
	defer cancel()
	lag, err := c.read(ctx)
	if err != nil {
		c.log.Warn("metrics: webhook lag", "err", err)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.behind, prometheus.GaugeValue, lag.Behind.Seconds())
	ch <- prometheus.MustNewConstMetric(c.dead, prometheus.GaugeValue, float64(lag.Dead))
}
