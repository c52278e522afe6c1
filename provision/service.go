// Package provision is the core of otos: the three services that every
// protocol adapter calls through the root package's interfaces, over one
// shared core. Registrar (otos.Registrar) runs the One Type One Secret
// registration; Admin (otos.Admin) the operator's changes; Sessions
// (otos.Sessions) the authentication, topic authorisation and tracking of
// broker sessions. The core they share owns the views cached of the store
// (views.go), the lock-out (guard.go), the audit trail (audit.go) and the
// messages to the other nodes (cluster.go), so that every protocol gets the
// same rules, protections and records. It works through otos.Store and
// imports no adapter.
package provision

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/otos-iot/otos"
	"github.com/otos-iot/otos/limit"
)

// Sizes of generated secrets, in random bytes.
const (
	templateSecretBytes = 24 // 192 bits, 32 URL-safe characters
	passwordBytes       = 24 // 192 bits
	productKeyBytes     = 8  // 64 bits, 16 hex characters
	adminTokenBytes     = 32
)

// Config holds the dependencies of a Service.
type Config struct {
	Store otos.Store
	Keys  *Keyring
	// Now and Rand default to time.Now and crypto/rand; tests inject theirs.
	Now    func() time.Time
	Rand   io.Reader
	Logger *slog.Logger
	// Lockout, when set, counts the failed credentials of each client
	// (secrets, signatures, broker passwords and usernames) and refuses a
	// locked-out client before any work. Nil: no lock-out.
	Lockout *limit.Lockout
	// AuditRetention is how long audit records are kept; 0 means
	// DefaultAuditRetention.
	AuditRetention time.Duration
	// EventRetention is how long events are kept for replay; 0 means
	// DefaultEventRetention.
	EventRetention time.Duration
	// AdminToken, when set (OTOS_ADMIN_TOKEN), is a system token accepted
	// besides the stored ones.
	AdminToken otos.Secret
	// Revoked, when set, is called with the id of a device whose voucher
	// stopped being valid (re-issued, disabled, reset or deleted) or of a
	// revoked service account, so that the broker drops its live sessions.
	// It must not block.
	Revoked func(id string)
	// RotationRequested, when set, is called with each live session of
	// this node whose device an operator asked to rotate its voucher, so
	// that the broker tells the device on its control topic. It must not
	// block.
	RotationRequested func(sess *otos.Session)
	// Notifier, when set, carries changes to the other nodes that share the
	// store (see cluster.go).
	Notifier Notifier
	// Deliverer, when set, sends events to the tenants' webhooks (see
	// dispatch.go); Node names this node in the webhooks' leases, and must
	// differ between the nodes that share a store.
	Deliverer otos.Deliverer
	Node      string
	// WebhookRetries are the waits between a failed delivery's attempts;
	// nil means DefaultWebhookRetries. WebhookTimeout bounds one attempt; 0
	// means DefaultWebhookTimeout.
	WebhookRetries []time.Duration
	WebhookTimeout time.Duration
	// WebhookAllowPrivate lets webhooks point at loopback and private
	// addresses, which they may not by default (server-side request
	// forgery).
	WebhookAllowPrivate bool
}

// The three services are what the adapters know them as.
var (
	_ otos.Registrar = (*Registrar)(nil)
	_ otos.Admin     = (*Admin)(nil)
	_ otos.Sessions  = (*Sessions)(nil)
)

// core is what the three services share.
type core struct {
	store otos.Store
	keys  *Keyring
	now   func() time.Time
	rand  io.Reader
	log   *slog.Logger
	views *views
	guard guard
	audit *auditLog
	// refused counts refused registrations into registration.refused events.
	refused refusals
	// stats counts registrations for the overview; online counts the
	// devices with a live session on this node, in a scope.
	stats  stats
	online func(otos.Scope) int64
}

// Service is the core with its three services.
type Service struct {
	Registrar      *Registrar
	Admin          *Admin
	Sessions       *Sessions
	core           *core
	retention      time.Duration
	eventRetention time.Duration
	dispatch       *dispatcher // nil without a Deliverer
}

// New returns a Service with cfg's dependencies.
func New(cfg Config) *Service {
	c := &core{store: cfg.Store, keys: cfg.Keys, now: cfg.Now, rand: cfg.Rand, log: cfg.Logger}
	if c.now == nil {
		c.now = time.Now
	}
	if c.rand == nil {
		c.rand = rand.Reader
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	revoked := cfg.Revoked
	if revoked == nil {
		revoked = func(string) {}
	}
	c.views = newViews(c, cfg.Notifier, revoked)
	c.guard = guard{lockout: cfg.Lockout, now: c.now, log: c.log}
	c.audit = newAuditLog(c)
	s := &Service{core: c, retention: cfg.AuditRetention, eventRetention: cfg.EventRetention,
		Registrar: &Registrar{core: c, rates: limit.NewRate(limit.DefaultMaxKeys)},
		Sessions:  &Sessions{core: c, rotate: cfg.RotationRequested},
		Admin:     &Admin{core: c}}
	if s.Sessions.rotate == nil {
		s.Sessions.rotate = func(*otos.Session) {}
	}
	c.views.rotateLocal = s.Sessions.rotationRequested
	c.views.expireLocal = s.Sessions.expireAt
	c.online = s.Sessions.online
	if s.retention <= 0 {
		s.retention = DefaultAuditRetention
	}
	if s.eventRetention <= 0 {
		s.eventRetention = DefaultEventRetention
	}
	if cfg.AdminToken != "" {
		s.Admin.envToken = otos.TokenHash(cfg.AdminToken)
	}
	s.Admin.allowPrivateWebhooks = cfg.WebhookAllowPrivate
	if cfg.Deliverer != nil {
		s.dispatch = &dispatcher{c: c, deliver: cfg.Deliverer, node: cfg.Node, retries: cfg.WebhookRetries,
			timeout: cfg.WebhookTimeout, log: c.log}
		if len(s.dispatch.retries) == 0 {
			s.dispatch.retries = DefaultWebhookRetries
		}
		if s.dispatch.timeout <= 0 {
			s.dispatch.timeout = DefaultWebhookTimeout
		}
		if s.dispatch.node == "" {
			s.dispatch.node, _ = c.newID()
		}
	}
	return s
}

// Ping reports whether the store can serve.
func (s *Service) Ping(ctx context.Context) error {
	return s.core.store.Ping(ctx)
}

// FlushAudit writes the audit records queued so far.
func (s *Service) FlushAudit(ctx context.Context) { s.core.audit.flush(ctx) }

// FlushEvents writes the events gathered so far: connections and refused
// registrations, which are written in batches.
func (s *Service) FlushEvents(ctx context.Context) {
	s.Sessions.FlushPresence(ctx)
	s.core.flushRefusals(ctx)
}

// Receive applies a message that another node published (see Notifier):
// it forgets what this node caches of the object named, and for a drop ends
// the object's sessions on this node's broker. "" (messages may have been
// lost) forgets everything and checks every live session against the store.
// Pass it to Notifier.Subscribe once the broker runs.
func (s *Service) Receive(msg string) {
	if s.core.views.receive(msg) {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			s.Sessions.Revalidate(ctx)
		}()
	}
}

// newID returns a time-ordered UUIDv7, so that ids sort in creation order.
func (c *core) newID() (string, error) {
	id, err := uuid.NewV7FromReader(c.rand)
	if err != nil {
		return "", err
	}
	return id.String(), nil
}

// timestamp returns the current time at the store's precision.
func (c *core) timestamp() time.Time {
	return c.now().UTC().Truncate(time.Microsecond)
}

// ifNotFound returns alt when err is ENOTFOUND, and err otherwise: the
// store's "no such row" becomes the answer that fits the use case.
func ifNotFound(err, alt error) error {
	if otos.ErrorCode(err) == otos.ENOTFOUND {
		return alt
	}
	return err
}

func notFound(what string) error {
	return otos.Errorf(otos.ENOTFOUND, "%s not found", what)
}
