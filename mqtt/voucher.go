package mqtt

import (
	"context"
	"encoding/json"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/otos-iot/otos"
)

// rotationRequest rotates the voucher of a device session at its request
// (otos.RotatePrefix) and writes the answer, which carries the new voucher,
// to cl alone. One rotation at a time per client: a second one meanwhile
// is answered EROTATED without asking the core.
func (h *hook) rotationRequest(cl *mochi.Client, sess *otos.Session, pk packets.Packet) {
	id, _ := otos.RequestID(otos.RotatePrefix, pk.TopicName)
	topic := otos.RotateResponsePrefix + id
	if h.registrar == nil {
		h.answer(cl, topic, otos.NewAuthReply(nil, otos.Errorf(otos.EFORBIDDEN, "rotation over MQTT is off on this broker"), otos.English))
		return
	}
	if _, busy := h.rotations.LoadOrStore(cl, struct{}{}); busy {
		h.answer(cl, topic, otos.NewAuthReply(nil, &otos.Error{Code: otos.EROTATED,
			Message: "One rotation at a time: wait for the answer to the last one"}, otos.English))
		return
	}
	go func() {
		defer h.rotations.Delete(cl)
		ctx, cancel := context.WithTimeout(context.Background(), registerTimeout)
		defer cancel()
		iss, err := h.registrar.Rotate(ctx, sess)
		h.answer(cl, topic, otos.NewAuthReply(iss, err, otos.English))
	}()
}

// OnSubscribed tells a device that subscribed to its control topic while an
// operator's request that it rotate its voucher is pending: what it would
// have heard had it been subscribed when the request was made.
func (h *hook) OnSubscribed(cl *mochi.Client, pk packets.Packet, codes []byte) {
	sess := h.session(cl)
	if sess == nil || !sess.RotationRequested {
		return
	}
	control := otos.ControlTopic(sess.DeviceNumber)
	for i, f := range pk.Filters {
		if i < len(codes) && codes[i] < packets.ErrUnspecifiedError.Code && f.Filter == control {
			// After the SUBACK, which mochi writes once this returns.
			go h.notice(cl, sess)
			return
		}
	}
}

// notice writes sess's rotation notice to cl.
func (h *hook) notice(cl *mochi.Client, sess *otos.Session) {
	body, _ := json.Marshal(otos.ControlNotice{Action: otos.ActionRotateVoucher, Deadline: sess.Until})
	if err := cl.WritePacket(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish},
		TopicName: otos.ControlTopic(sess.DeviceNumber), Payload: body}); err != nil {
		h.log.Info("mqtt rotation notice not sent", "remote", cl.Net.Remote, "err", err)
	}
}

// RotationRequested tells the live clients of sess's device that an
// operator asked it to rotate its voucher, on its control topic, and marks
// them so that a later subscription hears it too.
func (b *Broker) RotationRequested(sess *otos.Session) {
	for _, cl := range b.hook.clients(sess.Key()) {
		if cur := b.hook.session(cl); cur != nil && !cur.IsService() {
			c := *cur
			c.RotationRequested, c.Until = true, sess.Until
			b.hook.sessions.Store(cl, &c)
			if subscribed(cl, otos.ControlTopic(sess.DeviceNumber)) {
				b.hook.notice(cl, &c)
			}
		}
	}
}

// subscribed reports whether cl holds a subscription to filter.
func subscribed(cl *mochi.Client, filter string) bool {
	_, ok := cl.State.Subscriptions.Get(filter)
	return ok
}
