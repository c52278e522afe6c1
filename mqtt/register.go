package mqtt

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/otos-iot/otos"
)

// A registration session (otos.RegistrationUsername) lasts at most
// RegistrationTTL and sends at most RegistrationRequests requests; then the
// broker closes it.
const (
	RegistrationTTL      = 5 * time.Second
	RegistrationRequests = 4
	registerTimeout      = 10 * time.Second
)

// registration is what the broker keeps of a registration session.
type registration struct {
	requests atomic.Int32
	timer    *time.Timer
}

var registrationIDs atomic.Uint64

// startRegistration limits the life of registration session cl, and keeps
// its client id apart from every other's, so that no client can take it
// over.
func (h *hook) startRegistration(cl *mochi.Client) {
	reg := &registration{}
	reg.timer = time.AfterFunc(RegistrationTTL, func() {
		h.log.Info("mqtt registration session ended: its time is up", "remote", cl.Net.Remote)
		_ = h.server.DisconnectClient(cl, packets.ErrMaxConnectTime)
	})
	h.registrations.Store(cl, reg)
	cl.ID = "provision/" + strconv.FormatUint(registrationIDs.Add(1), 36) + "/" + cl.ID
}

// endRegistration forgets registration session cl.
func (h *hook) endRegistration(cl *mochi.Client) {
	if v, ok := h.registrations.LoadAndDelete(cl); ok {
		v.(*registration).timer.Stop()
	}
}

// registrationRequest answers a device auth request of a registration
// session, or a gateway's batch, on the response topic of its request id,
// to cl alone: the answer carries a voucher. The request itself reaches no
// one (the caller ignores the packet).
func (h *hook) registrationRequest(cl *mochi.Client, sess *otos.Session, pk packets.Packet) {
	last := false
	if sess.Registration {
		v, ok := h.registrations.Load(cl)
		if !ok {
			return
		}
		n := v.(*registration).requests.Add(1)
		if n > RegistrationRequests {
			return // answered its budget already; it is being closed
		}
		last = n == RegistrationRequests
	}
	topic, payload := pk.TopicName, slices.Clone(pk.Payload)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), registerTimeout)
		defer cancel()
		respTopic, reply := h.answerRegistration(ctx, sess, topic, payload)
		body, err := json.Marshal(reply)
		if err == nil {
			err = cl.WritePacket(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish},
				TopicName: respTopic, Payload: body})
		}
		if err != nil {
			h.log.Info("mqtt registration answer not sent", "remote", cl.Net.Remote, "err", err)
		}
		if last {
			h.log.Info("mqtt registration session ended: its requests are spent", "remote", cl.Net.Remote)
			_ = h.server.DisconnectClient(cl, packets.CodeDisconnect)
		}
	}()
}

// answerRegistration runs one request and returns its response topic and
// answer.
func (h *hook) answerRegistration(ctx context.Context, sess *otos.Session, topic string, payload []byte) (string, any) {
	if sess.Registration {
		id, _ := otos.RequestID(otos.RegisterPrefix, topic)
		iss, err := h.registrar.Register(ctx, sess.From, func() (*otos.AuthRequest, error) {
			if len(payload) > otos.MaxAuthBody {
				return nil, otos.Errorf(otos.ETOOLARGE, "Request body exceeds %d bytes", otos.MaxAuthBody)
			}
			return otos.DecodeAuthRequest(payload)
		})
		reply := otos.NewAuthReply(iss, err, otos.English)
		h.metrics.registrations.WithLabelValues(strconv.Itoa(reply.Code)).Inc()
		return otos.RegisterResponsePrefix + id, reply
	}
	id, _ := otos.RequestID(otos.GatewayRegisterPrefix, topic)
	outs, err := h.registrar.RegisterSubDevices(ctx, sess, func() ([]otos.SubDeviceRequest, error) {
		return otos.DecodeSubDeviceBatch(payload)
	})
	return otos.GatewayRegisterResponsePrefix + id, otos.NewBatchReply(outs, err, otos.English)
}
