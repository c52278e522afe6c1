package emqx

import (
	"context"
	"encoding/json"

	"github.com/otos-iot/otos"
)

// Results.
const (
	allow = "allow"
	deny  = "deny"
)

// result is an authorization answer, and the bare authentication one.
type result struct {
	Result string `json:"result"`
}

// authnRequest is the body of ServerConfig's authentication template.
type authnRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
	ClientID string `json:"clientid"`
	PeerHost string `json:"peerhost"`
}

// authnAnswer allows a client with its ACL: EMQX checks the rules in order,
// before any authorizer; the last one denies what the others do not allow,
// for a device everything else, for a service account every subscription
// else (its publishes go to the authorization endpoint, which knows which
// devices are its tenant's).
type authnAnswer struct {
	Result      string            `json:"result"`
	IsSuperuser bool              `json:"is_superuser"`
	ClientAttrs map[string]string `json:"client_attrs"`
	ACL         []rule            `json:"acl"`
	// ExpireAt, Unix seconds, is when EMQX ends the session (EMQX 5's
	// HTTP authentication contract); 0: left out.
	ExpireAt int64 `json:"expire_at,omitempty"`
}

type rule struct {
	Permission string `json:"permission"`
	Action     string `json:"action"` // publish, subscribe, all
	Topic      string `json:"topic"`
	Retain     *bool  `json:"retain,omitempty"` // only publishes with this retain flag
}

// noRetained refuses retained publishes, first: a retained downlink would
// outlive its device and reach the next device given the number, as the
// embedded broker, which drops the flag, never lets happen.
var noRetained = rule{Permission: deny, Action: "publish", Topic: "#", Retain: ptr(true)}

func ptr[T any](v T) *T { return &v }

// Client attributes otos sets, for the rule that republishes uplinks under
// the device's tenant and number (ServerConfig).
const (
	attrTenant = "otos_tenant"
	attrNumber = "otos_number"
	attrKey    = "otos_key"
)

func (s *Service) authn(ctx context.Context, body []byte) any {
	var req authnRequest
	if err := json.Unmarshal(body, &req); err != nil {
		s.log.Warn("emqx: unreadable authentication request", "err", err)
		return result{Result: deny}
	}
	sess, err := s.cfg.Sessions.Authenticate(ctx, clientAt(req.PeerHost), req.Username, req.Password)
	if err == nil {
		err = sharedBrokerCheck(sess, req.ClientID)
	}
	if err == nil {
		if vk := sess.VoucherKey(); vk != "" {
			// Before Connected, whose end of a rotation's overlap kicks the
			// old voucher's clients: not this client id, taken over now.
			s.clients.addVoucher(vk, req.ClientID)
		}
		err = s.cfg.Sessions.Connected(ctx, sess)
	}
	if err != nil {
		s.log.Info("emqx: connection refused", "client", req.PeerHost, "reason", otos.ErrorMessage(err),
			"code", string(otos.ErrorCode(err)))
		return result{Result: deny}
	}
	s.clients.add(sess.Key(), req.ClientID)
	return answerFor(sess)
}

// sharedBrokerCheck refuses what EMQX, one topic and client id space for
// every tenant, cannot keep apart: registration sessions, device numbers
// whose downlinks are others' uplinks or that EMQX would read as a
// placeholder, and a client id that is not the session's own (taking
// another client's id ends its session).
func sharedBrokerCheck(sess *otos.Session, clientID string) error {
	switch {
	case sess.Registration:
		return otos.Errorf(otos.EFORBIDDEN, "registration over MQTT needs otos's embedded broker; register over HTTP")
	case !sess.IsService() && !otos.SharedBrokerSafe(sess.DeviceNumber):
		return otos.Errorf(otos.EFORBIDDEN, "the device number cannot name topics on this broker")
	case !otos.OwnClientID(sess, clientID):
		return otos.Errorf(otos.EFORBIDDEN, "the client id must be the device number (or the service account's username), or start with it and /")
	}
	return nil
}

// answerFor returns the ACL and attributes of session sess.
func answerFor(sess *otos.Session) authnAnswer {
	a := authnAnswer{Result: allow, ClientAttrs: map[string]string{attrTenant: sess.TenantID, attrKey: sess.Key()},
		ACL: []rule{noRetained}}
	last := rule{Permission: deny, Action: "subscribe", Topic: "#"}
	if !sess.IsService() {
		a.ClientAttrs[attrNumber] = sess.DeviceNumber
		for _, t := range otos.Filters(sess, true) {
			a.ACL = append(a.ACL, rule{Permission: allow, Action: "publish", Topic: t})
		}
		last = rule{Permission: deny, Action: "all", Topic: "#"}
	}
	for _, t := range otos.Filters(sess, false) {
		a.ACL = append(a.ACL, rule{Permission: allow, Action: "subscribe", Topic: t})
	}
	a.ACL = append(a.ACL, last)
	if sess.Until != nil {
		// EMQX disconnects the client when its voucher expires, or its
		// rotation's overlap ends.
		a.ExpireAt = sess.Until.Unix()
	}
	return a
}

// authzRequest is the body of ServerConfig's authorization template.
type authzRequest struct {
	Username string `json:"username"`
	ClientID string `json:"clientid"`
	Topic    string `json:"topic"`
	Action   string `json:"action"`
}

// authz decides what the ACL of the CONNECT's answer left open: a service
// account's publish to a device of its tenant. Anything else is denied.
func (s *Service) authz(ctx context.Context, body []byte) any {
	var req authzRequest
	if err := json.Unmarshal(body, &req); err != nil {
		s.log.Warn("emqx: unreadable authorization request", "err", err)
		return result{Result: deny}
	}
	sess, err := s.cfg.Sessions.Known(ctx, req.Username)
	if err != nil {
		return result{Result: deny}
	}
	if s.cfg.Sessions.Authorize(ctx, sess, req.Topic, req.Action == "publish") {
		return result{Result: allow}
	}
	return result{Result: deny}
}
