package main

import (
	"testing"
	"time"

	"github.com/otos-iot/otos"
)

// TestNATSSharedSpaces: on NATS every device shares one account, so what
// the embedded broker keeps apart by itself is refused at the callout: a
// device numbered "response", whose downlinks (devices/command/response/+)
// are every device's uplinks, and a client id that is not the device's own
// (taking another's id would end its session).
func TestNATSSharedSpaces(t *testing.T) {
	dir := t.TempDir()
	nc := startNATS(t, 1, otosNATSBlock(t, dir))
	s := startServer(t, dir, func(c *Config) { c.NATS = nc.url() })
	var other otos.Tenant
	s.admin(t, "POST", "/api/v1/tenants", map[string]any{"name": "other"}, 201, &other)
	t1 := newNATSTenant(t, s, nc.urls[0], otos.DefaultTenantID)
	t2 := newNATSTenant(t, s, nc.urls[0], other.ID)
	_, victimV := s.register(t, string(t1.secret), "victim")
	_, responseV := s.register(t, string(t2.secret), "response")
	_, evilV := s.register(t, string(t2.secret), "evil")
	victim, err := connect3(t, nc.mqtt[0], "victim", victimV.Username, victimV.Password, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := connect3(t, nc.mqtt[0], "response", responseV.Username, responseV.Password, nil); err == nil {
		t.Error(`a device numbered "response" connected, and would read every device's command responses`)
	}
	if _, err := connect3(t, nc.mqtt[0], "victim", evilV.Username, evilV.Password, nil); err == nil {
		t.Error("a device connected with another device's client id")
	}
	if _, err := connect3(t, nc.mqtt[0], "evil/2", evilV.Username, evilV.Password, nil); err != nil {
		t.Errorf("a client id of the device's number, / and more: %v", err)
	}
	select {
	case err := <-victim.lost:
		t.Fatalf("the victim was disconnected: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
}

// TestNATSPresenceLastConnection: a device with two connections is offline
// only once the last one closes.
func TestNATSPresenceLastConnection(t *testing.T) {
	dir := t.TempDir()
	nc := startNATS(t, 1, otosNATSBlock(t, dir))
	s := startServer(t, dir, func(c *Config) { c.NATS = nc.url() })
	tp := s.createTemplate(t, nil)
	id, v := s.register(t, tp.Secret, "twice")
	if _, err := connect3(t, nc.mqtt[0], "twice/1", v.Username, v.Password, nil); err != nil {
		t.Fatal(err)
	}
	c2, err := connect3(t, nc.mqtt[0], "twice/2", v.Username, v.Password, nil)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	c2.Disconnect(0)
	time.Sleep(2500 * time.Millisecond) // presence is written within about a second
	var d struct {
		Online bool `json:"online"`
	}
	s.admin(t, "GET", "/api/v1/devices/"+id, nil, 200, &d)
	if !d.Online {
		t.Fatal("the device is shown offline while a connection of it is live")
	}
}
