// Package provision holds the use cases of otos: the One Type One Secret
// registration of devices, and the operator's changes to templates, products
// and devices. It works through otos.Store and imports no adapter.
package provision

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"sync"
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
	// AuditRetention is how long audit records are kept; 0 means
	// DefaultAuditRetention.
	AuditRetention time.Duration
	// AdminToken, when set (OTOS_ADMIN_TOKEN), is a system token accepted
	// besides the stored ones.
	AdminToken otos.Secret
	// Revoked, when set, is called with the id of a device whose voucher
	// stopped being valid (re-issued, disabled, reset or deleted) or of a
	// revoked service account, so that the broker drops its live sessions.
	// It must not block.
	Revoked func(id string)
	// Notifier, when set, carries these changes to the other nodes that
	// share the store (see cluster.go).
	Notifier Notifier
}

// Service carries out registrations and operator changes.
type Service struct {
	store   otos.Store
	keys    *Keyring
	now     func() time.Time
	rand    io.Reader
	log     *slog.Logger
	revoked func(id string)
	// dropLocal is Config.Revoked; notifier is Config.Notifier.
	dropLocal func(id string)
	notifier  Notifier
	// creds caches voucher look-ups for the broker; templates caches the
	// device type of each template.
	creds     *credCache
	templates sync.Map // template id → otos.DeviceType
	presence  presence
	rates     *limit.Rate // per-template registrations a second
	opened    openedSecrets
	tplCache  templateCache
	known     knownDevices
	live      liveSessions
	audit     auditLog
	retention time.Duration
	// adminToken is the hash of Config.AdminToken, or nil.
	adminToken []byte
}

// New returns a Service with cfg's dependencies.
func New(cfg Config) *Service {
	s := &Service{store: cfg.Store, keys: cfg.Keys, now: cfg.Now, rand: cfg.Rand, log: cfg.Logger, revoked: cfg.Revoked,
		creds: newCredCache(credCacheSize), rates: limit.NewRate(limit.DefaultMaxKeys)}
	if s.now == nil {
		s.now = time.Now
	}
	if s.rand == nil {
		s.rand = rand.Reader
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.retention = cfg.AuditRetention
	if s.retention <= 0 {
		s.retention = DefaultAuditRetention
	}
	if cfg.AdminToken != "" {
		s.adminToken = otos.TokenHash(cfg.AdminToken)
	}
	if s.revoked == nil {
		s.revoked = func(string) {}
	}
	s.join(cfg.Notifier)
	return s
}

// changed is called after device d changed in a way that the broker's view
// of it must follow; with drop, its live sessions end too.
func (s *Service) changed(d *otos.Device, drop bool) {
	s.creds.invalidate(d.ID)
	s.known.forget(d.ID)
	if drop {
		s.revoked(d.ID)
	} else {
		s.publish(msgForget, d.ID)
	}
}

// newID returns a time-ordered UUIDv7, so that ids sort in creation order.
func (s *Service) newID() (string, error) {
	id, err := uuid.NewV7FromReader(s.rand)
	if err != nil {
		return "", err
	}
	return id.String(), nil
}

// newVoucher mints a voucher of type t. A BASIC voucher has a UUIDv7
// username, which need not be secret and whose time order keeps its lookup
// key's index append-only (otos.VoucherLookup), and a 192-bit password. An
// ACCESSTOKEN voucher's username is its secret: a random UUIDv4.
func (s *Service) newVoucher(t otos.VoucherType) (otos.Voucher, error) {
	if t != otos.VoucherBasic {
		u, err := uuid.NewRandomFromReader(s.rand)
		if err != nil {
			return otos.Voucher{}, err
		}
		return otos.Voucher{Username: otos.Secret(u.String())}, nil
	}
	u, err := uuid.NewV7FromReader(s.rand)
	if err != nil {
		return otos.Voucher{}, err
	}
	v := otos.Voucher{Username: otos.Secret(u.String())}
	if v.Password, err = randomString(s.rand, passwordBytes); err != nil {
		return otos.Voucher{}, err
	}
	return v, nil
}

// timestamp returns the current time at the store's precision.
func (s *Service) timestamp() time.Time {
	return s.now().UTC().Truncate(time.Microsecond)
}

// Ping reports whether the store can serve.
func (s *Service) Ping(ctx context.Context) error {
	return s.store.Ping(ctx)
}
