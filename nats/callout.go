package nats

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/jwt/v2"
	natsgo "github.com/nats-io/nats.go"
	"github.com/otos-iot/otos"
)

const (
	userLifetime   = 24 * time.Hour // of a connection's user, with ±10% jitter
	authSubject    = "$SYS.REQ.USER.AUTH"
	xkeyHeader     = "Nats-Server-Xkey"
	calloutTimeout = 4 * time.Second // under the server's own (ServerConfig: 5 s)
)

// callout answers one authorization request, off the subscription's
// goroutine so that a slow store read holds up no other client; at most
// Workers at once.
func (s *Service) callout(m *natsgo.Msg) {
	s.work <- struct{}{}
	go func() {
		defer func() { <-s.work }()
		s.answer(m)
	}()
}

// answer decrypts the request, decides, and sends the signed answer,
// encrypted for the server that asked. A request otos cannot read gets no
// answer: the server times out and refuses the client.
func (s *Service) answer(m *natsgo.Msg) {
	data, serverKey := m.Data, m.Header.Get(xkeyHeader)
	if serverKey != "" {
		var err error
		if data, err = s.boxes.open(m.Data, serverKey); err != nil {
			s.log.Warn("nats: callout request not for this key (is the configuration otos's?)", "err", err)
			return
		}
	}
	req, err := decodeRequest(data)
	if err != nil {
		s.log.Warn("nats: unreadable callout request", "err", err)
		return
	}
	if age := time.Since(time.Unix(req.IssuedAt, 0)); req.IssuedAt > 0 && age > calloutTimeout+time.Second {
		// The server gave up on it: an answer would record a connection
		// that does not exist.
		s.log.Warn("nats: callout request too old to answer", "age", age)
		return
	}
	resp := jwt.NewAuthorizationResponseClaims(req.UserNkey)
	resp.Audience = req.Server.ID
	if resp.Jwt, err = s.authorize(req); err != nil {
		resp.Error = string(otos.ErrorCode(err)) + ": " + otos.ErrorMessage(err)
		s.log.Info("nats: connection refused", "client", req.ClientInformation.Host,
			"kind", req.ClientInformation.Kind, "type", req.ClientInformation.Type, "reason", resp.Error)
	}
	token, err := resp.EncodeWithSigner(s.cfg.Keys.Issuer, s.sign)
	if err != nil {
		s.log.Error("nats: sign callout answer", "err", err)
		return
	}
	out := []byte(token)
	if serverKey != "" {
		if out, err = s.boxes.seal(out, serverKey); err != nil {
			s.log.Error("nats: encrypt callout answer", "err", err)
			return
		}
	}
	if err := m.Respond(out); err != nil {
		s.log.Warn("nats: answer callout", "err", err)
	}
}

// decodeRequest returns the claims of a callout request. Its signature is
// not checked: it is the server's own key, made at its start, which proves
// nothing that the subject (only servers may publish to it) does not.
func decodeRequest(token []byte) (*jwt.AuthorizationRequestClaims, error) {
	parts := bytes.Split(token, []byte("."))
	if len(parts) != 3 {
		return nil, errors.New("not a JWT")
	}
	payload, err := base64.RawURLEncoding.DecodeString(string(parts[1]))
	if err != nil {
		return nil, err
	}
	var req jwt.AuthorizationRequestClaims
	if err := json.Unmarshal(payload, &req); err != nil {
		return nil, err
	}
	if req.UserNkey == "" || req.Server.ID == "" {
		return nil, errors.New("no user key or server id")
	}
	return &req, nil
}

// authorize checks the client's username and password with the sessions
// service, as the embedded broker does, and returns the signed user that
// holds its permissions.
func (s *Service) authorize(req *jwt.AuthorizationRequestClaims) (string, error) {
	ctx, cancel := s.background(calloutTimeout)
	defer cancel()
	from := clientAt(req.ClientInformation.Host)
	opts := req.ConnectOptions
	sess, err := s.cfg.Sessions.Authenticate(ctx, from, opts.Username, opts.Password)
	if err != nil {
		return "", err
	}
	if err := sharedBrokerCheck(sess, req.ClientInformation.MQTT); err != nil {
		return "", err
	}
	uc, err := userOf(req.UserNkey, sess, time.Now())
	if err != nil {
		return "", err
	}
	if err := s.cfg.Sessions.Connected(ctx, sess); err != nil {
		return "", err
	}
	s.mu.Lock()
	s.mine[connID{req.Server.ID, req.ClientInformation.ID}] = &answered{sess: sess, at: time.Now()}
	s.mu.Unlock()
	return uc.EncodeWithSigner(s.cfg.Keys.Issuer, s.sign)
}

// sharedBrokerCheck refuses what a broker with one topic and client id
// space for every tenant cannot keep apart: registration sessions, device
// numbers whose downlinks are others' uplinks, and an MQTT client id
// (mqttID, empty for a NATS client) that is not the session's own.
func sharedBrokerCheck(sess *otos.Session, mqttID string) error {
	switch {
	case sess.Registration:
		return otos.Errorf(otos.EFORBIDDEN, "registration over MQTT needs otos's embedded broker; register over HTTP")
	case !sess.IsService() && !otos.SharedBrokerSafe(sess.DeviceNumber):
		return otos.Errorf(otos.EFORBIDDEN, "the device number cannot name topics on this broker")
	case mqttID != "" && !otos.OwnClientID(sess, mqttID):
		return otos.Errorf(otos.EFORBIDDEN, "the MQTT client id must be the device number (or the service account's username), or start with it and /")
	}
	return nil
}

// clientAt returns the client at host, as the callout names it.
func clientAt(host string) otos.Client {
	if a, err := netip.ParseAddr(host); err == nil {
		return otos.ClientAt(a)
	}
	return otos.Client{Addr: host, Key: host}
}

// userOf returns the user that session sess connects as: in the devices'
// or the service accounts' account, allowed exactly its topics as
// subjects, and tagged with who it is, for the relays and revocations.
func userOf(nkey string, sess *otos.Session, now time.Time) (*jwt.UserClaims, error) {
	uc := jwt.NewUserClaims(nkey)
	uc.Audience, uc.Name = AccountDevices, sess.DeviceNumber
	if sess.IsService() {
		uc.Audience, uc.Name = AccountApps, otos.ServiceUsernamePrefix+sess.AccountID
	}
	uc.Tags.Add(tagsOf(sess)...)
	uc.Tags.Add(tagAt + strconv.FormatInt(now.UnixNano(), 10))
	// A backstop for a revocation that no otos node saw (all were away):
	// the server ends the connection after about a day, spread so that a
	// fleet does not reconnect at once, and the next callout decides again.
	uc.Expires = now.Add(userLifetime + rand.N(userLifetime/5) - userLifetime/10).Unix()
	if sess.Until != nil && sess.Until.Unix() < uc.Expires {
		// The voucher expires, or its rotation's overlap ends, sooner.
		uc.Expires = max(sess.Until.Unix(), now.Unix()+1)
	}
	for _, p := range []struct {
		publish bool
		list    *jwt.StringList
	}{{true, &uc.Pub.Allow}, {false, &uc.Sub.Allow}} {
		filters := otos.Filters(sess, p.publish)
		if len(filters) == 0 {
			return nil, otos.Errorf(otos.EFORBIDDEN, "the device number cannot name a topic")
		}
		for _, f := range filters {
			subj, ok := Subject(f)
			if !ok {
				return nil, otos.Errorf(otos.EFORBIDDEN, "the device number cannot name a NATS subject")
			}
			p.list.Add(subj)
		}
	}
	return uc, nil
}

// Tag names. nats-server lowers tags, so the device number, which may be
// in capitals, travels in hex.
const (
	tagKey      = "otos-key:"
	tagTenant   = "otos-tenant:"
	tagDevice   = "otos-device:"
	tagNumber   = "otos-number:"
	tagTemplate = "otos-template:"
	tagType     = "otos-type:"
	tagAccount  = "otos-account:"
	tagAt       = "otos-at:" // when otos let the connection in, in Unix nanoseconds
	tagVoucher  = "otos-voucher:"
)

func tagsOf(s *otos.Session) []string {
	tags := []string{tagKey + s.Key(), tagTenant + s.TenantID}
	if s.IsService() {
		return append(tags, tagAccount+s.AccountID)
	}
	return append(tags, tagDevice+s.DeviceID, tagNumber+hex.EncodeToString([]byte(s.DeviceNumber)),
		tagTemplate+s.TemplateID, tagType+string(s.DeviceType), tagVoucher+s.VoucherKey())
}

// sessionOf returns the session that tags describe (what the relays need
// of it), false if they are not otos's.
func sessionOf(tags []string) (*otos.Session, bool) {
	var s otos.Session
	for _, t := range tags {
		name, value, _ := strings.Cut(t, ":")
		switch name + ":" {
		case tagTenant:
			s.TenantID = value
		case tagDevice:
			s.DeviceID = value
		case tagNumber:
			b, err := hex.DecodeString(value)
			if err != nil {
				return nil, false
			}
			s.DeviceNumber = string(b)
		case tagTemplate:
			s.TemplateID = value
		case tagType:
			s.DeviceType = otos.DeviceType(value)
		case tagAccount:
			s.AccountID = value
		}
	}
	if s.TenantID == "" || s.DeviceID == "" && s.AccountID == "" {
		return nil, false
	}
	return &s, true
}

// authorizedAt returns when otos let in the connection with tags, the zero
// time if they do not say.
func authorizedAt(tags []string) time.Time {
	for _, t := range tags {
		if v, ok := strings.CutPrefix(t, tagAt); ok {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				return time.Unix(0, n)
			}
		}
	}
	return time.Time{}
}

// keysOf returns the session key in tags and a device's voucher key (see
// otos.Session.VoucherKey), nil if none: the ids a revocation may name.
func keysOf(tags []string) []string {
	var key, voucher string
	for _, t := range tags {
		if k, ok := strings.CutPrefix(t, tagKey); ok {
			key = k
		} else if k, ok := strings.CutPrefix(t, tagVoucher); ok {
			voucher = k
		}
	}
	switch {
	case key == "":
		return nil
	case voucher == "":
		return []string{key}
	}
	return []string{key, voucher}
}
