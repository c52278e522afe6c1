package otos

import (
	"context"
	"encoding/hex"
	"time"
)

// ServiceUsernamePrefix starts the broker username of a service account;
// device voucher usernames are UUIDs, so the two never collide.
const ServiceUsernamePrefix = "svc_"

// Session is an authenticated broker client: a device, or a service account
// of a tenant.
type Session struct {
	TenantID string
	// Device fields, empty for a service account.
	DeviceID     string
	DeviceNumber string
	TemplateID   string
	DeviceType   DeviceType
	// AccountID is the service account's id, empty for a device.
	AccountID string
	// Registration marks a registration session (RegistrationUsername): a
	// client with no voucher yet, which may only send device auth requests.
	Registration bool
	// Lookup is the look-up key of the voucher the device presented (a hash,
	// no secret): its first connection is recorded only while the voucher
	// is still the device's.
	Lookup []byte
	// From is the client that opened the session.
	From Client
	// Until, when set, is when the voucher stops being valid: its expiry,
	// or for a voucher replaced by a rotation (Previous) the end of its
	// overlap. The session is closed then.
	Until *time.Time
	// Previous marks a session opened with the voucher that a rotation
	// replaced, within its overlap.
	Previous bool
	// RotationRequested: an operator asked the device to rotate its voucher.
	RotationRequested bool
}

// IsService reports whether the session is a service account's.
func (s *Session) IsService() bool { return s.AccountID != "" }

// Key is the id under which a broker tracks the session's connections, and
// which a revocation names: the device's or the account's id; empty for a
// registration session, which nothing revokes.
func (s *Session) Key() string {
	if s.IsService() {
		return s.AccountID
	}
	return s.DeviceID
}

// VoucherKey is the second id under which a broker tracks a device's
// session: that of its voucher, which a revocation names when one voucher
// of the device stops being valid and the other does not (the end of a
// rotation's overlap). "" for other sessions.
func (s *Session) VoucherKey() string {
	if s.IsService() || s.Registration {
		return ""
	}
	return VoucherKeyOf(s.Lookup)
}

// VoucherKeyOf is the VoucherKey of the voucher whose look-up key is lookup:
// no secret (the look-up key is a hash), and short.
func VoucherKeyOf(lookup []byte) string {
	if len(lookup) < 12 {
		return ""
	}
	return "voucher:" + hex.EncodeToString(lookup[len(lookup)-12:])
}

// Sessions is the core's service for brokers, the embedded one and any
// other: it authenticates connecting clients, authorises their topics, and
// tracks live sessions, which it ends (through the revocation callback the
// core was given) when a device or account stops being valid.
type Sessions interface {
	// Authenticate checks a CONNECT's username and password, a device
	// voucher or a service account, from client from. EUNAUTHORIZED for an
	// unknown username or a wrong password, EFORBIDDEN for a disabled
	// device, ELOCKEDOUT (without a store read) while from is locked out,
	// EUNAVAILABLE when the store cannot tell. Failures count toward from's
	// lock-out. RegistrationUsername, with any password, opens a
	// registration session (Session.Registration), for a broker that carries
	// device auth requests.
	Authenticate(ctx context.Context, from Client, username, password string) (*Session, error)
	// Connected records that s began: a device's first session closes its
	// re-registration. EUNAUTHORIZED when the voucher was voided since
	// Authenticate.
	Connected(ctx context.Context, s *Session) error
	// Disconnected records that the last connection of s ended.
	Disconnected(s *Session)
	// Authorize reports whether s may publish to topic (publish) or
	// subscribe to, or receive, topic (a filter).
	Authorize(ctx context.Context, s *Session, topic string, publish bool) bool
	// Known returns the session of a username that the broker authenticated
	// earlier, without its password, for a broker that asks about each
	// topic apart from the CONNECT (EMQX's HTTP authorization): only while
	// the device is enabled with that voucher, or the account active.
	// EUNAUTHORIZED otherwise, EUNAVAILABLE when the store cannot tell.
	Known(ctx context.Context, username string) (*Session, error)
}
