package main

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/otos-iot/otos"
)

// TestMQTTOversizedPacketRefused: a packet header claiming 256 MB, before
// any CONNECT, closes the connection at once instead of allocating it.
func TestMQTTOversizedPacketRefused(t *testing.T) {
	s := startBroker(t, nil)
	conn, err := net.Dial("tcp", s.MQTTAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte{0x10, 0xff, 0xff, 0xff, 0x7f}); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := io.ReadAll(conn); err != nil {
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatal("the broker kept a connection that announced a 256 MB packet")
		}
	}
	// And it still serves.
	tp := s.createTemplate(t, nil)
	_, v := s.register(t, tp.Secret, "after-oversize")
	if _, err := connect3(t, "tcp://"+s.MQTTAddr(), "ok", v.Username, v.Password, nil); err != nil {
		t.Fatal(err)
	}
}

// TestRetainedDownlinksAreNotKept: a service account's retained command
// must not wait for the next device given that number.
func TestRetainedDownlinksAreNotKept(t *testing.T) {
	f := newACLFixture(t)
	svc, err := connect3(t, "tcp://"+f.MQTTAddr(), "svc", f.svc.Username, f.svc.Password, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok := svc.Publish("devices/command/acl-b/1", 1, true, `{"method":"unlock"}`)
	if !tok.WaitTimeout(2*time.Second) || tok.Error() != nil {
		t.Fatalf("retained publish: %v", tok.Error())
	}
	b, err := connect3(t, "tcp://"+f.MQTTAddr(), "b", f.b.Username, f.b.Password, nil)
	if err != nil {
		t.Fatal(err)
	}
	b.subscribe(t, "devices/command/acl-b/+")
	if _, ok := b.received("devices/command/acl-b/1", 500*time.Millisecond); ok {
		t.Error("a retained downlink was kept and delivered to a later subscriber")
	}
}

// TestFirstConnectionAfterResetDoesNotCloseRegistration: a first
// connection with a voucher that was voided after it was checked (a reset
// racing the CONNECT) is refused and leaves registration open.
func TestFirstConnectionAfterResetDoesNotCloseRegistration(t *testing.T) {
	s := startServer(t, "", nil)
	tp := s.createTemplate(t, nil)
	id, v := s.register(t, tp.Secret, "race-1")
	sess, err := s.Service.Sessions.Authenticate(context.Background(), testClient, v.Username, v.Password)
	if err != nil {
		t.Fatal(err)
	}
	s.admin(t, "POST", "/api/v1/devices/"+id+"/reset", nil, 200, nil)
	if err := s.Service.Sessions.Connected(context.Background(), sess); otos.ErrorCode(err) != otos.EUNAUTHORIZED {
		t.Fatalf("connection with a voided voucher recorded: %v", err)
	}
	s.register(t, tp.Secret, "race-1") // registration is still open
}

func TestSubDeviceUnderDisabledGateway(t *testing.T) {
	s := startServer(t, "", nil)
	gw := s.createTemplate(t, map[string]any{"device_type": "gateway"})
	sub := s.createTemplate(t, map[string]any{"device_type": "sub_device"})
	gwID, _ := s.register(t, gw.Secret, "gw-off")
	s.admin(t, "POST", "/api/v1/devices/"+gwID+"/disable", nil, 200, nil)
	status, env := s.auth(t, map[string]string{"template_secret": sub.Secret, "device_number": "sub-off",
		"parent_device_number": "gw-off", "sub_device_addr": "1"})
	if status != 400 || env.Code != 200085 {
		t.Fatalf("sub-device under a disabled gateway: %d %+v", status, env)
	}
}
