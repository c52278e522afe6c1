package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/otos-iot/otos"
)

// subDevices posts a batch to POST /api/v1/gateway/sub-devices with the
// gateway's voucher v (nil: no credentials).
func (s *testServer) subDevices(t *testing.T, v *voucher, entries []otos.SubDeviceRequest) (int, otos.BatchReply) {
	t.Helper()
	b, _ := json.Marshal(map[string]any{"sub_devices": entries})
	var headers []string
	if v != nil {
		headers = []string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte(v.Username+":"+v.Password))}
	}
	res, out := do(t, "POST", s.URL+"/api/v1/gateway/sub-devices", string(b), headers...)
	var r otos.BatchReply
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("%d %s", res.StatusCode, out)
	}
	return res.StatusCode, r
}

// TestGatewayBatch: a gateway registers its sub-devices in one message of
// 100 over MQTT, with its own voucher, one result per entry (new ones,
// one that exists and connected, one under a template it was not given, a
// duplicate address); the same over HTTP; a disabled gateway registers
// nothing.
func TestGatewayBatch(t *testing.T) {
	s := startBroker(t, nil)
	sub := s.createTemplate(t, map[string]any{"device_type": "sub_device"})
	other := s.createTemplate(t, map[string]any{"device_type": "sub_device"})
	gwT := s.createTemplate(t, map[string]any{"device_type": "gateway", "sub_device_templates": []string{sub.ID}})
	gwID, gv := s.register(t, gwT.Secret, "gb-gateway")
	gw := connect5(t, s.MQTTAddr(), "gb-gateway", gv.Username, gv.Password)
	if gw.connack.ReasonCode != 0 {
		t.Fatalf("gateway: %#x", gw.connack.ReasonCode)
	}
	batch := func(id string, entries []otos.SubDeviceRequest) otos.BatchReply {
		t.Helper()
		if rc := gw.subscribe(t, otos.GatewayRegisterResponsePrefix+id); rc > 1 {
			t.Fatalf("subscribe: %#x", rc)
		}
		b, _ := json.Marshal(map[string]any{"sub_devices": entries})
		if rc := gw.publish(t, otos.GatewayRegisterPrefix+id, string(b)); rc != 0 {
			t.Fatalf("publish batch: %#x", rc)
		}
		m, ok := gw.next(10 * time.Second)
		if !ok || m.Topic != otos.GatewayRegisterResponsePrefix+id {
			t.Fatalf("no answer to batch %s", id)
		}
		var r otos.BatchReply
		if err := json.Unmarshal(m.Payload, &r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	// One sub-device registers and connects first.
	r := batch("b0", []otos.SubDeviceRequest{{SubDeviceAddr: "addr-c", DeviceNumber: "gb-connected"}})
	if r.Code != 200 || len(r.Data.SubDevices) != 1 || r.Data.SubDevices[0].Code != 200 {
		t.Fatalf("first batch: %+v", r)
	}
	var cv voucher
	json.Unmarshal([]byte(r.Data.SubDevices[0].Voucher), &cv)
	if _, err := connect3(t, "tcp://"+s.MQTTAddr(), "gb-connected", cv.Username, cv.Password, nil); err != nil {
		t.Fatalf("a sub-device registered by its gateway: %v", err)
	}

	entries := make([]otos.SubDeviceRequest, 100)
	for i := range 97 {
		entries[i] = otos.SubDeviceRequest{SubDeviceAddr: fmt.Sprint("addr-", i), DeviceNumber: fmt.Sprint("gb-", i)}
	}
	entries[97] = otos.SubDeviceRequest{SubDeviceAddr: "addr-c", DeviceNumber: "gb-connected"}
	entries[98] = otos.SubDeviceRequest{SubDeviceAddr: "addr-x", DeviceNumber: "gb-x", TemplateID: other.ID}
	entries[99] = otos.SubDeviceRequest{SubDeviceAddr: "addr-0", DeviceNumber: "gb-dup"}
	r = batch("b1", entries)
	if r.Code != 200 || len(r.Data.SubDevices) != 100 {
		t.Fatalf("batch of 100: %+v", r)
	}
	for i, res := range r.Data.SubDevices {
		want := 200
		switch i {
		case 97:
			want = 200082
		case 98:
			want = 200092
		case 99:
			want = 100002
		}
		if res.Code != want || res.DeviceNumber != entries[i].DeviceNumber || (want == 200) != (res.Voucher != "") {
			t.Errorf("entry %d: %+v, want code %d", i, res, want)
		}
	}

	// Over HTTP, with the voucher as Basic credentials.
	if status, r := s.subDevices(t, &gv, []otos.SubDeviceRequest{{SubDeviceAddr: "addr-h", DeviceNumber: "gb-http"}}); status != 200 ||
		r.Data.SubDevices[0].Code != 200 {
		t.Errorf("over HTTP: %d %+v", status, r)
	}
	if status, r := s.subDevices(t, nil, entries[:1]); status != http.StatusUnauthorized || r.Code != 100004 {
		t.Errorf("over HTTP without credentials: %d %+v", status, r)
	}
	if status, r := s.subDevices(t, &voucher{Username: gv.Username, Password: "wrong"}, entries[:1]); status != http.StatusUnauthorized {
		t.Errorf("over HTTP with a wrong password: %d %+v", status, r)
	}
	if status, r := s.subDevices(t, &gv, make([]otos.SubDeviceRequest, 101)); status != 400 || r.Code != 100002 {
		t.Errorf("a batch of 101: %d %+v", status, r)
	}

	// A disabled gateway is dropped and registers nothing.
	s.admin(t, "POST", "/api/v1/devices/"+gwID+"/disable", nil, 200, nil)
	select {
	case <-gw.dropped:
	case <-time.After(2 * time.Second):
		t.Error("a disabled gateway stays connected")
	}
	if status, r := s.subDevices(t, &gv, []otos.SubDeviceRequest{{SubDeviceAddr: "addr-d", DeviceNumber: "gb-disabled"}}); status != http.StatusForbidden || r.Data != nil {
		t.Errorf("a disabled gateway over HTTP: %d %+v", status, r)
	}
}

// TestTemplateSubTemplatesCLI: an operator grants a gateway template its
// sub-device templates from the command line; a direct template cannot be
// granted, nor given to a direct template.
func TestTemplateSubTemplatesCLI(t *testing.T) {
	s := startServer(t, "", nil)
	sub := s.createTemplate(t, map[string]any{"device_type": "sub_device"})
	direct := s.createTemplate(t, nil)
	out, err := s.runCLI(t, "template", "create", "--name", "gw", "--type", "gateway", "--sub-templates", sub.ID)
	if err != nil || !strings.Contains(out, sub.ID) {
		t.Fatalf("template create --sub-templates: %v\n%s", err, out)
	}
	if out, err := s.runCLI(t, "template", "create", "--name", "gw2", "--type", "gateway", "--sub-templates", direct.ID); err == nil ||
		!strings.Contains(out+err.Error(), "not a sub_device template") {
		t.Errorf("granting a direct template: %v\n%s", err, out)
	}
	if out, err := s.runCLI(t, "template", "update", direct.ID, "--sub-templates", sub.ID); err == nil {
		t.Errorf("sub-device templates on a direct template: %s", out)
	}
}

// TestGatewayCannotTakeOverSubDevice: a gateway that names another
// gateway's sub-device in its batch gets 200082, and the sub-device's
// voucher stays valid.
func TestGatewayCannotTakeOverSubDevice(t *testing.T) {
	s := startBroker(t, nil)
	sub := s.createTemplate(t, map[string]any{"device_type": "sub_device"})
	gwT := s.createTemplate(t, map[string]any{"device_type": "gateway", "sub_device_templates": []string{sub.ID}})
	_, va := s.register(t, gwT.Secret, "gw-a")
	_, vb := s.register(t, gwT.Secret, "gw-b")
	_, r := s.subDevices(t, &va, []otos.SubDeviceRequest{{SubDeviceAddr: "1", DeviceNumber: "sensor-1"}})
	if r.Data.SubDevices[0].Code != 200 {
		t.Fatalf("gateway A: %+v", r)
	}
	var sv voucher
	json.Unmarshal([]byte(r.Data.SubDevices[0].Voucher), &sv)
	_, r = s.subDevices(t, &vb, []otos.SubDeviceRequest{{SubDeviceAddr: "9", DeviceNumber: "sensor-1"}})
	if res := r.Data.SubDevices[0]; res.Code != 200082 || res.Voucher != "" {
		t.Fatalf("gateway B naming A's sub-device: %+v, want 200082", res)
	}
	if _, err := connect3(t, "tcp://"+s.MQTTAddr(), "sensor-1", sv.Username, sv.Password, nil); err != nil {
		t.Fatalf("the sub-device's voucher after B's attempt: %v", err)
	}
}
