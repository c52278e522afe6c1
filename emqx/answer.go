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
}

type rule struct {
	Permission string `json:"permission"`
	Action     string `json:"action"` // publish, subscribe, all
	Topic      string `json:"topic"`
}

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
	if err == nil && sess.Registration {
		err = otos.Errorf(otos.EFORBIDDEN, "registration over MQTT needs otos's embedded broker; register over HTTP")
	}
	if err == nil {
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

// answerFor returns the ACL and attributes of session sess.
func answerFor(sess *otos.Session) authnAnswer {
	a := authnAnswer{Result: allow, ClientAttrs: map[string]string{attrTenant: sess.TenantID, attrKey: sess.Key()}}
	last := rule{deny, "subscribe", "#"}
	if !sess.IsService() {
		a.ClientAttrs[attrNumber] = sess.DeviceNumber
		for _, t := range otos.Filters(sess, true) {
			a.ACL = append(a.ACL, rule{allow, "publish", t})
		}
		last = rule{deny, "all", "#"}
	}
	for _, t := range otos.Filters(sess, false) {
		a.ACL = append(a.ACL, rule{allow, "subscribe", t})
	}
	a.ACL = append(a.ACL, last)
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
