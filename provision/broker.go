package provision

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/otos-iot/otos"
)

// ServiceUsernamePrefix starts the MQTT username of a service account; device
// voucher usernames are UUIDs, so the two never collide.
const ServiceUsernamePrefix = "svc_"

// Session is an authenticated MQTT client: a device, or a service account
// of a tenant.
type Session struct {
	TenantID string
	// Device fields, empty for a service account.
	DeviceID     string
	DeviceNumber string
	TemplateID   string
	DeviceType   otos.DeviceType
	// AccountID is the service account's id, empty for a device.
	AccountID string
	// lookup is the voucher's look-up key, which a first connection checks
	// is still the device's.
	lookup []byte
}

// IsService reports whether the session is a service account's.
func (s *Session) IsService() bool { return s.AccountID != "" }

// Key is the id under which the broker tracks the session's connections,
// and which Config.Revoked names.
func (s *Session) Key() string {
	if s.IsService() {
		return s.AccountID
	}
	return s.DeviceID
}

func badCredentials() error {
	return otos.Errorf(otos.EUNAUTHORIZED, "bad username or password")
}

// AuthenticateMQTT checks an MQTT CONNECT's username and password: a device
// voucher or a service account. EUNAUTHORIZED for unknown or wrong
// credentials (including a voided voucher), EFORBIDDEN for a disabled device.
func (s *Service) AuthenticateMQTT(ctx context.Context, username, password string) (*Session, error) {
	if username == "" {
		return nil, badCredentials()
	}
	if id, ok := strings.CutPrefix(username, ServiceUsernamePrefix); ok {
		return s.authenticateAccount(ctx, id, password)
	}
	e, err := s.cachedDevice(ctx, otos.VoucherLookup(username))
	if err != nil {
		return nil, err
	}
	if !e.credential.CheckPassword(password) {
		return nil, badCredentials()
	}
	if !e.enabled {
		return nil, otos.Errorf(otos.EFORBIDDEN, "device is disabled")
	}
	sess := e.session
	return &sess, nil
}

// cachedDevice returns the broker's view of the device holding the voucher
// with this look-up key, from the cache or the store.
func (s *Service) cachedDevice(ctx context.Context, lookup []byte) (*cachedDevice, error) {
	now := s.now()
	e, epoch := s.creds.get(lookup, now)
	if e != nil {
		return e, nil
	}
	d, err := s.store.DeviceByCredential(ctx, lookup)
	if err != nil {
		return nil, ifNotFound(err, badCredentials())
	}
	typ, err := s.deviceType(ctx, d.TemplateID)
	if err != nil {
		return nil, err
	}
	e = brokerView(d, typ, now)
	s.creds.put(lookup, e, epoch)
	return e, nil
}

// brokerView is the cache entry of device d, of a template of type typ.
func brokerView(d *otos.Device, typ otos.DeviceType, now time.Time) *cachedDevice {
	return &cachedDevice{
		session: Session{TenantID: d.TenantID, DeviceID: d.ID, DeviceNumber: d.DeviceNumber,
			TemplateID: d.TemplateID, DeviceType: typ, lookup: d.Credential.Lookup},
		credential: d.Credential,
		enabled:    d.Status == otos.StatusEnabled,
		connected:  d.FirstConnectedAt != nil,
		until:      now.Add(credTTL),
	}
}

// deviceType returns the device type of a template; it never changes, so
// it is cached for good.
func (s *Service) deviceType(ctx context.Context, templateID string) (otos.DeviceType, error) {
	if v, ok := s.templates.Load(templateID); ok {
		return v.(otos.DeviceType), nil
	}
	t, err := s.store.Template(ctx, templateID)
	if err != nil {
		return "", err
	}
	s.templates.Store(templateID, t.DeviceType)
	return t.DeviceType, nil
}

// DeviceConnected records that a device's session began. The first
// connection is written at once, because it closes re-registration; later
// ones only refresh presence, which is written in batches.
func (s *Service) DeviceConnected(ctx context.Context, sess *Session) error {
	if sess.IsService() {
		s.live.add(sess)
		return nil
	}
	now := s.timestamp()
	if !s.creds.hasConnected(sess.DeviceID) {
		err := s.store.MarkConnected(ctx, sess.DeviceID, sess.lookup, now)
		if otos.ErrorCode(err) == otos.ENOTFOUND {
			return badCredentials() // disabled, reset or re-issued since it was checked
		}
		if err != nil {
			return fmt.Errorf("mark connected: %w", err)
		}
		s.creds.markConnected(sess.DeviceID)
		s.known.forget(sess.DeviceID) // re-registration has just closed
		s.live.add(sess)
		return nil
	}
	s.presence.add(otos.Presence{DeviceID: sess.DeviceID, Online: true, At: now})
	s.live.add(sess)
	return nil
}

// DeviceDisconnected records that a device's session ended.
func (s *Service) DeviceDisconnected(sess *Session) {
	s.live.remove(sess.Key())
	if !sess.IsService() {
		s.presence.add(otos.Presence{DeviceID: sess.DeviceID, At: s.timestamp()})
	}
}

// DeviceTenant returns the tenant of the device with this number, so that the
// broker can check a service account's downlink; ENOTFOUND if there is none.
func (s *Service) DeviceTenant(ctx context.Context, number string) (string, error) {
	d, err := s.store.DeviceByNumber(ctx, number)
	if err != nil {
		return "", err
	}
	return d.TenantID, nil
}

// FlushPresence writes the presence changes gathered since the last flush.
func (s *Service) FlushPresence(ctx context.Context) {
	ps := s.presence.take()
	if len(ps) == 0 {
		return
	}
	if err := s.store.RecordPresence(ctx, ps); err != nil {
		s.log.Warn("record presence", "devices", len(ps), "err", err)
	}
}
