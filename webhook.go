package otos

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Webhook is an endpoint of a tenant that receives its events, signed with
// the webhook's secret. The store keeps the secret sealed; it is shown once.
type Webhook struct {
	ID       string `json:"id"`
	TenantID string `json:"tenant_id"`
	URL      string `json:"url"`
	// Types are the event types it receives; empty: every type.
	Types []EventType `json:"types"`
	// BatchSize is how many events one request may carry: 1 (the default)
	// posts each event as the body; more posts {"events":[…]}, in order.
	BatchSize int       `json:"batch_size"`
	CreatedAt time.Time `json:"created_at"`
	// Sealed is the secret, encrypted with the server's sealing key.
	Sealed []byte `json:"-"`
	// Cursor is the position of the last event it has been given (each
	// delivered, or kept among its deliveries to retry).
	Cursor int64 `json:"-"`
}

// Wants reports whether the webhook receives events of type t.
func (w *Webhook) Wants(t EventType) bool {
	return len(w.Types) == 0 || slices.Contains(w.Types, t)
}

// Webhook limits.
const (
	MaxWebhookURLLen = 2048
	MaxBatchSize     = 100
)

// Validate checks an endpoint an operator registers: an absolute
// http or https URL without credentials or fragment, and known event types.
// Where it may point (no loopback or private address unless the operator
// allows it) is checked again at every delivery, against the address the
// name resolves to then.
func (w *Webhook) Validate(allowPrivate bool) error {
	if w.URL == "" {
		return FieldError("url", ReasonRequired, "url is required")
	}
	u, err := url.Parse(w.URL)
	switch {
	case len(w.URL) > MaxWebhookURLLen:
		return FieldError("url", ReasonTooLong, "url must be at most %d characters", MaxWebhookURLLen)
	case err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "" || u.Opaque != "":
		return FieldError("url", ReasonValue, "url must be an absolute http:// or https:// URL")
	case u.User != nil:
		return FieldError("url", ReasonValue, "url must not carry credentials; the signature authenticates otos")
	case u.Fragment != "":
		return FieldError("url", ReasonValue, "url must not have a fragment")
	}
	if a, err := netip.ParseAddr(strings.Trim(u.Hostname(), "[]")); err == nil && !allowPrivate && !PublicAddr(a) {
		return FieldError("url", ReasonValue, "url names a loopback or private address; otos serve --webhook-allow-private permits it")
	}
	if w.BatchSize < 1 || w.BatchSize > MaxBatchSize {
		return FieldError("batch_size", ReasonValue, "batch_size must be between 1 and %d events a request", MaxBatchSize)
	}
	for i, t := range w.Types {
		if !slices.Contains(EventTypes(), t) {
			return FieldError("types", ReasonValue, "types[%d]: %q is not an event type", i, t)
		}
	}
	return nil
}

// PublicAddr reports whether a is an address a webhook may be delivered to
// without the operator's leave: not loopback, private, link-local,
// unspecified, multicast, or in a range IANA lists as not globally
// reachable (shared, documentation, benchmarking, reserved, ...). An IPv6
// address that carries an IPv4 one (NAT64, 6to4, IPv4-mapped or
// -compatible) is judged by the IPv4 address, which is where it leads.
func PublicAddr(a netip.Addr) bool {
	a = a.Unmap().WithZone("")
	if v4, ok := embeddedIPv4(a); ok {
		a = v4
	}
	if !a.IsGlobalUnicast() || a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast() {
		return false
	}
	for _, p := range notGlobal {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

// embeddedIPv4 returns the IPv4 address that an IPv6 address of a
// translation or tunnel prefix leads to.
func embeddedIPv4(a netip.Addr) (netip.Addr, bool) {
	b := a.As16()
	switch {
	case !a.Is6():
		return a, false
	case nat64.Contains(a), ipv4Compatible.Contains(a):
		return netip.AddrFrom4([4]byte(b[12:16])), true
	case sixToFour.Contains(a):
		return netip.AddrFrom4([4]byte(b[2:6])), true
	}
	return a, false
}

var (
	nat64          = netip.MustParsePrefix("64:ff9b::/96") // RFC 6052
	ipv4Compatible = netip.MustParsePrefix("::/96")        // RFC 4291, deprecated
	sixToFour      = netip.MustParsePrefix("2002::/16")    // RFC 3056
)

// notGlobal are the special-purpose ranges of the IANA registries that are
// not globally reachable, beyond what netip's methods tell: an endpoint on
// the internet is never in one, a device of the network inside may be.
var notGlobal = prefixes(
	"0.0.0.0/8", "100.64.0.0/10", "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "198.18.0.0/15",
	"198.51.100.0/24", "203.0.113.0/24", "240.0.0.0/4",
	"::ffff:0:0:0/96", "64:ff9b:1::/48", "100::/64", "100:0:0:1::/64", "2001::/23", "2001:db8::/32",
	"3fff::/20", "5f00::/16", "fc00::/7", "fec0::/10",
)

func prefixes(ps ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ps))
	for i, p := range ps {
		out[i] = netip.MustParsePrefix(p)
	}
	return out
}

// WebhookSecretPrefix starts a webhook secret, as in Standard Webhooks.
const WebhookSecretPrefix = "whsec_"

// WebhookSignature is the value of the webhook-signature header of a
// delivery (Standard Webhooks): "v1," and the base64 HMAC-SHA256, keyed
// with the secret's bytes, of the event id, the Unix timestamp in seconds
// and the body, joined by dots. EINVALID for a secret not in the form
// WebhookSecretPrefix + base64.
func WebhookSignature(secret Secret, id string, ts int64, body []byte) (string, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(string(secret), WebhookSecretPrefix))
	if err != nil || !strings.HasPrefix(string(secret), WebhookSecretPrefix) {
		return "", Errorf(EINVALID, "webhook secret is not in the form %s<base64>", WebhookSecretPrefix)
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + strconv.FormatInt(ts, 10) + "."))
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil)), nil
}

// WebhookBatchID is the webhook-id of a request that carries es as a
// batch: "batch_" and, in hex, the first 16 bytes of the SHA-256 of their
// ids, each followed by a zero byte. A request with other events, such as
// the retry of one of them, never has the id of one a receiver has seen.
func WebhookBatchID(es []*Event) string {
	h := sha256.New()
	for _, e := range es {
		h.Write([]byte(e.ID))
		h.Write([]byte{0})
	}
	return "batch_" + hex.EncodeToString(h.Sum(nil)[:16])
}

// DeliveryState is where a failed delivery stands.
type DeliveryState string

// Delivery states.
const (
	DeliveryRetrying DeliveryState = "retrying" // tried and failed; tried again at NextAt
	DeliveryWaiting  DeliveryState = "waiting"  // not tried: an earlier event of its subject is retrying
	DeliveryDead     DeliveryState = "dead"     // given up on; an operator may send it again
)

// Delivery is an event a webhook has not yet received: one that failed, or
// one queued behind a failed event of the same subject, so that a device's
// events arrive in order.
type Delivery struct {
	WebhookID  string        `json:"webhook_id"`
	EventID    string        `json:"event_id"`
	Pos        int64         `json:"-"`
	Subject    string        `json:"-"`
	EventType  EventType     `json:"event_type"`
	State      DeliveryState `json:"state"`
	Attempts   int           `json:"attempts"`
	NextAt     time.Time     `json:"next_at"`
	LastStatus int           `json:"last_status"`
	LastError  string        `json:"last_error"`
	UpdatedAt  time.Time     `json:"updated_at"`
}

// WebhookFilter selects webhooks in a list.
type WebhookFilter struct {
	TenantID string // empty: every tenant
	Page
}

// DeliveryFilter selects a webhook's deliveries, in event order.
type DeliveryFilter struct {
	WebhookID string
	State     DeliveryState // empty: any
	Live      bool          // only those not dead: retrying or waiting
	After     int64         // positions after this one
	Limit     int
}
