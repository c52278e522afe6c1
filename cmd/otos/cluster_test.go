package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otos-iot/otos"
	"github.com/otos-iot/otos/postgres/pgtest"
)

// startNodes starts n otos nodes at once on the PostgreSQL database dsn,
// each with a data directory of its own, a free HTTP port and a broker on a
// free port, after edit changes each one's configuration.
func startNodes(t *testing.T, dsn string, n int, edit func(*Config)) []*testServer {
	t.Helper()
	nodes := make([]*testServer, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range nodes {
		m := NewMain()
		logs := &syncBuffer{}
		m.LogOutput = logs
		m.Config.Data = t.TempDir()
		m.Config.HTTP, m.Config.MQTT = "127.0.0.1:0", "127.0.0.1:0"
		m.Config.DB = dsn
		m.Config.LogLevel = "debug"
		if edit != nil {
			edit(&m.Config)
		}
		nodes[i] = &testServer{Main: m, Logs: logs}
		wg.Go(func() { errs[i] = m.Open(context.Background()) })
	}
	wg.Wait()
	for i, s := range nodes {
		t.Cleanup(func() { s.Close() })
		if errs[i] != nil {
			t.Fatalf("node %d: %v\n%s", i, errs[i], s.Logs)
		}
		s.URL, s.Token = s.HTTP.URL(), string(s.Config.AdminToken)
		if s.Token == "" {
			b, err := os.ReadFile(filepath.Join(s.Config.Data, "admin.token"))
			if err != nil {
				t.Fatalf("node %d: read admin token: %v", i, err)
			}
			s.Token = strings.TrimSpace(string(b))
		}
	}
	return nodes
}

func TestClusterNodesActAsOne(t *testing.T) {
	// Two nodes started at once on an empty database: both come up.
	nodes := startNodes(t, pgtest.Schema(t), 2, nil)
	a, b := nodes[0], nodes[1]

	t.Run("tokens", func(t *testing.T) {
		// Each node wrote its own token, and neither revoked the other's:
		// any node verifies any token.
		if a.Token == b.Token {
			t.Fatal("the nodes wrote the same admin token")
		}
		for _, s := range nodes {
			for _, token := range []string{a.Token, b.Token} {
				if res, body := do(t, "GET", s.URL+"/api/v1/templates", "", "Authorization", "Bearer "+token); res.StatusCode != 200 {
					t.Errorf("a node's token on %s: %d %s", s.URL, res.StatusCode, body)
				}
			}
		}
	})

	tp := a.createTemplate(t, nil)
	t.Run("register-through-the-other-node", func(t *testing.T) {
		// The server key is shared: B recognises A's template secret.
		id, v := b.register(t, tp.Secret, "cluster-1")
		if _, err := connect3(t, "tcp://"+a.MQTTAddr(), "c-1", v.Username, v.Password, nil); err != nil {
			t.Fatalf("B's voucher on A's broker: %v", err)
		}
		var d otos.Device
		a.admin(t, "GET", "/api/v1/devices/"+id, nil, 200, &d)
		if d.DeviceNumber != "cluster-1" {
			t.Errorf("A sees device %+v", d)
		}
	})

	for _, action := range []string{"disable", "reset", "delete"} {
		t.Run("drop/"+action, func(t *testing.T) {
			// A device connected to B's broker; an operator acts through A.
			number := "cluster-drop-" + action
			id, v := a.register(t, tp.Secret, number)
			c3, err := connect3(t, "tcp://"+b.MQTTAddr(), "d3-"+action, v.Username, v.Password, nil)
			if err != nil {
				t.Fatal(err)
			}
			c5 := connect5(t, b.MQTTAddr(), "d5-"+action, v.Username, v.Password)
			start := time.Now()
			if action == "delete" {
				a.admin(t, "DELETE", "/api/v1/devices/"+id, nil, 204, nil)
			} else {
				a.admin(t, "POST", "/api/v1/devices/"+id+"/"+action, nil, 200, nil)
			}
			select {
			case <-c3.lost:
			case <-time.After(time.Second):
				t.Errorf("B's 3.1.1 session still up 1s after %s on A", action)
			}
			select {
			case d := <-c5.dropped:
				if d.ReasonCode != 0x87 {
					t.Errorf("DISCONNECT reason %#x, want 0x87", d.ReasonCode)
				}
			case <-time.After(time.Second - time.Since(start)):
				t.Errorf("B's MQTT 5 session still up 1s after %s on A", action)
			}
			// B's voucher cache forgot it too.
			if _, err := connect3(t, "tcp://"+b.MQTTAddr(), "again-"+action, v.Username, v.Password, nil); err == nil {
				t.Errorf("the voucher still opens B's broker after %s on A", action)
			}
		})
	}

	t.Run("enable-reaches-the-other-cache", func(t *testing.T) {
		id, v := a.register(t, tp.Secret, "cluster-enable")
		a.admin(t, "POST", "/api/v1/devices/"+id+"/disable", nil, 200, nil)
		eventually(t, func() bool {
			_, err := connect3(t, "tcp://"+b.MQTTAddr(), "en-1", v.Username, v.Password, nil)
			return err != nil
		})
		// B now caches the device as disabled; enabling it on A must reach B.
		a.admin(t, "POST", "/api/v1/devices/"+id+"/enable", nil, 200, nil)
		eventually(t, func() bool {
			c, err := connect3(t, "tcp://"+b.MQTTAddr(), "en-2", v.Username, v.Password, nil)
			if err == nil {
				c.Disconnect(0)
			}
			return err == nil
		})
	})

	t.Run("race-creates-one-device", func(t *testing.T) {
		// The same new device registers through both nodes at once.
		for i := range 10 {
			number := fmt.Sprintf("cluster-race-%d", i)
			ids := make([]string, len(nodes))
			var wg sync.WaitGroup
			for j, s := range nodes {
				wg.Go(func() {
					status, env := s.auth(t, map[string]string{"template_secret": tp.Secret, "device_number": number})
					if status == http.StatusOK && env.Data != nil {
						ids[j] = env.Data.DeviceID
					} else if env.Code != 200082 {
						t.Errorf("node %d: %d %+v", j, status, env)
					}
				})
			}
			wg.Wait()
			items, _, err := a.Store.Devices(t.Context(), otos.DeviceFilter{DeviceNumber: number})
			if err != nil || len(items) != 1 {
				t.Fatalf("%s: %d devices (%v), want 1", number, len(items), err)
			}
			for j, id := range ids {
				if id != "" && id != items[0].ID {
					t.Errorf("%s: node %d answered device %s, stored %s", number, j, id, items[0].ID)
				}
			}
		}
	})
}

func TestClusterSharedAdminToken(t *testing.T) {
	// OTOS_ADMIN_TOKEN, one value on every node, works on every node.
	const token = "cluster-wide-admin-token-0123456789"
	nodes := startNodes(t, pgtest.Schema(t), 2, func(c *Config) { c.AdminToken = token })
	tp := nodes[0].createTemplate(t, nil)
	var got template
	nodes[1].admin(t, "GET", "/api/v1/templates/"+tp.ID, nil, 200, &got)
	if got.ID != tp.ID {
		t.Errorf("node 1 sees template %+v", got)
	}
}

// eventually fails the test unless cond holds within limit (2 s by
// default).
func eventually(t *testing.T, cond func() bool, limit ...time.Duration) {
	t.Helper()
	d := 2 * time.Second
	if len(limit) > 0 {
		d = limit[0]
	}
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestClusterOutage(t *testing.T) {
	// A node whose database goes away answers 503 quickly, reports not
	// ready, and recovers by itself; nothing acknowledged is lost.
	dsn := pgtest.Schema(t)
	p := pgtest.NewProxy(t, pgtest.Addr(t, dsn))
	s := startNodes(t, pgtest.WithHostPort(t, dsn, p.Addr()), 1, func(c *Config) { c.DBTimeout = time.Second })[0]
	tp := s.createTemplate(t, nil)
	before, _ := s.register(t, tp.Secret, "outage-before")

	ready := func() int {
		res, _ := do(t, "GET", s.URL+"/readyz", "")
		return res.StatusCode
	}
	for _, mode := range []string{"down", "stalled"} {
		t.Run(mode, func(t *testing.T) {
			if mode == "down" {
				p.Down()
			} else {
				p.Stall()
			}
			start := time.Now()
			status, env := s.auth(t, map[string]string{"template_secret": tp.Secret, "device_number": "outage-" + mode})
			if took := time.Since(start); took > 3*time.Second {
				t.Errorf("the answer took %v", took)
			}
			if status != http.StatusServiceUnavailable || env.Code != 100003 || env.Message == "" {
				t.Errorf("during the outage: %d %+v, want 503 with code 100003 and a message", status, env)
			}
			if got := ready(); got != http.StatusServiceUnavailable {
				t.Errorf("/readyz during the outage: %d, want 503", got)
			}
			p.Up()
			eventually(t, func() bool { return ready() == http.StatusOK }, 10*time.Second)
			s.register(t, tp.Secret, "outage-after-"+mode)
		})
	}
	if _, err := s.Store.Device(t.Context(), before); err != nil {
		t.Errorf("the device registered before the outage: %v", err)
	}
}

// TestClusterWebhookOnce: two nodes on one database deliver each event to a
// webhook once, not once per node, whichever node made the change.
func TestClusterWebhookOnce(t *testing.T) {
	nodes := startNodes(t, pgtest.Schema(t), 2, quickWebhooks)
	rcv := newReceiver(t)
	rcv.createWebhook(t, nodes[0], "device.registered", "device.disabled")
	tp := nodes[1].createTemplate(t, nil)
	const devices = 60
	for i := range devices {
		id, _ := nodes[i%2].register(t, tp.Secret, fmt.Sprintf("once-%d", i))
		if i%10 == 0 {
			nodes[(i+1)%2].admin(t, "POST", "/api/v1/devices/"+id+"/disable", nil, http.StatusOK, nil)
		}
	}
	rcv.waitFor(devices+devices/10, 15*time.Second)
	time.Sleep(time.Second) // a second delivery, if any, would arrive meanwhile
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	for id, n := range rcv.seen {
		if n != 1 {
			t.Errorf("event %s delivered %d times", id, n)
		}
	}
	if len(rcv.events) != devices+devices/10 || rcv.bad != 0 {
		t.Errorf("%d events (%d badly signed), want %d", len(rcv.events), rcv.bad, devices+devices/10)
	}
	for n, order := range rcv.order {
		if len(order) == 2 && order[0] != "device.registered" {
			t.Errorf("%s: %v, out of order", n, order)
		}
	}
}
