package provision

import (
	"bytes"
	"cmp"
	"context"
	"crypto/subtle"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/otos-iot/otos"
)

// Sessions is the sessions service (otos.Sessions), for the embedded broker
// and any other that asks otos who may connect: it authenticates a client
// by voucher or service account, authorises its topics, and tracks the live
// sessions of this node, their presence and their revocation.
type Sessions struct {
	*core
	presence presence
	live     liveSessions
	clones   clones
	rotate   func(*otos.Session) // tells the broker: Config.RotationRequested
	expiries expiries
}

// maxExpiries bounds the vouchers whose sessions wait to be ended; past
// it, the newest are not scheduled (logged), and revalidation on a shared
// store, or the next CONNECT, decides.
const maxExpiries = 1_000_000

// expiries are the vouchers replaced by a rotation whose sessions end when
// their overlap does, by voucher key.
type expiries struct {
	mu sync.Mutex
	m  map[string]expiry
}

// expireAt schedules e; an earlier end already scheduled is kept.
func (s *Sessions) expireAt(e expiry) {
	s.expiries.mu.Lock()
	defer s.expiries.mu.Unlock()
	if s.expiries.m == nil {
		s.expiries.m = map[string]expiry{}
	}
	if old, ok := s.expiries.m[e.key]; ok && old.until.Before(e.until) {
		return
	}
	if len(s.expiries.m) >= maxExpiries {
		s.log.Warn("voucher expiries: too many scheduled; this one is left to revalidation", "device_id", e.device)
		return
	}
	s.expiries.m[e.key] = e
}

// due takes the scheduled expiries that have come at now.
func (x *expiries) due(now time.Time) []expiry {
	x.mu.Lock()
	defer x.mu.Unlock()
	var out []expiry
	for k, e := range x.m {
		if !now.Before(e.until) {
			out = append(out, e)
			delete(x.m, k)
		}
	}
	return out
}

// capScope moves the scheduled expiries of the devices in sc to deadline
// at the latest.
func (x *expiries) capScope(sc otos.RotationScope, deadline time.Time) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for k, e := range x.m {
		if inScope(sc, e.tenant, e.template, e.device) && deadline.Before(e.until) {
			e.until = deadline
			x.m[k] = e
		}
	}
}

// inScope reports whether the device of tenant, template and id is in sc.
func inScope(sc otos.RotationScope, tenant, template, id string) bool {
	return (sc.TenantID == "" || sc.TenantID == tenant) && (sc.TemplateID == "" || sc.TemplateID == template) &&
		(sc.DeviceID == "" || sc.DeviceID == id)
}

// revalidateEvery is how often, on a node that shares its store, every live
// session is checked against the store: the backstop for a message from
// another node that was lost.
const revalidateEvery = 30 * time.Second

// lookupTimeout bounds the store read behind one topic check.
const lookupTimeout = 5 * time.Second

var errBadCredentials = otos.Errorf(otos.EUNAUTHORIZED, "bad username or password")

// Authenticate implements otos.Sessions.
func (s *Sessions) Authenticate(ctx context.Context, from otos.Client, username, password string) (sess *otos.Session, err error) {
	var known *otos.Session // the device of a known voucher, for the audit
	defer func() {
		if err != nil {
			s.audit.session(from, known, err)
		}
	}()
	if err := s.guard.check(from); err != nil {
		return nil, err
	}
	defer func() { s.guard.count(from, err) }()
	switch {
	case username == "":
		return nil, errBadCredentials
	case username == otos.RegistrationUsername:
		// No credential: what it may do is send auth requests, each
		// checked, counted and audited by the registration service.
		return &otos.Session{Registration: true, From: from}, nil
	}
	if id, ok := strings.CutPrefix(username, otos.ServiceUsernamePrefix); ok {
		sess, err = s.authenticateAccount(ctx, id, password)
	} else {
		sess, known, err = s.authenticateDevice(ctx, username, password)
	}
	if sess != nil {
		sess.From = from
	}
	return sess, err
}

// authenticateDevice checks a device voucher. known is the device of a
// known username, refused or not, for the audit.
func (s *Sessions) authenticateDevice(ctx context.Context, username, password string) (sess, known *otos.Session, err error) {
	e, err := s.views.voucher(ctx, otos.VoucherLookup(username))
	if err != nil || e == nil {
		return nil, nil, cmp.Or(err, error(errBadCredentials))
	}
	view := e.session
	switch {
	case !e.credential.CheckPassword(password):
		return nil, &view, errBadCredentials
	case !e.enabled:
		return nil, &view, otos.Errorf(otos.EFORBIDDEN, "device is disabled")
	case otos.Expired(view.Until, s.now()):
		return nil, &view, errExpired(view.Previous)
	}
	return &view, &view, nil
}

// errExpired is the refusal of a voucher past its lifetime, or, for a
// previous voucher, past its rotation's overlap.
func errExpired(previous bool) error {
	if previous {
		return otos.Errorf(otos.EEXPIRED, "this voucher was replaced by a rotation and its overlap has ended; use the new voucher")
	}
	return otos.Errorf(otos.EEXPIRED, "the voucher has expired; rotate it before it expires, or register again")
}

// authenticateAccount checks a service account's password.
func (s *Sessions) authenticateAccount(ctx context.Context, id, password string) (*otos.Session, error) {
	t, err := s.store.TokenByHash(ctx, otos.TokenHash(otos.Secret(password)))
	if err != nil {
		return nil, ifNotFound(err, errBadCredentials)
	}
	if t.Role != otos.RoleService || !t.Active(s.now()) || subtle.ConstantTimeCompare([]byte(t.ID), []byte(id)) != 1 {
		return nil, errBadCredentials
	}
	return &otos.Session{TenantID: t.TenantID, AccountID: t.ID}, nil
}

// Connected implements otos.Sessions. The first connection of a device is
// written at once, because it closes re-registration; later ones only
// refresh presence, which is written in batches.
func (s *Sessions) Connected(ctx context.Context, sess *otos.Session) error {
	if sess.Registration {
		return nil
	}
	if sess.IsService() {
		s.live.add(sess)
		return nil
	}
	now := s.timestamp()
	if clone, addrs := s.clones.observe(sess.DeviceID, sess.From.Key, now); clone {
		if err := s.cloneSuspected(ctx, sess, addrs); err != nil {
			return err
		}
	}
	ev := s.sessionEvent(otos.EventDeviceConnected, sess)
	if sess.Previous {
		// A voucher replaced by a rotation, within its overlap: its first
		// connection closes re-registration as the current one's would
		// (the device may have rotated before it ever connected).
		if err := s.store.MarkConnected(ctx, sess.DeviceID, sess.Lookup, now, ev); err != nil {
			if otos.ErrorCode(err) == otos.ENOTFOUND {
				return errBadCredentials
			}
			return fmt.Errorf("mark connected: %w", err)
		}
		s.live.add(sess)
		return nil
	}
	if err := s.endOverlap(ctx, sess, now); err != nil {
		return err
	}
	if !s.views.hasConnected(sess.Lookup) {
		err := s.store.MarkConnected(ctx, sess.DeviceID, sess.Lookup, now, ev)
		if otos.ErrorCode(err) == otos.ENOTFOUND {
			return errBadCredentials // disabled, reset or re-issued since it was checked
		}
		if err != nil {
			return fmt.Errorf("mark connected: %w", err)
		}
		s.views.connected(sess.DeviceID, sess.Lookup)
		s.live.add(sess)
		return nil
	}
	s.presence.add(otos.Presence{DeviceID: sess.DeviceID, Online: true, At: now}, ev)
	s.live.add(sess)
	return nil
}

// endOverlap ends the overlap of the voucher that a rotation replaced once
// the new one, sess's, is first used: the previous voucher is refused from
// now on and the sessions still using it are closed, on every node.
func (s *Sessions) endOverlap(ctx context.Context, sess *otos.Session, now time.Time) error {
	e, err := s.views.voucher(ctx, sess.Lookup)
	if err != nil || e == nil || e.other == nil || e.session.Previous {
		return err
	}
	err = s.store.EndOverlap(ctx, sess.DeviceID, sess.Lookup, now)
	switch otos.ErrorCode(err) {
	case "", otos.ENOTFOUND: // ENOTFOUND: ended already, on another node, or rotated again
	default:
		return fmt.Errorf("end voucher overlap: %w", err)
	}
	s.views.endOverlap(sess.Lookup, e.other)
	return nil
}

// rotationRequested marks the live sessions of this node whose device is in
// sc as asked to rotate, their voucher valid until deadline at the latest,
// and tells their broker.
func (s *Sessions) rotationRequested(sc otos.RotationScope, deadline *time.Time) {
	if deadline != nil {
		s.expiries.capScope(sc, *deadline)
	}
	changed := s.live.update(func(sess *otos.Session) *otos.Session {
		if sess.IsService() || !inScope(sc, sess.TenantID, sess.TemplateID, sess.DeviceID) {
			return nil
		}
		c := *sess
		c.RotationRequested = true
		if deadline != nil && (c.Until == nil || deadline.Before(*c.Until)) {
			c.Until = deadline
		}
		return &c
	})
	for _, sess := range changed {
		s.rotate(sess)
	}
}

// online counts the devices with a live session on this node in scope
// (every tenant's for the system scope).
func (s *Sessions) online(scope otos.Scope) int64 {
	n := int64(0)
	for _, sess := range s.live.snapshot() {
		if !sess.IsService() && (scope == "" || otos.Scope(sess.TenantID) == scope) {
			n++
		}
	}
	return n
}

// Expire closes the live sessions whose voucher has stopped being valid
// (Session.Until): an expired voucher, or one replaced by a rotation whose
// overlap has ended. It returns how many.
func (s *Sessions) Expire() int {
	now := s.now()
	keys := map[string]struct{}{}
	for _, sess := range s.live.snapshot() {
		if otos.Expired(sess.Until, now) {
			s.live.remove(sess.Key())
			keys[sess.VoucherKey()] = struct{}{}
		}
	}
	for _, e := range s.expiries.due(now) {
		keys[e.key] = struct{}{} // whether or not a session of it lives here: the broker knows
	}
	for k := range keys {
		s.views.dropLocal(k)
	}
	if len(keys) > 0 {
		s.log.Info("sessions closed: voucher expired, or its rotation's overlap ended", "vouchers", len(keys))
	}
	return len(keys)
}

// sessionEvent returns an event of type typ about the device of sess.
func (s *Sessions) sessionEvent(typ otos.EventType, sess *otos.Session) *otos.Event {
	return s.event(typ, sess.TenantID, sess.DeviceID, otos.EventData{DeviceID: sess.DeviceID,
		DeviceNumber: sess.DeviceNumber, TemplateID: sess.TemplateID, ClientAddr: sess.From.Addr})
}

// Disconnected implements otos.Sessions.
func (s *Sessions) Disconnected(sess *otos.Session) {
	if sess.Registration {
		return
	}
	s.live.remove(sess.Key())
	if !sess.IsService() {
		s.presence.add(otos.Presence{DeviceID: sess.DeviceID, At: s.timestamp()},
			s.sessionEvent(otos.EventDeviceDisconnected, sess))
	}
}

// Authorize implements otos.Sessions: a device publishes its uplinks and
// subscribes to its own downlinks (otos.IsUplink, otos.IsOwnDownlink); a
// service account subscribes to its tenant's consumer topics and publishes
// the downlinks of its tenant's devices.
func (s *Sessions) Authorize(ctx context.Context, sess *otos.Session, topic string, publish bool) bool {
	switch {
	case sess.Registration || otos.IsRegistrationTopic(sess, topic, publish):
		return otos.IsRegistrationTopic(sess, topic, publish)
	case otos.IsVoucherTopic(sess, topic, publish):
		return true
	case !sess.IsService() && publish:
		return otos.IsUplink(sess, topic)
	case !sess.IsService():
		return otos.IsOwnDownlink(sess, topic)
	case !publish:
		return otos.IsConsumerFilter(sess.TenantID, topic)
	}
	number, ok := otos.DownlinkNumber(topic)
	if !ok {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	d, err := s.views.device(ctx, number)
	return err == nil && d != nil && d.TenantID == sess.TenantID
}

// FlushPresence writes the presence changes gathered since the last flush,
// with their connected and disconnected events.
func (s *Sessions) FlushPresence(ctx context.Context) {
	ps, es, dropped := s.presence.take()
	if dropped > 0 {
		s.log.Error("presence events dropped: the store is not keeping up", "dropped", dropped)
	}
	if len(ps) == 0 && len(es) == 0 {
		return
	}
	if err := s.store.RecordPresence(ctx, ps, es...); err != nil {
		kept := retryable(err)
		if kept {
			s.presence.putBack(ps, es) // a short outage loses no connection
		}
		s.log.Warn("record presence", "devices", len(ps), "events", len(es), "kept", kept, "err", err)
	}
}

// putBack returns to p what a write that failed took from it, ahead of what
// came since. Past maxPresenceEvents the oldest events are dropped, and
// counted for the next take.
func (p *presence) putBack(ps []otos.Presence, es []*otos.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pending == nil {
		p.pending = map[string]otos.Presence{}
	}
	for _, e := range ps {
		if old, ok := p.pending[e.DeviceID]; !ok || e.At.After(old.At) {
			p.pending[e.DeviceID] = e
		}
	}
	all := append(es, p.events...)
	over := max(0, len(all)-maxPresenceEvents)
	p.events, p.dropped = all[over:], p.dropped+over
}

// Revalidate checks every live session of this node against the store and
// ends those whose device was disabled, reset, deleted or re-issued a
// voucher, or whose service account was revoked: what a lost message from
// another node would have said.
func (s *Sessions) Revalidate(ctx context.Context) {
	dropped := 0
	for _, sess := range s.live.snapshot() {
		if !s.stillValid(ctx, sess) {
			s.views.forget(sess.Key())
			s.views.dropLocal(sess.Key())
			dropped++
		}
	}
	if dropped > 0 {
		s.log.Warn("sessions dropped on revalidation", "dropped", dropped)
	}
}

// stillValid reports whether sess may stay connected; when the store cannot
// tell (it is unreachable), it may.
func (s *Sessions) stillValid(ctx context.Context, sess *otos.Session) bool {
	if sess.IsService() {
		t, err := s.store.Token(ctx, sess.AccountID)
		if err != nil {
			return otos.ErrorCode(err) != otos.ENOTFOUND
		}
		return t.Active(s.now())
	}
	d, err := s.store.Device(ctx, sess.DeviceID)
	if err != nil {
		return otos.ErrorCode(err) != otos.ENOTFOUND
	}
	now := s.now()
	switch {
	case d.Status != otos.StatusEnabled:
		return false
	case bytes.Equal(d.Credential.Lookup, sess.Lookup):
		return !otos.Expired(d.VoucherExpiresAt, now)
	default:
		return bytes.Equal(d.Previous.Lookup, sess.Lookup) && d.PreviousValid(now)
	}
}
