package main

import (
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"time"

	otoshttp "github.com/otos-iot/otos/http"
	"github.com/otos-iot/otos/limit"
	"github.com/prometheus/client_golang/prometheus"
)

// Bounds of the lock-out settings.
const (
	maxLockoutThreshold = 1_000_000
	maxLockoutSpan      = 24 * time.Hour
)

// limitFlags defines the flags of the lock-out and of the trusted proxies on
// fs, each over its environment variable OTOS_<NAME>.
func (c *Config) limitFlags(fs *flag.FlagSet, env func(string) string) error {
	var errs []error
	help := func(name, text string) string { return text + " (env OTOS_" + envName(name) + ")" }
	fromEnv := func(name string) {
		if v, ok := lookup(env, name); ok {
			if err := fs.Set(name, v); err != nil {
				errs = append(errs, fmt.Errorf("OTOS_%s: %w", envName(name), err))
			}
		}
	}
	fs.StringVar(&c.TrustedProxies, "trusted-proxies", c.TrustedProxies,
		help("trusted-proxies", "proxies (IPs, CIDRs, comma-separated) whose X-Forwarded-For names the client"))
	fromEnv("trusted-proxies")
	fs.IntVar(&c.LockoutThreshold, "lockout-threshold", c.LockoutThreshold,
		help("lockout-threshold", "failed secrets or signatures within --lockout-window that lock a client address out; 0 disables the lock-out"))
	fromEnv("lockout-threshold")
	fs.DurationVar(&c.LockoutWindow, "lockout-window", c.LockoutWindow,
		help("lockout-window", "span over which failed attempts are counted"))
	fromEnv("lockout-window")
	fs.DurationVar(&c.LockoutDuration, "lockout-duration", c.LockoutDuration,
		help("lockout-duration", "how long a locked-out address is refused (HTTP 429)"))
	fromEnv("lockout-duration")
	fs.DurationVar(&c.AuditRetention, "audit-retention", c.AuditRetention,
		help("audit-retention", "how long audit records are kept, e.g. 2160h (90 days)"))
	fromEnv("audit-retention")
	fs.DurationVar(&c.EventRetention, "event-retention", c.EventRetention,
		help("event-retention", "how long events are kept for replay (GET /api/v1/events), e.g. 168h (7 days)"))
	fromEnv("event-retention")
	fs.BoolVar(&c.WebhookAllowPrivate, "webhook-allow-private", c.WebhookAllowPrivate,
		help("webhook-allow-private", "let webhooks reach loopback and private addresses (off: a webhook cannot be aimed inside the network)"))
	fromEnv("webhook-allow-private")
	return errors.Join(errs...)
}

// validateLimits checks the lock-out and proxy settings.
func (c *Config) validateLimits() error {
	if _, err := otoshttp.ParseTrustedProxies(c.TrustedProxies); err != nil {
		return fmt.Errorf("--trusted-proxies: %w", err)
	}
	if c.LockoutThreshold < 0 || c.LockoutThreshold > maxLockoutThreshold {
		return fmt.Errorf("--lockout-threshold %d: want 0 (off) to %d", c.LockoutThreshold, maxLockoutThreshold)
	}
	if c.AuditRetention < time.Hour {
		return fmt.Errorf("--audit-retention %v: want at least 1h", c.AuditRetention)
	}
	if c.EventRetention < time.Hour {
		return fmt.Errorf("--event-retention %v: want at least 1h", c.EventRetention)
	}
	for name, d := range map[string]time.Duration{"--lockout-window": c.LockoutWindow, "--lockout-duration": c.LockoutDuration} {
		if d < time.Second || d > maxLockoutSpan {
			return fmt.Errorf("%s %v: want 1s to %v", name, d, maxLockoutSpan)
		}
	}
	return nil
}

// limits returns the lock-out (nil when off), which the core applies to
// every protocol, and the trusted proxies for the HTTP server.
func (c *Config) limits() (*limit.Lockout, []netip.Prefix, error) {
	if err := c.validateLimits(); err != nil {
		return nil, nil, err
	}
	proxies, _ := otoshttp.ParseTrustedProxies(c.TrustedProxies)
	if c.LockoutThreshold == 0 {
		return nil, proxies, nil
	}
	return limit.NewLockout(limit.LockoutConfig{Threshold: c.LockoutThreshold,
		Window: c.LockoutWindow, Duration: c.LockoutDuration}), proxies, nil
}

// watchLockout exports the lock-out's counters, so that an operator sees
// its table fill under attack. otos_lockouts_total is there (at 0) when the
// lock-out is off too.
func watchLockout(reg *prometheus.Registry, l *limit.Lockout) {
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "otos_lockouts_total",
		Help: "Client addresses locked out after too many failed secrets, signatures or broker credentials.",
	}, func() float64 {
		if l == nil {
			return 0
		}
		return float64(l.Lockouts())
	}))
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
