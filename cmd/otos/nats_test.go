package main

import (
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/otos-iot/otos"
)

// TestNATSCallout: with otos as the authentication service of a NATS
// server, a device connects over MQTT with its voucher and a service
// account receives its uplink on the topic that names it.
func TestNATSCallout(t *testing.T) {
	dir := t.TempDir()
	nc := startNATS(t, 1, otosNATSBlock(t, dir))
	s := startServer(t, dir, func(c *Config) { c.NATS = nc.url() })
	tp := s.createTemplate(t, nil)
	_, v := s.register(t, tp.Secret, "nats-dev-1")
	acct, err := s.Service.Admin.CreateServiceAccount(t.Context(), systemAdmin, "", "consumer")
	if err != nil {
		t.Fatal(err)
	}
	app, err := natsgo.Connect(nc.urls[0], natsgo.UserInfo(acct.Username, acct.Password))
	if err != nil {
		t.Fatalf("service account over NATS: %v", err)
	}
	defer app.Close()
	up, err := app.SubscribeSync("otos." + otos.DefaultTenantID + ".>")
	if err != nil {
		t.Fatal(err)
	}
	app.Flush()
	dev, err := connect3(t, nc.mqtt[0], "nats-dev-1", v.Username, v.Password, nil)
	if err != nil {
		t.Fatalf("device over MQTT: %v", err)
	}
	if tok := dev.Publish(otos.TelemetryTopic, 0, false, `{"t":21}`); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
	m, err := up.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatalf("no uplink: %v", err)
	}
	if want := "otos." + otos.DefaultTenantID + ".nats-dev-1.devices.telemetry"; m.Subject != want || string(m.Data) != `{"t":21}` {
		t.Fatalf("uplink on %s: %s, want %s", m.Subject, m.Data, want)
	}
	if _, err := connect3(t, nc.mqtt[0], "nats-dev-x", v.Username, "wrong", nil); err == nil {
		t.Fatal("a wrong password connected")
	}
}
