package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	paho5 "github.com/eclipse/paho.golang/paho"
	"github.com/otos-iot/otos"
)

func TestMQTTVoucherOpensTheBroker(t *testing.T) {
	s := startBroker(t, nil)
	basic := s.createTemplate(t, nil)
	token := s.createTemplate(t, map[string]any{"voucher_type": "ACCESSTOKEN"})
	_, v := s.register(t, basic.Secret, "mq-basic")
	_, tv := s.register(t, token.Secret, "mq-token")
	url := "tcp://" + s.MQTTAddr()

	if _, err := connect3(t, url, "c1", v.Username, v.Password, nil); err != nil {
		t.Errorf("BASIC voucher over 3.1.1: %v", err)
	}
	if c := connect5(t, s.MQTTAddr(), "c2", v.Username, v.Password); c.connack.ReasonCode != 0 {
		t.Errorf("BASIC voucher over 5: reason %#x", c.connack.ReasonCode)
	}
	if _, err := connect3(t, url, "c3", tv.Username, "", nil); err != nil {
		t.Errorf("ACCESSTOKEN voucher over 3.1.1: %v", err)
	}
	if c := connect5(t, s.MQTTAddr(), "c4", tv.Username, ""); c.connack.ReasonCode != 0 {
		t.Errorf("ACCESSTOKEN voucher over 5: reason %#x", c.connack.ReasonCode)
	}
}

func TestMQTTRefusals(t *testing.T) {
	s := startBroker(t, nil)
	tp := s.createTemplate(t, nil)
	url := "tcp://" + s.MQTTAddr()
	_, good := s.register(t, tp.Secret, "ref-good")

	disabledID, disabled := s.register(t, tp.Secret, "ref-disabled")
	s.admin(t, "POST", "/api/v1/devices/"+disabledID+"/disable", nil, 200, nil)
	resetID, reset := s.register(t, tp.Secret, "ref-reset")
	s.admin(t, "POST", "/api/v1/devices/"+resetID+"/reset", nil, 200, nil)
	deletedID, deleted := s.register(t, tp.Secret, "ref-deleted")
	s.admin(t, "DELETE", "/api/v1/devices/"+deletedID, nil, 204, nil)
	_, voided := s.register(t, tp.Secret, "ref-voided")
	s.register(t, tp.Secret, "ref-voided") // re-issued: the first voucher is void

	cases := []struct {
		name, user, pass string
		v3               string // paho's error text
		v5               byte
	}{
		{"unknown-username", "4b1f7d0e-0000-4000-8000-000000000000", "x", "bad user name or password", 0x86},
		{"wrong-password", good.Username, good.Password + "x", "bad user name or password", 0x86},
		{"missing-password", good.Username, "", "bad user name or password", 0x86},
		{"empty-username", "", "", "bad user name or password", 0x86},
		{"disabled", disabled.Username, disabled.Password, "not Authorized", 0x87},
		{"reset", reset.Username, reset.Password, "bad user name or password", 0x86},
		{"deleted", deleted.Username, deleted.Password, "bad user name or password", 0x86},
		{"voided-by-reissue", voided.Username, voided.Password, "bad user name or password", 0x86},
		{"service-prefix-unknown", otos.ServiceUsernamePrefix + "nobody", "x", "bad user name or password", 0x86},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := connect3(t, url, "r3-"+c.name, c.user, c.pass, nil); err == nil || !strings.Contains(err.Error(), c.v3) {
				t.Errorf("3.1.1: got %v, want %q", err, c.v3)
			}
			if cl := connect5(t, s.MQTTAddr(), "r5-"+c.name, c.user, c.pass); cl.connack.ReasonCode != c.v5 {
				t.Errorf("5: reason %#x, want %#x", cl.connack.ReasonCode, c.v5)
			}
		})
	}
}

// TestMQTTLockout: wrong passwords and unknown usernames from one address
// lock it out, over MQTT as over HTTP: then even a good voucher gets
// "not authorized", and so does a registration from that address.
func TestMQTTLockout(t *testing.T) {
	s := startBroker(t, func(c *Config) { c.LockoutThreshold = 3 })
	tp := s.createTemplate(t, nil)
	_, v := s.register(t, tp.Secret, "mq-lock")
	url := "tcp://" + s.MQTTAddr()
	for i, user := range []string{v.Username, "4b1f7d0e-0000-4000-8000-000000000000", v.Username} {
		if _, err := connect3(t, url, fmt.Sprintf("guess-%d", i), user, "wrong", nil); err == nil || !strings.Contains(err.Error(), "bad user name or password") {
			t.Fatalf("guess %d: %v", i+1, err)
		}
	}
	if _, err := connect3(t, url, "good-3", v.Username, v.Password, nil); err == nil || !strings.Contains(err.Error(), "not Authorized") {
		t.Errorf("good voucher over 3.1.1 from the locked-out address: %v, want not authorized", err)
	}
	if c := connect5(t, s.MQTTAddr(), "good-5", v.Username, v.Password); c.connack.ReasonCode != 0x87 {
		t.Errorf("good voucher over 5 from the locked-out address: reason %#x, want 0x87", c.connack.ReasonCode)
	}
	if status, retry, code := s.post(t, authBody(tp.Secret, "mq-lock-2")); status != 429 || code != 201003 || retry == "" {
		t.Errorf("registration from the locked-out address: %d code %d Retry-After %q", status, code, retry)
	}
	_, metrics := do(t, "GET", s.URL+"/metrics", "")
	for _, want := range []string{"otos_lockouts_total 1", `otos_mqtt_connects_total{result="not authorized"} 2`} {
		if !strings.Contains(string(metrics), want+"\n") {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// TestMQTTSessionDropped: disabling, resetting, deleting a device or
// re-issuing its voucher ends its live session within one second.
func TestMQTTSessionDropped(t *testing.T) {
	s := startBroker(t, nil)
	tp := s.createTemplate(t, nil)
	url := "tcp://" + s.MQTTAddr()
	for _, action := range []string{"disable", "reset", "delete", "reissue"} {
		t.Run(action, func(t *testing.T) {
			number := "drop-" + action
			id, v := s.register(t, tp.Secret, number)
			c3, err := connect3(t, url, "d3-"+action, v.Username, v.Password, nil)
			if err != nil {
				t.Fatal(err)
			}
			c5 := connect5(t, s.MQTTAddr(), "d5-"+action, v.Username, v.Password)
			start := time.Now()
			switch action {
			case "delete":
				s.admin(t, "DELETE", "/api/v1/devices/"+id, nil, 204, nil)
			case "reissue":
				// A connected device is not re-issued a voucher through the API,
				// so clear its record behind the service's back, as a race
				// between a CONNECT and a re-registration could, then re-register.
				if _, err := s.Store.ResetDevice(t.Context(), id, time.Now()); err != nil {
					t.Fatal(err)
				}
				s.register(t, tp.Secret, number)
			default:
				s.admin(t, "POST", "/api/v1/devices/"+id+"/"+action, nil, 200, nil)
			}
			select {
			case <-c3.lost:
			case <-time.After(time.Second):
				t.Errorf("3.1.1 session still up 1s after %s", action)
			}
			select {
			case d := <-c5.dropped:
				if d.ReasonCode != 0x87 {
					t.Errorf("DISCONNECT reason %#x, want 0x87", d.ReasonCode)
				}
			case <-time.After(time.Second - time.Since(start)):
				t.Errorf("5 session still up 1s after %s", action)
			}
			if _, err := connect3(t, url, "again-"+action, v.Username, v.Password, nil); err == nil {
				t.Errorf("the voucher still connects after %s", action)
			}
		})
	}
}

func TestMQTTFirstConnectionClosesReregistration(t *testing.T) {
	s := startBroker(t, nil)
	tp := s.createTemplate(t, nil)
	id, v := s.register(t, tp.Secret, "first-1")
	c, err := connect3(t, "tcp://"+s.MQTTAddr(), "fc", v.Username, v.Password, nil)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Online           bool       `json:"online"`
		FirstConnectedAt *time.Time `json:"first_connected_at"`
		LastSeenAt       *time.Time `json:"last_seen_at"`
	}
	s.admin(t, "GET", "/api/v1/devices/"+id, nil, 200, &d)
	if !d.Online || d.FirstConnectedAt == nil || d.LastSeenAt == nil {
		t.Fatalf("after connecting: %+v", d)
	}
	if status, env := s.auth(t, map[string]string{"template_secret": tp.Secret, "device_number": "first-1"}); status != http.StatusConflict || env.Code != 200082 {
		t.Fatalf("re-registration after first connection: %d %+v", status, env)
	}
	c.Disconnect(0)
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		s.admin(t, "GET", "/api/v1/devices/"+id, nil, 200, &d)
		if !d.Online {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Error("device still online 3s after it disconnected")
}

// aclFixture has two devices of one tenant, a gateway, and service accounts
// of that tenant and of another.
type aclFixture struct {
	*testServer
	a, b, gw      voucher
	aNum, bNum    string
	tenant, other string
	svc, otherSvc *otos.ServiceAccount
}

func newACLFixture(t *testing.T) *aclFixture {
	s := startBroker(t, nil)
	f := &aclFixture{testServer: s, aNum: "acl-a", bNum: "acl-b", tenant: otos.DefaultTenantID}
	tp := s.createTemplate(t, nil)
	gw := s.createTemplate(t, map[string]any{"device_type": "gateway"})
	_, f.a = s.register(t, tp.Secret, f.aNum)
	_, f.b = s.register(t, tp.Secret, f.bNum)
	_, f.gw = s.register(t, gw.Secret, "acl-gw")
	ctx := context.Background()
	other := &otos.Tenant{ID: "7d3b0c7e-1111-4222-8333-444455556666", Name: "other", CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
	if err := s.Store.CreateTenant(ctx, other); err != nil {
		t.Fatal(err)
	}
	f.other = other.ID
	var err error
	if f.svc, err = s.Service.Admin.CreateServiceAccount(ctx, systemAdmin, "", "backend"); err != nil {
		t.Fatal(err)
	}
	if f.otherSvc, err = s.Service.Admin.CreateServiceAccount(ctx, systemAdmin, other.ID, "theirs"); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestMQTTTopicACL(t *testing.T) {
	f := newACLFixture(t)
	url := "tcp://" + f.MQTTAddr()
	a, err := connect3(t, url, "a", f.a.Username, f.a.Password, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := connect3(t, url, "b", f.b.Username, f.b.Password, nil)
	if err != nil {
		t.Fatal(err)
	}
	for filter, want := range map[string]byte{
		"devices/telemetry/control/acl-a": 1,
		"devices/attributes/set/acl-a/+":  1,
		"devices/command/acl-a/+":         1,
		"devices/command/acl-b/+":         0x80,
		"devices/command/+/+":             0x80,
		"devices/#":                       0x80,
		"#":                               0x80,
		"devices/telemetry":               0x80,
		"otos/" + f.tenant + "/#":         0x80,
		"$SYS/#":                          0x80,
		"gateway/command/acl-a/+":         0x80,
	} {
		if got := a.subscribe(t, filter); got != want {
			t.Errorf("device subscribe %q: granted %#x, want %#x", filter, got, want)
		}
	}
	if got := b.subscribe(t, "devices/command/acl-b/+"); got != 1 {
		t.Fatalf("b's own command topic: %#x", got)
	}
	// A publishes to B's downlink over MQTT 5: refused, and B receives nothing.
	a5 := connect5(t, f.MQTTAddr(), "a5", f.a.Username, f.a.Password)
	if rc := a5.publish(t, "devices/command/acl-b/1", `{"method":"reboot"}`); rc != 0x87 {
		t.Errorf("publish to another device's downlink: PUBACK %#x, want 0x87", rc)
	}
	if rc := a5.publish(t, "otos/"+f.tenant+"/acl-b/devices/telemetry", `{"spoof":1}`); rc != 0x87 {
		t.Errorf("publish on a consumer topic: PUBACK %#x, want 0x87", rc)
	}
	if _, ok := b.received("devices/command/acl-b/1", 300*time.Millisecond); ok {
		t.Error("a spoofed downlink reached device b")
	}
	// MQTT 3.1.1 has no negative PUBACK: the broker disconnects a device
	// that publishes where it may not (QoS 1).
	tok := a.Publish("devices/command/acl-b/2", 1, false, "x")
	tok.WaitTimeout(2 * time.Second)
	select {
	case <-a.lost:
	case <-time.After(2 * time.Second):
		t.Error("3.1.1 device still connected after a forbidden QoS 1 publish")
	}
	if _, ok := b.received("devices/command/acl-b/2", 300*time.Millisecond); ok {
		t.Error("a spoofed 3.1.1 downlink reached device b")
	}
}

func TestMQTTClientIDsCannotHijack(t *testing.T) {
	f := newACLFixture(t)
	url := "tcp://" + f.MQTTAddr()
	b, err := connect3(t, url, "shared-id", f.b.Username, f.b.Password, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := b.subscribe(t, "devices/command/acl-b/+"); got != 1 {
		t.Fatal("subscribe")
	}
	// A connects with the very same client id: B's session must survive.
	if _, err := connect3(t, url, "shared-id", f.a.Username, f.a.Password, nil); err != nil {
		t.Fatal(err)
	}
	select {
	case <-b.lost:
		t.Fatal("another device's CONNECT with the same client id took over b's session")
	case <-time.After(300 * time.Millisecond):
	}
}

func TestMQTTServiceAccount(t *testing.T) {
	f := newACLFixture(t)
	addr := f.MQTTAddr()
	svc5 := connect5(t, addr, "svc5", f.svc.Username, f.svc.Password)
	if svc5.connack.ReasonCode != 0 {
		t.Fatalf("service account connect: %#x", svc5.connack.ReasonCode)
	}
	if rc := svc5.subscribe(t, "otos/"+f.tenant+"/#"); rc != 1 {
		t.Fatalf("service subscribe own tenant: %#x", rc)
	}
	svc3, err := connect3(t, "tcp://"+addr, "svc3", f.svc.Username, f.svc.Password, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rc := svc3.subscribe(t, "otos/"+f.tenant+"/+/devices/telemetry"); rc != 1 {
		t.Fatalf("3.1.1 service subscribe: %#x", rc)
	}

	// Device a publishes telemetry, pretending in a user property to be b.
	a5 := connect5(t, addr, "a5", f.a.Username, f.a.Password)
	if rc := a5.publish(t, "devices/telemetry", `{"temp":21.5}`, "device_number", "acl-b", "note", "kept"); rc >= 0x80 {
		t.Fatalf("telemetry publish: %#x", rc)
	}
	m, ok := svc5.next(2 * time.Second)
	if !ok {
		t.Fatal("the service account received no telemetry")
	}
	want := "otos/" + f.tenant + "/acl-a/devices/telemetry"
	if m.Topic != want || string(m.Payload) != `{"temp":21.5}` {
		t.Errorf("got %q %s, want %q", m.Topic, m.Payload, want)
	}
	props := map[string][]string{}
	for _, p := range m.Properties.User {
		props[p.Key] = append(props[p.Key], p.Value)
	}
	if got := props["device_number"]; len(got) != 1 || got[0] != "acl-a" {
		t.Errorf("device_number properties %v, want only the true sender acl-a", got)
	}
	if len(props["device_id"]) != 1 || len(props["note"]) != 1 {
		t.Errorf("properties %v", props)
	}
	if _, ok := svc3.received(want, 2*time.Second); !ok {
		t.Error("the 3.1.1 service account did not receive the telemetry on the per-device topic")
	}

	// The service account sends a command down to device b.
	b5 := connect5(t, addr, "b5", f.b.Username, f.b.Password)
	if rc := b5.subscribe(t, "devices/command/acl-b/+"); rc != 1 {
		t.Fatal("b subscribe")
	}
	if rc := svc5.publish(t, "devices/command/acl-b/1", `{"method":"reboot"}`); rc >= 0x80 {
		t.Fatalf("service downlink publish: %#x", rc)
	}
	if m, ok := b5.next(2 * time.Second); !ok || m.Topic != "devices/command/acl-b/1" {
		t.Fatalf("device b did not receive the command: %v", m)
	}

	// Another tenant's service account sees nothing and commands nothing here.
	other := connect5(t, addr, "other", f.otherSvc.Username, f.otherSvc.Password)
	if rc := other.subscribe(t, "otos/"+f.tenant+"/#"); rc != 0x87 {
		t.Errorf("other tenant subscribe: %#x, want 0x87", rc)
	}
	if rc := other.subscribe(t, "otos/+/#"); rc != 0x87 {
		t.Errorf("other tenant wildcard subscribe: %#x, want 0x87", rc)
	}
	if rc := other.publish(t, "devices/command/acl-b/2", `{}`); rc != 0x87 {
		t.Errorf("other tenant downlink: %#x, want 0x87", rc)
	}
	if m, ok := b5.next(300 * time.Millisecond); ok {
		t.Errorf("device b received another tenant's command %q", m.Topic)
	}

	// Revoking the account drops its sessions.
	if _, err := f.Service.Admin.RevokeServiceAccount(context.Background(), systemAdmin, f.svc.ID); err != nil {
		t.Fatal(err)
	}
	select {
	case <-svc5.dropped:
	case <-time.After(time.Second):
		t.Error("revoked service account still connected")
	}
}

func TestMQTTWillMustBeAnUplink(t *testing.T) {
	f := newACLFixture(t)
	conn5 := func(will string) byte {
		t.Helper()
		c := connect5WithWill(t, f.MQTTAddr(), f.a.Username, f.a.Password, will)
		return c
	}
	if rc := conn5("devices/command/acl-b/1"); rc != 0x87 {
		t.Errorf("will on another device's downlink: %#x, want 0x87", rc)
	}
	if rc := conn5("devices/event/1"); rc != 0 {
		t.Errorf("will on an uplink: %#x, want 0", rc)
	}
}

// connect5WithWill connects over MQTT 5 with a will message and returns the
// CONNACK reason.
func connect5WithWill(t *testing.T, addr, user, pass, will string) byte {
	t.Helper()
	c := connect5Opts(t, addr, "will-"+will, user, pass, func(cp *paho5.Connect) {
		cp.WillMessage = &paho5.WillMessage{Topic: will, Payload: []byte("gone"), QoS: 0}
	})
	return c.connack.ReasonCode
}
