package otos

import (
	"strings"
	"time"
)

// TelemetryTopic is where a device publishes its telemetry.
const TelemetryTopic = "devices/telemetry"

// Topics, ThingsPanel's. "{n}" is the device's own number; "+" one level
// chosen by the client (a message id). Gateways also have the same topics
// under "gateway/" for their sub-devices.
var (
	// uplinks are what a device may publish.
	uplinks = []string{
		TelemetryTopic,
		"devices/attributes/+",
		"devices/event/+",
		"devices/attributes/set/response/+",
		"devices/command/response/+",
		"devices/attributes/get/+",
	}
	// downlinks are what a device may subscribe to, and what a service
	// account may publish for a device of its tenant.
	downlinks = []string{
		"devices/telemetry/control/{n}",
		"devices/attributes/set/{n}/+",
		"devices/command/{n}/+",
		"devices/attributes/response/{n}/+",
	}
)

// RegistrationUsername is the MQTT username of a registration session: a
// client without a voucher yet (no password), which may only publish device
// auth requests and receive their answers, as ThingsBoard's "provision".
const RegistrationUsername = "provision"

// Registration over MQTT: a request on one of the request prefixes and a
// request id of the client's choice (one topic level), its answer on the
// matching response prefix and the same id. The device prefixes are for a
// registration session; the gateway ones for a connected gateway, which
// registers its sub-devices in batches.
const (
	RegisterPrefix                = "devices/register/"
	RegisterResponsePrefix        = "devices/register/response/"
	GatewayRegisterPrefix         = "gateway/register/"
	GatewayRegisterResponsePrefix = "gateway/register/response/"
)

// RequestID returns the request id of topic, prefix and one level that can
// stand as a topic level (not "response", which names the answers), or
// false.
func RequestID(prefix, topic string) (string, bool) {
	id, ok := strings.CutPrefix(topic, prefix)
	if !ok || !TopicSafe(id) || id == "response" {
		return "", false
	}
	return id, true
}

// ConsumerPrefix is where the broker republishes every device uplink for the
// platform's consumers: otos/{tenant_id}/{device_number}/{original topic}.
const ConsumerPrefix = "otos/"

// TopicSafe reports whether s can stand as one topic level: no level
// separator, no wildcard, not empty. A device number that is not cannot
// name the device's topics.
func TopicSafe(s string) bool {
	return s != "" && !strings.ContainsAny(s, "/+#\x00")
}

// match reports whether subject (a topic, or a filter whose only wildcards
// stand where pattern has "+") fits pattern. "+" in pattern matches one level
// that is not "#"; every other level must be equal.
func match(pattern, subject string) bool {
	p, s := strings.Split(pattern, "/"), strings.Split(subject, "/")
	if len(p) != len(s) {
		return false
	}
	for i := range p {
		switch {
		case p[i] == "+":
			if s[i] == "" || s[i] == "#" || strings.ContainsAny(s[i], "#") {
				return false
			}
		case p[i] != s[i]:
			return false
		}
	}
	return true
}

// families returns the topic prefixes a device of type t may use: gateways
// speak for their sub-devices under "gateway/" too.
func families(t DeviceType) []string {
	if t == DeviceGateway {
		return []string{"devices/", "gateway/"}
	}
	return []string{"devices/"}
}

// IsUplink reports whether a device of session s may publish topic.
func IsUplink(s *Session, topic string) bool {
	if !TopicSafe(s.DeviceNumber) {
		return false
	}
	for _, fam := range families(s.DeviceType) {
		for _, u := range uplinks {
			if match(fam+strings.TrimPrefix(u, "devices/"), topic) {
				return true
			}
		}
	}
	return false
}

// IsOwnDownlink reports whether filter is one of the device's own downlink
// topics or filters.
func IsOwnDownlink(s *Session, filter string) bool {
	if !TopicSafe(s.DeviceNumber) {
		return false
	}
	for _, fam := range families(s.DeviceType) {
		for _, d := range downlinks {
			pattern := fam + strings.TrimPrefix(strings.ReplaceAll(d, "{n}", s.DeviceNumber), "devices/")
			if match(pattern, filter) {
				return true
			}
		}
	}
	return false
}

// DownlinkNumber returns the device number that a downlink topic names, or
// false if topic is not a concrete downlink topic.
func DownlinkNumber(topic string) (string, bool) {
	if strings.ContainsAny(topic, "+#") {
		return "", false
	}
	levels := strings.Split(topic, "/")
	if len(levels) == 0 || levels[0] != "devices" && levels[0] != "gateway" {
		return "", false
	}
	for _, d := range downlinks {
		pattern := strings.Split(strings.TrimPrefix(d, "devices/"), "/")
		if len(pattern)+1 != len(levels) {
			continue
		}
		var number string
		ok := true
		for i, p := range pattern {
			switch l := levels[i+1]; {
			case p == "{n}":
				number = l
			case p == "+" && l != "":
			case p != l:
				ok = false
			}
		}
		if ok && TopicSafe(number) {
			return number, true
		}
	}
	return "", false
}

// ConsumerTopic is where an uplink of session s on topic is delivered.
func ConsumerTopic(s *Session, topic string) string {
	return ConsumerPrefix + s.TenantID + "/" + s.DeviceNumber + "/" + topic
}

// IsConsumerFilter reports whether a service account of tenant may
// subscribe to filter: anything under otos/{tenant}/, also as a shared
// subscription ($share/{group}/otos/{tenant}/...).
func IsConsumerFilter(tenant, filter string) bool {
	if rest, ok := strings.CutPrefix(filter, "$share/"); ok {
		_, filter, ok = strings.Cut(rest, "/")
		if !ok {
			return false
		}
	}
	return strings.HasPrefix(filter, ConsumerPrefix+tenant+"/")
}

// DownlinkFilters are the topic filters of what the platform sends device
// number: its downlinks, each with "+" for the level the sender chooses. A
// device may subscribe to these and to no other device's.
func DownlinkFilters(number string) []string {
	out := make([]string, len(downlinks))
	for i, d := range downlinks {
		out[i] = strings.ReplaceAll(d, "{n}", number)
	}
	return out
}

// Filters returns, as a list of topic filters, what session s may publish
// to (publish) or subscribe to, for a broker that takes permissions as a
// list (NATS): a device's uplinks and its own downlinks, also under
// "gateway/" for a gateway; a service account's downlinks of any device
// ("+" for the number, whose tenant the broker adapter must still check
// with Sessions.Authorize) and its tenant's consumer topics. Nil for a
// device whose number cannot stand in a topic.
func Filters(s *Session, publish bool) []string {
	switch {
	case s.IsService() && !publish:
		return []string{ConsumerPrefix + s.TenantID + "/#"}
	case s.IsService():
		return inFamilies(DeviceGateway, DownlinkFilters("+"))
	case !TopicSafe(s.DeviceNumber):
		return nil
	case publish:
		return inFamilies(s.DeviceType, uplinks)
	}
	return inFamilies(s.DeviceType, DownlinkFilters(s.DeviceNumber))
}

// inFamilies returns topics, which start with "devices/", under each of the
// prefixes a device of type t uses.
func inFamilies(t DeviceType, topics []string) []string {
	var out []string
	for _, fam := range families(t) {
		for _, topic := range topics {
			out = append(out, fam+strings.TrimPrefix(topic, "devices/"))
		}
	}
	return out
}

// IsRegistrationTopic reports whether session s may publish (publish) or
// subscribe to topic in a registration exchange: a registration session its
// device auth requests, a gateway its sub-device batches, and each the
// answers to its own requests, which the broker sends to it alone.
func IsRegistrationTopic(s *Session, topic string, publish bool) bool {
	req, resp := RegisterPrefix, RegisterResponsePrefix
	switch {
	case s.Registration:
	case !s.IsService() && s.DeviceType == DeviceGateway:
		req, resp = GatewayRegisterPrefix, GatewayRegisterResponsePrefix
	default:
		return false
	}
	if !publish {
		req = resp
	}
	_, ok := RequestID(req, topic)
	return ok
}

// SharedBrokerSafe reports whether device number n can stand in the topics
// of a broker that delivers a device's publishes on their own topics too
// (NATS, EMQX), not only as the consumer topics the embedded broker turns
// them into: besides TopicSafe, not "response", whose downlinks
// (devices/command/response/+) are every device's uplinks, and none of "$",
// "{" and "}", which EMQX would read in an ACL as a placeholder.
func SharedBrokerSafe(n string) bool {
	return TopicSafe(n) && n != "response" && !strings.ContainsAny(n, "${}")
}

// OwnClientID reports whether an MQTT client id is one that session s may
// use on a broker whose client ids are one space for every client (NATS,
// EMQX), where taking another's id ends its session: a device's number or
// id (for a number the broker refuses as a client id: NATS refuses "."),
// either followed by "/" and anything or not; a service account's
// username, likewise. The embedded broker keeps each device's ids apart
// instead.
func OwnClientID(s *Session, id string) bool {
	owns := []string{s.DeviceNumber, s.DeviceID}
	if s.IsService() {
		owns = []string{ServiceUsernamePrefix + s.AccountID}
	}
	for _, own := range owns {
		if own != "" && (id == own || strings.HasPrefix(id, own+"/")) {
			return true
		}
	}
	return false
}

// Voucher topics of a device's own session on the embedded broker: a
// rotation request on RotatePrefix and a request id of the device's
// choice, its answer (written to the requesting client alone) on
// RotateResponsePrefix and the same id, and the device's control topic,
// where otos tells it that an operator asked it to rotate (ControlNotice).
const (
	RotatePrefix         = "devices/voucher/rotate/"
	RotateResponsePrefix = "devices/voucher/rotate/response/"
	controlPrefix        = "devices/voucher/control/"
)

// ControlTopic is the control topic of the device numbered n.
func ControlTopic(n string) string { return controlPrefix + n }

// ControlNotice is what otos publishes on a device's control topic.
type ControlNotice struct {
	// Action is "rotate_voucher": rotate the voucher now.
	Action string `json:"action"`
	// Deadline, when set, is when the current voucher stops working.
	Deadline *time.Time `json:"deadline,omitempty"`
}

// ActionRotateVoucher is the ControlNotice action asking for a rotation.
const ActionRotateVoucher = "rotate_voucher"

// IsVoucherTopic reports whether the device of session s may publish
// (publish) a rotation request on topic, or subscribe to its answer or to
// its control topic.
func IsVoucherTopic(s *Session, topic string, publish bool) bool {
	if s.IsService() || s.Registration || !TopicSafe(s.DeviceNumber) {
		return false
	}
	if publish {
		_, ok := RequestID(RotatePrefix, topic)
		return ok
	}
	_, ok := RequestID(RotateResponsePrefix, topic)
	return ok || topic == ControlTopic(s.DeviceNumber)
}
