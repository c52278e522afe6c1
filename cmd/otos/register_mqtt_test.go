package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	paho5 "github.com/eclipse/paho.golang/paho"
	"github.com/otos-iot/otos"
)

// registerOver sends one device auth request on registration session c
// (MQTT 5) with request id id and returns the answer.
func registerOver(t *testing.T, c *client5, id string, body any) otos.AuthReply {
	t.Helper()
	if rc := c.subscribe(t, otos.RegisterResponsePrefix+id); rc > 1 {
		t.Fatalf("subscribe to the answer of %s: %#x", id, rc)
	}
	b, _ := json.Marshal(body)
	if rc := c.publish(t, otos.RegisterPrefix+id, string(b)); rc != 0 {
		t.Fatalf("request %s: PUBACK %#x", id, rc)
	}
	m, ok := c.next(5 * time.Second)
	if !ok || m.Topic != otos.RegisterResponsePrefix+id {
		t.Fatalf("no answer to request %s (got %v)", id, m)
	}
	var r otos.AuthReply
	if err := json.Unmarshal(m.Payload, &r); err != nil {
		t.Fatalf("answer %s: %v", m.Payload, err)
	}
	return r
}

// TestMQTTRegistration: firmware without HTTP registers over MQTT as
// "provision", with the same JSON and the same answers as POST
// /api/v1/device/auth, direct devices, gateways and sub-devices alike; the
// session can do nothing else, and sees no other session's answers.
func TestMQTTRegistration(t *testing.T) {
	s := startBroker(t, nil)
	direct := s.createTemplate(t, nil)
	gwT := s.createTemplate(t, map[string]any{"device_type": "gateway"})
	subT := s.createTemplate(t, map[string]any{"device_type": "sub_device"})
	c := connect5(t, s.MQTTAddr(), "fw-1", otos.RegistrationUsername, "")
	if c.connack.ReasonCode != 0 {
		t.Fatalf("registration session refused: %#x", c.connack.ReasonCode)
	}
	r := registerOver(t, c, "r1", map[string]string{"template_secret": direct.Secret, "device_number": "mq-reg-1"})
	if r.Code != 200 || r.Data == nil || r.Data.DeviceID == "" {
		t.Fatalf("direct device: %+v", r)
	}
	var v voucher
	if err := json.Unmarshal([]byte(r.Data.Voucher), &v); err != nil {
		t.Fatal(err)
	}
	if _, err := connect3(t, "tcp://"+s.MQTTAddr(), "mq-reg-1", v.Username, v.Password, nil); err != nil {
		t.Fatalf("the voucher registered over MQTT: %v", err)
	}
	if r := registerOver(t, c, "r2", map[string]string{"template_secret": gwT.Secret, "device_number": "mq-gw"}); r.Code != 200 {
		t.Fatalf("gateway: %+v", r)
	}
	if r := registerOver(t, c, "r3", map[string]string{"template_secret": subT.Secret, "device_number": "mq-sub",
		"parent_device_number": "mq-gw", "sub_device_addr": "1"}); r.Code != 200 {
		t.Fatalf("sub-device: %+v", r)
	}
	// A fresh session for the refusals: the budget is four requests.
	c2 := connect5(t, s.MQTTAddr(), "fw-2", otos.RegistrationUsername, "")
	for i, tc := range []struct {
		body any
		code int
	}{
		{map[string]string{"template_secret": "wrong-secret", "device_number": "x"}, 200080},
		{map[string]string{"template_secret": direct.Secret, "device_number": "mq-reg-1"}, 200082}, // it connected
		{map[string]string{"template_secret": subT.Secret, "device_number": "mq-sub-2"}, 200084},
		{map[string]string{"template_secret": subT.Secret, "device_number": "mq-sub-3", "parent_device_number": "nobody", "sub_device_addr": "2"}, 200085},
	} {
		if r := registerOver(t, c2, fmt.Sprint("e", i), tc.body); r.Code != tc.code || r.Message == "" {
			t.Errorf("request %d: %+v, want code %d", i, r, tc.code)
		}
	}
	select { // its four requests spent, the session is closed
	case <-c2.dropped:
	case <-time.After(3 * time.Second):
		t.Error("a registration session stays open after its budget")
	}
	c3 := connect5(t, s.MQTTAddr(), "fw-3", otos.RegistrationUsername, "")
	if r := registerOver(t, c3, "bad", "not an object"); r.Code != 100002 {
		t.Errorf("a body that is no object: %+v", r)
	}

	// Nothing else: no other topic, no other answers.
	for _, f := range []string{"devices/register/response/+", "devices/register/response/#", "devices/#", "otos/#", otos.TelemetryTopic} {
		if rc := c3.subscribe(t, f); rc < 0x80 {
			t.Errorf("a registration session subscribed to %s: %#x", f, rc)
		}
	}
	if rc := c3.publish(t, otos.TelemetryTopic, "{}"); rc < 0x80 {
		t.Errorf("a registration session published telemetry: %#x", rc)
	}
	spy := connect5(t, s.MQTTAddr(), "spy", otos.RegistrationUsername, "")
	spy.subscribe(t, otos.RegisterResponsePrefix+"shared")
	registerOver(t, c3, "shared", map[string]string{"template_secret": direct.Secret, "device_number": "mq-reg-9"})
	if m, ok := spy.next(300 * time.Millisecond); ok {
		t.Fatalf("another registration session received the answer: %s", m.Payload)
	}

	// A kept session would outlive it: refused.
	kept := connect5Opts(t, s.MQTTAddr(), "fw-kept", otos.RegistrationUsername, "", func(c *paho5.Connect) { c.CleanStart = false })
	if kept.connack.ReasonCode != 0x87 {
		t.Errorf("a registration session asking to be kept: %#x, want 0x87", kept.connack.ReasonCode)
	}

	// Its time is bounded too.
	select {
	case <-spy.dropped:
	case <-time.After(7 * time.Second):
		t.Error("an idle registration session outlives its time")
	}
	// Refusals are audited, with the client's address, as on HTTP.
	var audit struct {
		Items []otos.AuditRecord `json:"items"`
	}
	s.admin(t, "GET", "/api/v1/audit?limit=200", nil, 200, &audit)
	found := false
	for _, a := range audit.Items {
		found = found || a.Code == 200080 && strings.HasPrefix(a.ClientAddr, "127.0.0.1")
	}
	if !found {
		t.Error("the wrong secret over MQTT is not in the audit")
	}
}

// TestMQTTRegistrationLockout: wrong secrets over MQTT lock the address
// out of MQTT registration and of HTTP alike.
func TestMQTTRegistrationLockout(t *testing.T) {
	s := startBroker(t, func(c *Config) { c.LockoutThreshold = 3 })
	tp := s.createTemplate(t, nil)
	c := connect5(t, s.MQTTAddr(), "guesser", otos.RegistrationUsername, "")
	for i := range 3 {
		if r := registerOver(t, c, fmt.Sprint("g", i), map[string]string{"template_secret": "guess", "device_number": "x"}); r.Code != 200080 {
			t.Fatalf("guess %d: %+v", i, r)
		}
	}
	if r := registerOver(t, c, "g3", map[string]string{"template_secret": tp.Secret, "device_number": "x"}); r.Code != 201003 {
		t.Errorf("after the lock-out, the right secret: %+v, want 201003", r)
	}
	if c2 := connect5(t, s.MQTTAddr(), "guesser-2", otos.RegistrationUsername, ""); c2.connack.ReasonCode != 0x87 {
		t.Errorf("a locked-out address opened a registration session: %#x", c2.connack.ReasonCode)
	}
	if status, _ := s.auth(t, map[string]string{"template_secret": tp.Secret, "device_number": "x"}); status != 429 {
		t.Errorf("over HTTP after the MQTT lock-out: %d, want 429", status)
	}
}

// TestDeviceConnectOverMQTT: `otos device connect --register-over mqtt`
// registers through the broker alone (the HTTP API is unreachable), caches
// the voucher and connects; `--gateway FILE` registers a gateway's
// sub-devices in one batch and connects each of them.
func TestDeviceConnectOverMQTT(t *testing.T) {
	t.Chdir(t.TempDir()) // the sub-devices' caches go to the working directory
	s := startBroker(t, nil)
	tp := s.createTemplate(t, nil)
	noHTTP := []string{"--server", "http://127.0.0.1:1", "--register-over", "mqtt"}
	out, err := s.connectCLI(t, t.Context(), tp.Secret, "mqtt-only-1", "mqtt-only-1.json", append(noHTTP, "--publish", `{"t":1}`)...)
	if err != nil || !strings.Contains(out, "connected: device mqtt-only-1") {
		t.Fatalf("register over MQTT: %v\n%s", err, out)
	}
	if id, _ := cachedVoucher(t, "mqtt-only-1.json"); id == "" {
		t.Fatal("no cached voucher")
	}
	// Again: the cached voucher, no second registration.
	if _, err := s.connectCLI(t, t.Context(), tp.Secret, "mqtt-only-1", "mqtt-only-1.json", append(noHTTP, "--publish", `{"t":2}`)...); err != nil {
		t.Fatal(err)
	}

	sub := s.createTemplate(t, map[string]any{"device_type": "sub_device"})
	gw := s.createTemplate(t, map[string]any{"device_type": "gateway", "sub_device_templates": []string{sub.ID}})
	writeFile(t, "subs.csv", "# addr,number,name\n1,cli-sub-1,Thermo\n2,cli-sub-2\n2,cli-sub-dup\n")
	out, err = s.connectCLI(t, t.Context(), gw.Secret, "cli-gw", "cli-gw.json", "--gateway", "subs.csv", "--publish", `{"t":3}`)
	if err != nil {
		t.Fatalf("gateway mode: %v\n%s", err, out)
	}
	for _, want := range []string{"sub-device cli-sub-1 (1): registered and connected", "sub-device cli-sub-2 (2): registered and connected",
		"sub-device cli-sub-dup (2): refused, code 100002"} {
		if !strings.Contains(out, want) {
			t.Errorf("gateway mode printed no %q:\n%s", want, out)
		}
	}
	if id, _ := cachedVoucher(t, "otos-device-cli-sub-1.json"); id == "" {
		t.Error("the sub-device's voucher is not cached")
	}
}

// TestRegistrationWithMosquittoRR: the README's walk-through, with
// Mosquitto's own client: mosquitto_rr subscribes to the answer, sends the
// request and prints the answer.
func TestRegistrationWithMosquittoRR(t *testing.T) {
	rr, err := exec.LookPath("mosquitto_rr")
	if err != nil {
		t.Skip("mosquitto_rr is not installed (Debian: mosquitto-clients)")
	}
	s := startBroker(t, nil)
	tp := s.createTemplate(t, nil)
	host, port, _ := net.SplitHostPort(s.MQTTAddr())
	body := `{"template_secret":"` + tp.Secret + `","device_number":"rr-1"}`
	out, err := exec.CommandContext(t.Context(), rr, "-h", host, "-p", port, "-u", otos.RegistrationUsername,
		"-t", otos.RegisterPrefix+"req-1", "-e", otos.RegisterResponsePrefix+"req-1", "-m", body, "-W", "5").CombinedOutput()
	if err != nil {
		t.Fatalf("mosquitto_rr: %v\n%s", err, out)
	}
	var r otos.AuthReply
	if err := json.Unmarshal(out, &r); err != nil || r.Code != 200 || r.Data == nil {
		t.Fatalf("mosquitto_rr printed %s", out)
	}
}
