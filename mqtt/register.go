package mqtt

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"sync"
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
	// registerTimeout bounds one request; a session closed meanwhile waits
	// for its answers first, so that no voucher is issued and lost.
	registerTimeout = 4 * time.Second
)

// registration is what the broker keeps of a registration session.
type registration struct {
	requests atomic.Int32
	timer    *time.Timer
	inFlight sync.WaitGroup // requests not answered yet
	closing  sync.Once
}

// closeGrace is how long a registration session is kept after its last
// answer, so that the acknowledgement of its last request, which the
// broker writes after the request is handed over, goes out before the
// DISCONNECT: a client waiting for it would otherwise wait in vain.
const closeGrace = 200 * time.Millisecond

// close disconnects cl once its answers are out.
func (h *hook) closeRegistration(cl *mochi.Client, reg *registration, why string, code packets.Code) {
	reg.closing.Do(func() {
		go func() {
			reg.inFlight.Wait()
			time.Sleep(closeGrace)
			h.log.Info("mqtt registration session ended: "+why, "remote", cl.Net.Remote)
			_ = h.server.DisconnectClient(cl, code)
		}()
	})
}

var registrationIDs atomic.Uint64

// startRegistration limits the life of registration session cl, and keeps
// its client id apart from every other's, so that no client can take it
// over.
func (h *hook) startRegistration(cl *mochi.Client) {
	reg := &registration{}
	reg.timer = time.AfterFunc(RegistrationTTL, func() { h.closeRegistration(cl, reg, "its time is up", packets.ErrMaxConnectTime) })
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
	var reg *registration
	last := false
	if sess.Registration {
		v, ok := h.registrations.Load(cl)
		if !ok {
			return
		}
		reg = v.(*registration)
		n := reg.requests.Add(1)
		if n > RegistrationRequests {
			return // answered its budget already; it is being closed
		}
		last = n == RegistrationRequests
		reg.inFlight.Add(1)
	} else if _, busy := h.batches.LoadOrStore(cl, struct{}{}); busy {
		id, _ := otos.RequestID(otos.GatewayRegisterPrefix, pk.TopicName)
		h.answer(cl, otos.GatewayRegisterResponsePrefix+id, otos.NewBatchReply(nil,
			otos.Errorf(otos.ERATELIMITED, "One batch at a time: wait for the answer to the last one"), otos.English))
		return
	}
	topic, payload := pk.TopicName, slices.Clone(pk.Payload)
	go func() {
		if reg != nil {
			defer reg.inFlight.Done()
		} else {
			defer h.batches.Delete(cl)
		}
		ctx, cancel := context.WithTimeout(context.Background(), registerTimeout)
		defer cancel()
		respTopic, reply := h.answerRegistration(ctx, sess, topic, payload)
		h.answer(cl, respTopic, reply)
		if last {
			h.closeRegistration(cl, reg, "its requests are spent", packets.CodeDisconnect)
		}
	}()
}

// answer writes reply to cl alone, on topic.
func (h *hook) answer(cl *mochi.Client, topic string, reply any) {
	body, err := json.Marshal(reply)
	if err == nil {
		err = cl.WritePacket(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish},
			TopicName: topic, Payload: body})
	}
	if err != nil {
		h.log.Info("mqtt registration answer not sent", "remote", cl.Net.Remote, "err", err)
	}
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
