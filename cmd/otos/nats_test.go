package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/otos-iot/otos"
	"github.com/otos-iot/otos/postgres/pgtest"
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
	// Lifecycle events share the subject space; under load the template's
	// may arrive after the subscription.
	for err == nil && strings.HasPrefix(m.Subject, "otos."+otos.DefaultTenantID+".events.") {
		m, err = up.NextMsg(5 * time.Second)
	}
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

// natsTenant is a tenant with a template, a service account connected over
// NATS to one node and subscribed to its tenant's consumer subjects.
type natsTenant struct {
	id     string
	secret otos.Secret
	app    *natsgo.Conn
	up     *natsgo.Subscription
}

func newNATSTenant(t *testing.T, s *testServer, url, tenant string) *natsTenant {
	t.Helper()
	fields := map[string]any{}
	if tenant != otos.DefaultTenantID {
		fields["tenant_id"] = tenant
	}
	tp := s.createTemplate(t, fields)
	acct, err := s.Service.Admin.CreateServiceAccount(t.Context(), systemAdmin, tenant, "consumer")
	if err != nil {
		t.Fatal(err)
	}
	app, err := natsgo.Connect(url, natsgo.UserInfo(acct.Username, acct.Password))
	if err != nil {
		t.Fatalf("service account over NATS: %v", err)
	}
	t.Cleanup(app.Close)
	up, err := app.SubscribeSync("otos." + tenant + ".*.devices.>")
	if err != nil {
		t.Fatal(err)
	}
	if err := app.Flush(); err != nil {
		t.Fatal(err)
	}
	return &natsTenant{id: tenant, secret: otos.Secret(tp.Secret), app: app, up: up}
}

// next returns the next uplink's subject and payload, "" after d.
func (n *natsTenant) next(d time.Duration) (string, string) {
	m, err := n.up.NextMsg(d)
	if err != nil {
		return "", ""
	}
	return m.Subject, string(m.Data)
}

// TestNATSCluster: three clustered nats-server nodes with otos as their
// authentication service. Devices connect with their vouchers to different
// nodes; a device's uplink reaches its tenant's service account on another
// node under its own number, even when it claims another's identity; it
// cannot reach other devices' or tenants' topics; downlinks reach only the
// tenant's own devices; and a disabled, reset, deleted or re-issued device
// is disconnected from whichever node holds it within a second.
func TestNATSCluster(t *testing.T) {
	dir := t.TempDir()
	nc := startNATS(t, 3, otosNATSBlock(t, dir))
	s := startServer(t, dir, func(c *Config) { c.NATS = nc.url() })
	var other otos.Tenant
	s.admin(t, "POST", "/api/v1/tenants", map[string]any{"name": "other"}, 201, &other)
	t1 := newNATSTenant(t, s, nc.urls[2], otos.DefaultTenantID)
	t2 := newNATSTenant(t, s, nc.urls[1], other.ID)

	idA, vA := s.register(t, string(t1.secret), "Nats.A")
	idB, vB := s.register(t, string(t1.secret), "nats-b")
	_, vC := s.register(t, string(t2.secret), "nats-c")
	a, err := connect3(t, nc.mqtt[0], idA, vA.Username, vA.Password, nil) // NATS refuses "." in a client id: its device id
	if err != nil {
		t.Fatalf("device A: %v", err)
	}
	c, err := connect3(t, nc.mqtt[1], "nats-c", vC.Username, vC.Password, nil)
	if err != nil {
		t.Fatalf("device C: %v", err)
	}

	spy, err := t2.app.SubscribeSync("otos." + t1.id + ".>")
	if err != nil {
		t.Fatal(err)
	}
	t2.app.Flush()

	// Uplinks, under the number of the device that sent them.
	a.Publish(otos.TelemetryTopic, 0, false, "a1").Wait()
	if subj, body := t1.next(5 * time.Second); subj != "otos."+t1.id+".Nats//A.devices.telemetry" || body != "a1" {
		t.Fatalf("A's uplink reached tenant 1 as %q %q", subj, body)
	}
	c.Publish("devices/event/boot", 0, false, "c1").Wait()
	if subj, body := t2.next(5 * time.Second); subj != "otos."+t2.id+".nats-c.devices.event.boot" || body != "c1" {
		t.Fatalf("C's uplink reached tenant 2 as %q %q", subj, body)
	}
	if subj, _ := t1.next(300 * time.Millisecond); subj != "" {
		t.Fatalf("tenant 1 saw %s of tenant 2", subj)
	}

	// A device over NATS that claims device A's identity is still itself.
	bLost := make(chan struct{}, 1)
	b, err := natsgo.Connect(nc.urls[1], natsgo.UserInfo(vB.Username, vB.Password), natsgo.NoReconnect(),
		natsgo.ClosedHandler(func(*natsgo.Conn) { bLost <- struct{}{} }))
	if err != nil {
		t.Fatalf("device B over NATS: %v", err)
	}
	defer b.Close()
	forged := natsgo.NewMsg("devices.telemetry")
	forged.Data = []byte("b1")
	forged.Header.Set("Nats-Request-Info", `{"acc":"OTOS_DEVICES","tags":["otos-key:`+idA+`","otos-tenant:`+t1.id+
		`","otos-device:`+idA+`","otos-number:4e6174732e41"]}`)
	if err := b.PublishMsg(forged); err != nil {
		t.Fatal(err)
	}
	if subj, body := t1.next(5 * time.Second); subj != "otos."+t1.id+".nats-b.devices.telemetry" || body != "b1" {
		t.Fatalf("B's forged uplink reached tenant 1 as %q %q", subj, body)
	}

	// What a device may not subscribe to, nor a service account of another tenant.
	for _, f := range []string{"devices/command/nats-b/+", "devices/command/+/+", "devices/#", "otos/#", "#"} {
		if rc := a.subscribe(t, f); rc != 0x80 {
			t.Errorf("device A subscribed to %s: %#x", f, rc)
		}
	}
	if m, err := spy.NextMsg(100 * time.Millisecond); err == nil {
		t.Errorf("tenant 2's service account received tenant 1's %s", m.Subject)
	}
	if err := t2.app.LastError(); err == nil || !strings.Contains(err.Error(), "Permissions Violation") {
		t.Errorf("tenant 2's subscription to tenant 1's subjects: %v, want a permissions violation", err)
	}

	// Downlinks: to one's own tenant's devices only.
	if rc := a.subscribe(t, "devices/command/Nats.A/+"); rc > 1 {
		t.Fatalf("device A's own commands: %#x", rc)
	}
	if err := t2.app.Publish("devices.command.Nats//A.x", []byte("from tenant 2")); err != nil {
		t.Fatal(err)
	}
	if err := t1.app.Publish("devices.command.Nats//A.m1", []byte("reboot")); err != nil {
		t.Fatal(err)
	}
	if m, ok := a.received("devices/command/Nats.A/m1", 5*time.Second); !ok || string(m.Payload()) != "reboot" {
		t.Fatal("device A did not receive its tenant's command")
	}
	if _, ok := a.received("devices/command/Nats.A/x", 300*time.Millisecond); ok {
		t.Fatal("device A received another tenant's command")
	}

	// Revocation reaches the node that holds the device, within a second.
	start := time.Now()
	if _, err := s.Service.Admin.SetDeviceStatus(t.Context(), systemAdmin, idA, otos.StatusDisabled); err != nil {
		t.Fatal(err)
	}
	select {
	case <-a.lost:
		if d := time.Since(start); d > time.Second {
			t.Errorf("disabled device disconnected after %v", d)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("a disabled device stays connected")
	}
	if _, err := connect3(t, nc.mqtt[2], idA, vA.Username, vA.Password, nil); err == nil {
		t.Fatal("a disabled device connected")
	}

	// A reset drops device B (over NATS); registered again at once, it
	// connects with its new voucher and stays.
	if _, err := s.Service.Admin.ResetDevice(t.Context(), systemAdmin, idB); err != nil {
		t.Fatal(err)
	}
	select {
	case <-bLost:
	case <-time.After(time.Second):
		t.Fatal("a reset device stays connected")
	}
	_, vB2 := s.register(t, string(t1.secret), "nats-b")
	b2, err := connect3(t, nc.mqtt[1], "nats-b", vB2.Username, vB2.Password, nil)
	if err != nil {
		t.Fatalf("registered again after a reset: %v", err)
	}
	select {
	case err := <-b2.lost:
		t.Fatalf("the device registered again after its reset was dropped: %v", err)
	case <-time.After(500 * time.Millisecond):
	}
	b2.Publish(otos.TelemetryTopic, 0, false, "b2").Wait()
	if subj, body := t1.next(5 * time.Second); subj != "otos."+t1.id+".nats-b.devices.telemetry" || body != "b2" {
		t.Fatalf("B's uplink after its reset reached tenant 1 as %q %q", subj, body)
	}
}

// TestNATSOtosNodes: two otos nodes on one PostgreSQL database answer one
// NATS cluster's callouts. Stopping one changes nothing for the devices;
// stopping both refuses new connections and keeps the live ones; a node
// started again learns the live connections and disconnects a device it
// disables, whichever node let it in.
func TestNATSOtosNodes(t *testing.T) {
	dsn := pgtest.Schema(t)
	nc := startNATS(t, 3, otosNATSBlockDB(t, dsn))
	nodes := startNodes(t, dsn, 2, func(c *Config) { c.MQTT, c.NATS = "", nc.url() })
	a, b := nodes[0], nodes[1]
	tp := a.createTemplate(t, nil)
	ids, vs := map[string]string{}, map[string]voucher{}
	for _, n := range []string{"d1", "d2", "d3", "d4"} {
		ids[n], vs[n] = a.register(t, tp.Secret, "nodes-"+n)
	}
	dev := func(n string, node int) (*client3, error) {
		return connect3(t, nc.mqtt[node], "nodes-"+n, vs[n].Username, vs[n].Password, nil)
	}
	d1, err := dev("d1", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dev("d2", 1); err != nil {
		t.Fatal(err)
	}
	a.Close()
	d3, err := dev("d3", 2)
	if err != nil {
		t.Fatalf("with one otos node stopped: %v", err)
	}
	b.Close()
	if _, err := dev("d4", 0); err == nil {
		t.Fatal("a device connected with no otos node answering")
	}
	select {
	case err := <-d1.lost:
		t.Fatalf("a live device was dropped when otos stopped: %v", err)
	default:
	}

	restarted := restart(t, a)
	d4, err := dev("d4", 1)
	if err != nil {
		t.Fatalf("after a node came back: %v", err)
	}
	if err := restarted.Service.Admin.DeleteDevice(t.Context(), systemAdmin, ids["d4"]); err != nil {
		t.Fatal(err)
	}
	select {
	case <-d4.lost:
	case <-time.After(time.Second):
		t.Fatal("a deleted device stays connected")
	}
	for _, d := range []struct {
		name string
		c    *client3
	}{{"d3", d3}, {"d1", d1}} {
		start := time.Now()
		if _, err := restarted.Service.Admin.SetDeviceStatus(t.Context(), systemAdmin, ids[d.name], otos.StatusDisabled); err != nil {
			t.Fatal(err)
		}
		select {
		case <-d.c.lost:
			if took := time.Since(start); took > time.Second {
				t.Errorf("%s disconnected after %v", d.name, took)
			}
		case <-time.After(3 * time.Second):
			t.Fatalf("%s, let in by a node since stopped, stays connected when disabled\n%s", d.name, restarted.Logs)
		}
	}
}

// restart opens a new otos process with s's configuration, s closed.
func restart(t *testing.T, s *testServer) *testServer {
	t.Helper()
	m := NewMain()
	m.Config = s.Config
	logs := &syncBuffer{}
	m.LogOutput = logs
	if err := m.Open(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return &testServer{Main: m, URL: m.HTTP.URL(), Token: s.Token, Logs: logs}
}

// TestNATSDatabaseDown: while PostgreSQL is away, a device whose voucher
// otos holds and whose first connection is recorded still connects through
// the callout; one whose first connection cannot be recorded is refused.
func TestNATSDatabaseDown(t *testing.T) {
	dsn := pgtest.Schema(t)
	nc := startNATS(t, 1, otosNATSBlockDB(t, dsn))
	p := pgtest.NewProxy(t, pgtest.Addr(t, dsn))
	s := startNodes(t, pgtest.WithHostPort(t, dsn, p.Addr()), 1, func(c *Config) {
		c.MQTT, c.NATS, c.DBTimeout = "", nc.url(), time.Second
	})[0]
	tp := s.createTemplate(t, nil)
	_, known := s.register(t, tp.Secret, "down-known")
	_, fresh := s.register(t, tp.Secret, "down-fresh")
	c, err := connect3(t, nc.mqtt[0], "down-known", known.Username, known.Password, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Disconnect(50)
	time.Sleep(200 * time.Millisecond)

	p.Down()
	defer p.Up()
	if _, err := connect3(t, nc.mqtt[0], "down-known", known.Username, known.Password, nil); err != nil {
		t.Errorf("a known device during the outage: %v\n%s", err, s.Logs)
	}
	if _, err := connect3(t, nc.mqtt[0], "down-fresh", fresh.Username, fresh.Password, nil); err == nil {
		t.Error("a device whose first connection cannot be recorded connected during the outage")
	}
	if !strings.Contains(s.Logs.String(), "unavailable") {
		t.Errorf("the refusal does not say the store is unavailable:\n%s", s.Logs)
	}
}

// TestNATSEventsAndLockout: a service account on NATS receives the
// tenant's lifecycle events, among them the connection and disconnection
// of a device on NATS; wrong passwords through the callout lock the
// client's address out; a revoked service account is disconnected.
func TestNATSEventsAndLockout(t *testing.T) {
	dir := t.TempDir()
	nc := startNATS(t, 1, otosNATSBlock(t, dir))
	s := startServer(t, dir, func(c *Config) { c.NATS, c.LockoutThreshold = nc.url(), 3 })
	acct, err := s.Service.Admin.CreateServiceAccount(t.Context(), systemAdmin, "", "events")
	if err != nil {
		t.Fatal(err)
	}
	appClosed := make(chan struct{}, 1)
	app, err := natsgo.Connect(nc.urls[0], natsgo.UserInfo(acct.Username, acct.Password), natsgo.NoReconnect(),
		natsgo.ClosedHandler(func(*natsgo.Conn) { appClosed <- struct{}{} }))
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	events, err := app.SubscribeSync("otos." + otos.DefaultTenantID + ".events.>")
	if err != nil {
		t.Fatal(err)
	}
	app.Flush()
	tp := s.createTemplate(t, nil)
	_, v := s.register(t, tp.Secret, "nats-ev")
	dev, err := connect3(t, nc.mqtt[0], "nats-ev", v.Username, v.Password, nil)
	if err != nil {
		t.Fatal(err)
	}
	dev.Disconnect(50)
	want := []otos.EventType{otos.EventTemplateCreated, otos.EventDeviceRegistered, otos.EventDeviceConnected, otos.EventDeviceDisconnected}
	for _, typ := range want {
		m, err := events.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatalf("waiting for %s: %v", typ, err)
		}
		var e otos.Event
		if err := json.Unmarshal(m.Data, &e); err != nil || e.Type != typ || !strings.HasSuffix(m.Subject, "events."+strings.ReplaceAll(string(typ), ".", "//")) {
			t.Fatalf("got %s %s, want %s", m.Subject, m.Data, typ)
		}
	}

	for range 3 {
		if _, err := connect3(t, nc.mqtt[0], "nats-ev", v.Username, "wrong", nil); err == nil {
			t.Fatal("a wrong password connected")
		}
	}
	if _, err := connect3(t, nc.mqtt[0], "nats-ev", v.Username, v.Password, nil); err == nil {
		t.Fatal("a locked-out address connected with a good voucher")
	}
	if !strings.Contains(s.Logs.String(), string(otos.ELOCKEDOUT)) {
		t.Error("the refusal does not say locked out")
	}

	if _, err := s.Service.Admin.RevokeServiceAccount(t.Context(), systemAdmin, acct.ID); err != nil {
		t.Fatal(err)
	}
	select {
	case <-appClosed:
	case <-time.After(time.Second):
		t.Fatal("a revoked service account stays connected")
	}
}

// TestNATSRotation: through the NATS callout, a rotated voucher's session
// lives on through the overlap and is kicked when the new voucher's first
// connection ends the overlap, the new one staying.
func TestNATSRotation(t *testing.T) {
	dir := t.TempDir()
	nc := startNATS(t, 1, otosNATSBlock(t, dir))
	s := startServer(t, dir, func(c *Config) { c.NATS = nc.url() })
	tp := s.createTemplate(t, map[string]any{"voucher_lifetime_seconds": 86400})
	_, old := s.register(t, tp.Secret, "nats-rot-1")
	first, err := connect3(t, nc.mqtt[0], "nats-rot-1", old.Username, old.Password, nil)
	if err != nil {
		t.Fatal(err)
	}
	status, r := s.rotateHTTP(t, old)
	if status != 200 {
		t.Fatalf("rotation: %d %+v", status, r)
	}
	fresh := r.voucher(t)
	if first.lostWithin(500 * time.Millisecond) {
		t.Fatal("the rotation kicked the old voucher's session")
	}
	second, err := connect3(t, nc.mqtt[0], "nats-rot-1/new", fresh.Username, fresh.Password, nil)
	if err != nil {
		t.Fatalf("new voucher over NATS: %v", err)
	}
	if !first.lostWithin(3 * time.Second) {
		t.Fatal("the old voucher's session outlived the new voucher's first connection")
	}
	if second.lostWithin(500 * time.Millisecond) {
		t.Fatal("the new voucher's session was kicked too")
	}
	if _, err := connect3(t, nc.mqtt[0], "nats-rot-1/old", old.Username, old.Password, nil); err == nil {
		t.Fatal("the old voucher connected after its overlap ended")
	}
}
