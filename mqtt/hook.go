package mqtt

import (
	"bytes"
	"context"
	"sync"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/otos-iot/otos"
)

// authTimeout bounds the store work behind one CONNECT.
const authTimeout = 5 * time.Second

// User property names that carry the sender of an uplink to MQTT 5 consumers.
const (
	PropDeviceID     = "device_id"
	PropDeviceNumber = "device_number"
	PropTemplateID   = "template_id"
)

// hook authenticates CONNECTs, enforces the topic ACL, and routes uplinks
// to the tenant's consumer topics.
type hook struct {
	mochi.HookBase
	core      otos.Sessions
	registrar otos.Registrar // nil: no registration over MQTT
	server    *mochi.Server
	log       interface{ Info(string, ...any) }
	metrics   *metrics

	mu       sync.Mutex
	sessions sync.Map // *mochi.Client → *otos.Session
	// established marks clients whose CONNACK went out; revoked marks
	// clients dropped because their voucher or account was voided.
	established, revoked sync.Map                              // *mochi.Client → struct{}
	registrations        sync.Map                              // *mochi.Client → *registration
	batches              sync.Map                              // *mochi.Client → struct{}: a gateway batch in flight
	rotations            sync.Map                              // *mochi.Client → struct{}: a rotation in flight
	byKey                map[string]map[*mochi.Client]struct{} // session key → live clients
}

// ID implements mochi.Hook.
func (h *hook) ID() string { return "otos" }

// Provides implements mochi.Hook.
func (h *hook) Provides(b byte) bool {
	return bytes.Contains([]byte{mochi.OnConnect, mochi.OnConnectAuthenticate, mochi.OnACLCheck,
		mochi.OnDisconnect, mochi.OnPublish, mochi.OnWill, mochi.OnSessionEstablished, mochi.OnPublishDropped, mochi.OnSubscribed}, []byte{b})
}

// OnPublishDropped counts a message that mochi dropped because the
// client's outbound queue was full (see maxWritesPending).
func (h *hook) OnPublishDropped(*mochi.Client, packets.Packet) { h.metrics.dropped.Inc() }

// OnConnect authenticates the client. It runs before mochi's own
// authentication step so that it can refuse with the reason that fits:
// bad username or password, not authorized (disabled device, a will topic
// the client may not use) or server unavailable.
func (h *hook) OnConnect(cl *mochi.Client, pk packets.Packet) error {
	ctx, cancel := context.WithTimeout(context.Background(), authTimeout)
	defer cancel()
	from := otos.ClientOfRemote(cl.Net.Remote)
	user, pass := string(pk.Connect.Username), string(pk.Connect.Password)
	sess, err := h.core.Authenticate(ctx, from, user, pass)
	if err == nil && sess.Registration && (h.registrar == nil || pk.Connect.WillFlag || !pk.Connect.Clean ||
		pk.Properties.SessionExpiryInterval > 0) {
		// A kept session would outlive the registration session's time.
		err = otos.Errorf(otos.EFORBIDDEN, "registration over MQTT is off, or the session asked for a will or to be kept")
	}
	if err == nil && pk.Connect.WillFlag && !h.core.Authorize(ctx, sess, pk.Connect.WillTopic, true) {
		err = otos.Errorf(otos.EFORBIDDEN, "will topic not allowed")
	}
	if err == nil {
		// Tracked first, so that a disable or reset from now on finds and
		// drops this client; one that came before the tracking voided the
		// cache, and the second check below sees it.
		h.track(cl, sess)
		if err = h.core.Connected(ctx, sess); err != nil {
			h.forget(cl)
		} else if _, err = h.core.Authenticate(ctx, from, user, pass); err != nil {
			if _, last := h.forget(cl); last {
				h.core.Disconnected(sess) // undo what Connected recorded
			}
		}
	}
	if err != nil {
		code := refusal(err, cl.Properties.ProtocolVersion)
		h.metrics.connects.WithLabelValues(code.Reason).Inc()
		h.log.Info("mqtt connect refused", "reason", code.Reason, "remote", cl.Net.Remote, "err", err)
		_ = h.server.SendConnack(cl, code, false, nil)
		return code
	}
	// Client ids live in the device's own namespace: another device that
	// sends the same id must not take over this session and its downlinks.
	if sess.Registration {
		h.startRegistration(cl)
	} else {
		cl.ID = sess.Key() + "/" + cl.ID
	}
	h.metrics.connects.WithLabelValues("accepted").Inc()
	return nil
}

// refusal maps an authentication error to a CONNACK reason code: MQTT 5's,
// or 3.1.1's return codes 4, 5 and 3 (mochi would answer 5 for a bad
// password). A locked-out client is not authorized.
func refusal(err error, version byte) packets.Code {
	v5 := version >= 5
	switch otos.ErrorCode(err) {
	case otos.EUNAUTHORIZED, otos.EEXPIRED: // an expired voucher is a credential to replace
		if v5 {
			return packets.ErrBadUsernameOrPassword
		}
		return packets.Code{Code: 0x04, Reason: "bad username or password"}
	case otos.EFORBIDDEN, otos.ELOCKEDOUT:
		if v5 {
			return packets.ErrNotAuthorized
		}
		return packets.Code{Code: 0x05, Reason: "not authorized"}
	default:
		if v5 {
			return packets.ErrServerUnavailable
		}
		return packets.Code{Code: 0x03, Reason: "server unavailable"}
	}
}

// OnConnectAuthenticate accepts exactly the clients OnConnect accepted.
func (h *hook) OnConnectAuthenticate(cl *mochi.Client, _ packets.Packet) bool {
	_, ok := h.sessions.Load(cl)
	return ok
}

// OnSessionEstablished records that the client's CONNACK went out.
func (h *hook) OnSessionEstablished(cl *mochi.Client, _ packets.Packet) {
	h.established.Store(cl, struct{}{})
}

// OnDisconnect forgets the client and records the device offline once its
// last session has ended.
func (h *hook) OnDisconnect(cl *mochi.Client, _ error, _ bool) {
	h.endRegistration(cl)
	if sess, last := h.forget(cl); last {
		h.core.Disconnected(sess)
	}
}

// forget stops tracking cl; last reports whether it was its key's last live
// client.
func (h *hook) forget(cl *mochi.Client) (sess *otos.Session, last bool) {
	h.established.Delete(cl)
	h.revoked.Delete(cl)
	v, ok := h.sessions.LoadAndDelete(cl)
	if !ok {
		return nil, false
	}
	sess = v.(*otos.Session)
	h.mu.Lock()
	for i, key := range sessionKeys(sess) {
		set := h.byKey[key]
		delete(set, cl)
		if len(set) == 0 {
			delete(h.byKey, key)
			last = last || i == 0
		}
	}
	h.mu.Unlock()
	h.metrics.sessions.Dec()
	return sess, last
}

// sweep forgets clients whose connection ended without a disconnect event:
// mochi skips OnDisconnect when the CONNACK cannot be sent (a client that
// asked for a tiny maximum packet size, or one dropped as it connected).
func (h *hook) sweep() {
	var closed []*mochi.Client
	h.sessions.Range(func(k, _ any) bool {
		cl := k.(*mochi.Client)
		if _, ok := h.established.Load(cl); !ok && cl.Closed() {
			closed = append(closed, cl)
		}
		return true
	})
	for _, cl := range closed {
		if sess, last := h.forget(cl); last {
			h.core.Disconnected(sess)
		}
		if cur, ok := h.server.Clients.Get(cl.ID); ok && cur == cl {
			h.server.Clients.Delete(cl.ID)
		}
	}
}

func (h *hook) track(cl *mochi.Client, sess *otos.Session) {
	h.sessions.Store(cl, sess)
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, key := range sessionKeys(sess) {
		if h.byKey[key] == nil {
			h.byKey[key] = map[*mochi.Client]struct{}{}
		}
		h.byKey[key][cl] = struct{}{}
	}
	h.metrics.sessions.Inc()
}

// sessionKeys are the ids a revocation may name to end sess: its key, and a
// device's voucher key (see otos.Session.VoucherKey). The first is the one
// whose last client ending makes the session end.
func sessionKeys(sess *otos.Session) []string {
	if vk := sess.VoucherKey(); vk != "" {
		return []string{sess.Key(), vk}
	}
	return []string{sess.Key()}
}

// clients returns the live clients of a session key.
func (h *hook) clients(key string) []*mochi.Client {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []*mochi.Client
	for cl := range h.byKey[key] {
		out = append(out, cl)
	}
	return out
}

func (h *hook) session(cl *mochi.Client) *otos.Session {
	if v, ok := h.sessions.Load(cl); ok {
		return v.(*otos.Session)
	}
	return nil
}

// OnACLCheck implements the topic ACL: write is a publish, otherwise a
// subscription filter or the topic of a message about to be delivered.
func (h *hook) OnACLCheck(cl *mochi.Client, topic string, write bool) bool {
	sess := h.session(cl)
	if sess == nil {
		return false
	}
	// Most checks are of devices' own topics and read nothing: the core
	// bounds the store read of a service account's downlink itself.
	ok := h.core.Authorize(context.Background(), sess, topic, write)
	if !ok {
		h.metrics.denied.Inc()
	}
	return ok
}

// OnPublish moves a device's uplink to its tenant's consumer topic and
// names the sender in user properties, replacing any the device set itself.
func (h *hook) OnPublish(cl *mochi.Client, pk packets.Packet) (packets.Packet, error) {
	sess := h.session(cl)
	if sess == nil {
		return pk, nil
	}
	if h.registrar != nil && otos.IsRegistrationTopic(sess, pk.TopicName, true) {
		h.registrationRequest(cl, sess, pk)
		return pk, packets.CodeSuccessIgnore // acknowledged, routed to no one
	}
	if sess.Registration {
		return pk, packets.ErrRejectPacket
	}
	if otos.IsVoucherTopic(sess, pk.TopicName, true) {
		h.rotationRequest(cl, sess, pk)
		return pk, packets.CodeSuccessIgnore
	}
	if sess.IsService() {
		// A retained downlink would outlive the device and reach the next
		// device given its number, in any tenant: downlinks are not kept.
		pk.FixedHeader.Retain = false
		return pk, nil
	}
	if !otos.IsUplink(sess, pk.TopicName) {
		// A topic alias can name a topic after the ACL saw an empty one.
		return pk, packets.ErrRejectPacket
	}
	pk.TopicName = otos.ConsumerTopic(sess, pk.TopicName)
	pk.Properties.User = sender(sess, pk.Properties.User)
	h.metrics.uplinks.Inc()
	return pk, nil
}

// OnWill routes a device's will message like any of its uplinks; OnConnect
// refused wills on topics the device may not publish.
func (h *hook) OnWill(cl *mochi.Client, will mochi.Will) (mochi.Will, error) {
	sess := h.session(cl)
	if sess == nil || sess.IsService() {
		return will, nil
	}
	if _, ok := h.revoked.Load(cl); ok {
		// Its voucher was voided: nothing more is published in its name.
		return mochi.Will{}, nil
	}
	will.TopicName = otos.ConsumerTopic(sess, will.TopicName)
	will.User = sender(sess, will.User)
	return will, nil
}

// sender returns props without the sender properties, then the true ones.
func sender(sess *otos.Session, props []packets.UserProperty) []packets.UserProperty {
	out := make([]packets.UserProperty, 0, len(props)+3)
	for _, p := range props {
		if p.Key != PropDeviceID && p.Key != PropDeviceNumber && p.Key != PropTemplateID {
			out = append(out, p)
		}
	}
	return append(out,
		packets.UserProperty{Key: PropDeviceID, Val: sess.DeviceID},
		packets.UserProperty{Key: PropDeviceNumber, Val: sess.DeviceNumber},
		packets.UserProperty{Key: PropTemplateID, Val: sess.TemplateID})
}
