package provision

import (
	"bytes"
	"context"
	"log/slog"
	"time"

	"github.com/otos-iot/otos"
	"github.com/otos-iot/otos/limit"
)

// How long each view is trusted: the backstop should a message from another
// node be lost. A change made through the core drops what it affects at
// once, on this node and, through the Notifier, on the others.
const (
	voucherTTL  = time.Minute     // the broker's view of a device, by voucher
	unknownTTL  = time.Minute     // a voucher or template secret that is not known
	deviceTTL   = 5 * time.Second // a device by number: repeats, parents, downlinks
	templateTTL = 2 * time.Second // a template by secret and by id
	secretsTTL  = 5 * time.Second // a template's opened secrets
	typeTTL     = time.Hour       // a template's device type, which never changes
)

// Sizes of the views, in entries. Unknown credentials have views of their
// own, so that a flood of them cannot push out the known ones.
const (
	voucherViews  = 200_000
	unknownViews  = 100_000
	deviceViews   = 100_000
	templateViews = 10_000
)

// voucherView is what the broker needs of a device, by its voucher.
type voucherView struct {
	session    otos.Session // Until and Previous say how long the voucher is valid
	credential otos.Credential
	enabled    bool
	connected  bool // has connected before: first_connected_at is set
	// other is the device's other voucher: for its current one, the one a
	// rotation replaced while its overlap lasts (which the current one's
	// first use ends); for a previous one, the current one. nil when none.
	other []byte
}

// views is the one owner of what the core keeps of the store in memory, so
// that a registration storm or a CONNECT storm costs no store read per
// request. Every view is bounded (limit.Cache) and expires; each kind of
// change has one call that drops what it affects and tells the other nodes:
// forgetDevice, revoke, forgetTemplate. Nothing else in otos caches store
// data. A view never returns ENOTFOUND: a nil result means there is none.
type views struct {
	store     otos.Store
	keys      *Keyring
	now       func() time.Time
	log       *slog.Logger
	notifier  Notifier
	dropLocal func(id string) // ends the live sessions of a device or account here
	// rotateLocal tells the live sessions here whose device was asked to
	// rotate its voucher; expireLocal schedules the end of the sessions of
	// a voucher here (see Sessions.expireAt).
	rotateLocal func(sc otos.RotationScope, deadline *time.Time)
	expireLocal func(e expiry)

	vouchers   *limit.Cache[*voucherView]    // by voucher look-up key; tag: device id
	unknown    *limit.Cache[struct{}]        // voucher look-up keys that name no device
	retired    *limit.Cache[*voucherView]    // previous vouchers past their overlap
	devices    *limit.Cache[*otos.Device]    // by device number; tag: device id
	bySecret   *limit.Cache[*otos.Template]  // by secret hash; tag: template id
	badSecrets *limit.Cache[struct{}]        // secret hashes that name no template
	byID       *limit.Cache[*otos.Template]  // by id; tag: template id
	secrets    *limit.Cache[[]otos.Secret]   // a template's valid secrets, opened; by template id
	types      *limit.Cache[otos.DeviceType] // by template id
}

func newViews(c *core, n Notifier, dropLocal func(string)) *views {
	return &views{store: c.store, keys: c.keys, now: c.now, log: c.log, notifier: n, dropLocal: dropLocal,
		vouchers:   limit.NewCache[*voucherView](limit.CacheConfig{MaxKeys: voucherViews, UniqueTag: true}),
		unknown:    limit.NewCache[struct{}](limit.CacheConfig{MaxKeys: unknownViews}),
		retired:    limit.NewCache[*voucherView](limit.CacheConfig{MaxKeys: unknownViews}),
		devices:    limit.NewCache[*otos.Device](limit.CacheConfig{MaxKeys: deviceViews, UniqueTag: true}),
		bySecret:   limit.NewCache[*otos.Template](limit.CacheConfig{MaxKeys: templateViews}),
		badSecrets: limit.NewCache[struct{}](limit.CacheConfig{MaxKeys: unknownViews}),
		byID:       limit.NewCache[*otos.Template](limit.CacheConfig{MaxKeys: templateViews}),
		secrets:    limit.NewCache[[]otos.Secret](limit.CacheConfig{MaxKeys: templateViews}),
		types:      limit.NewCache[otos.DeviceType](limit.CacheConfig{MaxKeys: templateViews}),
	}
}

// templateBySecret returns the template that has the secret whose keyed hash
// is hash, current or within its grace period. The template is shared:
// callers must not change it.
func (v *views) templateBySecret(ctx context.Context, hash []byte) (*otos.Template, error) {
	now := v.now()
	if t, ok := v.bySecret.GetBytes(hash, now); ok {
		return t, nil
	}
	// Secrets are random: one unknown now is unknown for good (a new one
	// is never guessed before it is issued), so a flood of wrong secrets
	// costs one store read.
	if _, ok := v.badSecrets.GetBytes(hash, now); ok {
		return nil, nil
	}
	epoch := v.bySecret.Epoch()
	t, err := v.store.TemplateBySecret(ctx, hash, now)
	switch otos.ErrorCode(err) {
	case "":
		v.bySecret.PutIf(string(hash), t.ID, t, now.Add(templateTTL), epoch)
		return t, nil
	case otos.ENOTFOUND:
		v.badSecrets.Put(string(hash), "", struct{}{}, now.Add(unknownTTL))
		return nil, nil
	}
	return nil, err
}

// template returns template id.
func (v *views) template(ctx context.Context, id string) (*otos.Template, error) {
	now := v.now()
	if t, ok := v.byID.Get(id, now); ok {
		return t, nil
	}
	epoch := v.byID.Epoch()
	t, err := v.store.Template(ctx, id)
	if otos.ErrorCode(err) == otos.ENOTFOUND {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	v.byID.PutIf(id, id, t, now.Add(templateTTL), epoch)
	return t, nil
}

// openSecrets returns the template's valid secrets in plain text, so that
// verifying a signature costs no store read nor decryption.
func (v *views) openSecrets(ctx context.Context, templateID string) ([]otos.Secret, error) {
	now := v.now()
	if ss, ok := v.secrets.Get(templateID, now); ok {
		return ss, nil
	}
	epoch := v.secrets.Epoch()
	stored, err := v.store.TemplateSecrets(ctx, templateID, now)
	if err != nil {
		return nil, err
	}
	until := now.Add(secretsTTL)
	ss := make([]otos.Secret, 0, len(stored))
	for _, ts := range stored {
		secret, err := v.keys.Open(ts.Sealed)
		if err != nil {
			return nil, err
		}
		ss = append(ss, secret)
		if !ts.ExpiresAt.IsZero() && ts.ExpiresAt.Before(until) {
			// An old secret's grace ends: look again then. Counted from now,
			// whose monotonic clock the cache keeps, so that a step of the
			// wall clock cannot stretch the grace.
			until = now.Add(ts.ExpiresAt.Sub(now))
		}
	}
	v.secrets.PutIf(templateID, templateID, ss, until, epoch)
	return ss, nil
}

// deviceType returns the device type of template id.
func (v *views) deviceType(ctx context.Context, id string) (otos.DeviceType, error) {
	now := v.now()
	if typ, ok := v.types.Get(id, now); ok {
		return typ, nil
	}
	t, err := v.store.Template(ctx, id)
	if err != nil {
		return "", err
	}
	v.types.Put(id, "", t.DeviceType, now.Add(typeTTL))
	return t.DeviceType, nil
}

// device returns the device with this number.
func (v *views) device(ctx context.Context, number string) (*otos.Device, error) {
	now := v.now()
	if d, ok := v.devices.Get(number, now); ok {
		return d, nil
	}
	epoch := v.devices.Epoch()
	d, err := v.store.DeviceByNumber(ctx, number)
	if otos.ErrorCode(err) == otos.ENOTFOUND {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	v.devices.PutIf(number, d.ID, d, now.Add(deviceTTL), epoch)
	return d, nil
}

// peekDevice returns the device with this number if the view holds it,
// without reading the store.
func (v *views) peekDevice(number string) *otos.Device {
	d, _ := v.devices.Get(number, v.now())
	return d
}

// voucher returns the broker's view of the device holding the voucher with
// this look-up key.
func (v *views) voucher(ctx context.Context, lookup []byte) (*voucherView, error) {
	now := v.now()
	if e, ok := v.vouchers.GetBytes(lookup, now); ok {
		return e, nil
	}
	// Voucher usernames are random too: a flood of one unknown username
	// (a device whose voucher was voided, retrying) costs one store read.
	if _, ok := v.unknown.GetBytes(lookup, now); ok {
		return nil, nil
	}
	if e, ok := v.retired.GetBytes(lookup, now); ok {
		return e, nil
	}
	epoch := v.vouchers.Epoch()
	d, err := v.store.DeviceByCredential(ctx, lookup)
	if otos.ErrorCode(err) == otos.ENOTFOUND {
		v.unknown.Put(string(lookup), "", struct{}{}, now.Add(unknownTTL))
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	typ, err := v.deviceType(ctx, d.TemplateID)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(d.Credential.Lookup, lookup) {
		// A previous voucher: not kept, for the view holds one voucher per
		// device, and this one is used only until the device reconnects.
		// Past its overlap it is remembered a while, as refused.
		e := previousViewOf(d, typ)
		if !d.PreviousValid(now) {
			v.retired.Put(string(lookup), "", e, now.Add(unknownTTL))
		}
		return e, nil
	}
	e := voucherViewOf(d, typ, now)
	v.vouchers.PutIf(string(lookup), d.ID, e, now.Add(voucherTTL), epoch)
	return e, nil
}

// voucherViewOf is the broker's view of device d, of a template of type typ,
// by its current voucher at now.
func voucherViewOf(d *otos.Device, typ otos.DeviceType, now time.Time) *voucherView {
	e := &voucherView{
		session: otos.Session{TenantID: d.TenantID, DeviceID: d.ID, DeviceNumber: d.DeviceNumber,
			TemplateID: d.TemplateID, DeviceType: typ, Lookup: d.Credential.Lookup, Until: d.VoucherExpiresAt,
			RotationRequested: d.RotationRequestedAt != nil},
		credential: d.Credential,
		enabled:    d.Status == otos.StatusEnabled,
		connected:  d.FirstConnectedAt != nil,
	}
	if d.PreviousValid(now) {
		e.other = d.Previous.Lookup
	}
	return e
}

// previousViewOf is the broker's view of device d by the voucher its last
// rotation replaced.
func previousViewOf(d *otos.Device, typ otos.DeviceType) *voucherView {
	e := voucherViewOf(d, typ, time.Time{})
	e.session.Lookup, e.session.Until, e.session.Previous = d.Previous.Lookup, d.PreviousUntil, true
	e.credential, e.other = d.Previous, d.Credential.Lookup
	return e
}

// registered puts the voucher of a device just created into the broker's
// view: the device connects next, most likely to this node. epoch is the
// vouchers' Epoch from before the insert, so that a change made meanwhile
// wins.
func (v *views) registered(d *otos.Device, typ otos.DeviceType, epoch uint64) {
	now := v.now()
	v.vouchers.PutIf(string(d.Credential.Lookup), d.ID, voucherViewOf(d, typ, now), now.Add(voucherTTL), epoch)
}

// hasConnected reports whether the view knows that the device holding this
// voucher has connected before; false when it does not know.
func (v *views) hasConnected(lookup []byte) bool {
	e, ok := v.vouchers.GetBytes(lookup, v.now())
	return ok && e.connected
}

// connected records that the device holding this voucher has connected:
// its re-registration has closed, which only this node's views could have
// hidden (another node's insert or re-issue checks it in the store).
func (v *views) connected(id string, lookup []byte) {
	found := v.vouchers.Update(string(lookup), func(e *voucherView) *voucherView {
		c := *e
		c.connected = true
		return &c
	})
	if !found {
		// A read under way would put the device as never connected: void it.
		v.vouchers.Delete(string(lookup))
	}
	v.devices.DeleteTag(id)
}

// rotated puts the new voucher of device d, of type typ, into the broker's
// view in place of the one that rotated (presented), and tells the other
// nodes to forget theirs: the device reconnects next, most likely here.
// epoch is the vouchers' Epoch from before the rotation's write, so that a
// change made meanwhile (a disable) wins.
func (v *views) rotated(d *otos.Device, typ otos.DeviceType, presented []byte, epoch uint64) {
	now := v.now()
	v.vouchers.PutIf(string(d.Credential.Lookup), d.ID, voucherViewOf(d, typ, now), now.Add(voucherTTL), epoch)
	// Then a read of the old voucher under way must not put it back in
	// the new one's place: this moves the epoch on.
	v.vouchers.Delete(string(presented))
	v.devices.DeleteTag(d.ID)
	v.publish(msgForget, d.ID)
}

// expireAt ends, at until, the sessions of the voucher of dev, here and on
// the other nodes: a voucher replaced by a rotation, whose overlap ends
// then.
func (v *views) expireAt(dev *otos.Session, until time.Time) {
	e := expiry{key: dev.VoucherKey(), tenant: dev.TenantID, template: dev.TemplateID, device: dev.DeviceID, until: until}
	if v.expireLocal != nil {
		v.expireLocal(e)
	}
	v.publish(msgExpire, e.String())
}

// endOverlap records that the rotated voucher current was first used: the
// one it replaced, previous, is refused from now on, and its sessions are
// closed here and on the other nodes.
func (v *views) endOverlap(current, previous []byte) {
	v.vouchers.Update(string(current), func(e *voucherView) *voucherView {
		c := *e
		c.other = nil
		return &c
	})
	v.revoke(otos.VoucherKeyOf(previous))
}

// rotationRequested drops the voucher views of the devices of sc and tells
// their live sessions, here and on the other nodes, that an operator asked
// them to rotate their voucher (by deadline, when set).
func (v *views) rotationRequested(sc otos.RotationScope, deadline *time.Time) {
	v.rotationRequestedLocal(sc, deadline)
	v.publish(msgRotate, formatRotate(sc, deadline))
}

func (v *views) rotationRequestedLocal(sc otos.RotationScope, deadline *time.Time) {
	if sc.DeviceID != "" {
		v.forget(sc.DeviceID)
	} else {
		v.vouchers.Clear() // the views do not know a voucher's template
	}
	if v.rotateLocal != nil {
		v.rotateLocal(sc, deadline)
	}
}

// forgetDevice drops the views of device id, here and on the other nodes,
// after a change that leaves its voucher valid (it was enabled).
func (v *views) forgetDevice(id string) {
	v.forget(id)
	v.publish(msgForget, id)
}

// revoke drops the views of a device or service account id and ends its
// live sessions, here and on the other nodes: its voucher or password
// stopped being valid.
func (v *views) revoke(id string) {
	v.forget(id)
	v.dropLocal(id)
	v.publish(msgDrop, id)
}

// forgetTemplate drops the views of template id, here and on the other
// nodes, after its settings or secrets changed.
func (v *views) forgetTemplate(id string) {
	v.forgetTemplateLocal(id)
	v.publish(msgTemplate, id)
}

func (v *views) forget(id string) {
	v.vouchers.DeleteTag(id)
	v.devices.DeleteTag(id)
}

func (v *views) forgetTemplateLocal(id string) {
	v.bySecret.DeleteTag(id)
	v.byID.DeleteTag(id)
	v.secrets.DeleteTag(id)
}

// flush drops every view: messages from the other nodes may have been lost.
func (v *views) flush() {
	for _, c := range []interface{ Clear() }{v.vouchers, v.unknown, v.retired, v.devices, v.bySecret, v.badSecrets, v.byID, v.secrets} {
		c.Clear()
	}
}
