package nats

import (
	"encoding/json"
	"strings"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/otos-iot/otos"
)

// clientInfoHeader is where nats-server, on a service import that shares
// it, puts who published a message. The server writes it over whatever the
// publisher sent, so a device cannot claim another's identity.
const clientInfoHeader = "Nats-Request-Info"

// publisher returns the session that published m, from the server's header.
func publisher(m *natsgo.Msg) (*otos.Session, bool) {
	var ci struct {
		Tags []string `json:"tags"`
	}
	if m.Header == nil || json.Unmarshal([]byte(m.Header.Get(clientInfoHeader)), &ci) != nil {
		return nil, false
	}
	return sessionOf(ci.Tags)
}

// uplink relays a device's publish to the consumer topic that names it,
// otos/<tenant>/<number>/<topic>, as the embedded broker does. The
// subscription is the relay's only goroutine on this node, so the uplinks
// one node relays keep their order; with several nodes in the queue group,
// two of one device's may overtake each other.
func (s *Service) uplink(m *natsgo.Msg) {
	sess, ok := publisher(m)
	topic := Topic(strings.TrimPrefix(m.Subject, uplinkPrefix))
	if !ok || sess.IsService() || !otos.IsUplink(sess, topic) {
		s.log.Warn("nats: uplink without a device's identity dropped", "subject", m.Subject)
		return
	}
	if out, ok := Subject(otos.ConsumerTopic(sess, topic)); ok {
		s.publish(out, m.Data)
	}
}

// downlink relays a service account's publish to the device it names, if
// the device is of the account's tenant.
func (s *Service) downlink(m *natsgo.Msg) {
	sess, ok := publisher(m)
	rest := strings.TrimPrefix(m.Subject, appPrefix)
	if !ok || !sess.IsService() {
		s.log.Warn("nats: downlink without a service account's identity dropped", "subject", m.Subject)
		return
	}
	ctx, cancel := s.background(5 * time.Second)
	defer cancel()
	if !s.cfg.Sessions.Authorize(ctx, sess, Topic(rest), true) {
		s.log.Info("nats: downlink refused", "account_id", sess.AccountID, "topic", Topic(rest))
		return
	}
	s.publish(downPrefix+rest, m.Data)
}

func (s *Service) publish(subject string, data []byte) {
	if err := s.conn.Publish(subject, data); err != nil {
		s.log.Warn("nats: publish", "subject", subject, "err", err)
	}
}

// PublishEvents implements otos.EventPublisher: each event on
// otos/<tenant>/events/<type> (as a NATS subject), for the tenant's service
// accounts.
func (s *Service) PublishEvents(es []*otos.Event) {
	for _, e := range es {
		if e.TenantID == "" {
			continue
		}
		body, err := json.Marshal(e)
		if err != nil {
			continue
		}
		if subj, ok := Subject(otos.EventTopic(e.TenantID, e.Type)); ok {
			s.publish(subj, body)
		}
	}
}
