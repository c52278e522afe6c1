package main

import (
	"net"
	"strings"
	"testing"
	"time"

	paho3 "github.com/eclipse/paho.mqtt.golang"
	"github.com/otos-iot/otos"
)

// connectFrom connects over MQTT 3.1.1 from local address ip (a loopback
// address of its own: another device on another network).
func connectFrom(t *testing.T, s *testServer, ip, clientID string, v voucher) error {
	t.Helper()
	opts := paho3.NewClientOptions().AddBroker("tcp://" + s.MQTTAddr()).SetClientID(clientID).
		SetUsername(v.Username).SetPassword(v.Password).SetProtocolVersion(4).SetAutoReconnect(false).
		SetConnectTimeout(5 * time.Second).SetDialer(&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}})
	c := paho3.NewClient(opts)
	tok := c.Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		t.Fatal("connect timed out")
	}
	if tok.Error() == nil {
		t.Cleanup(func() { c.Disconnect(0) })
	}
	return tok.Error()
}

// TestCloneDetection: one voucher connecting by turns from two addresses
// (two devices taking the session from each other) is a suspected clone
// after four switches: audited, a device.clone_suspected event, and under a
// template that says so the device disabled and refused.
func TestCloneDetection(t *testing.T) {
	s := startBroker(t, nil)
	for _, action := range []string{"disable", "none"} {
		t.Run(action, func(t *testing.T) {
			tp := s.createTemplate(t, map[string]any{"clone_action": action})
			number := "clone-" + action
			id, v := s.register(t, tp.Secret, number)
			var last error
			for i, ip := range []string{"127.0.0.2", "127.0.0.3", "127.0.0.2", "127.0.0.3", "127.0.0.2"} {
				last = connectFrom(t, s, ip, number, v)
				if i < 4 && last != nil {
					t.Fatalf("connection %d from %s: %v", i+1, ip, last)
				}
			}
			var d otos.Device
			s.admin(t, "GET", "/api/v1/devices/"+id, nil, 200, &d)
			if action == "disable" && (last == nil || d.Status != otos.StatusDisabled) {
				t.Errorf("the fifth switch: %v, status %s; want refused and disabled", last, d.Status)
			}
			if action == "none" && (last != nil || d.Status != otos.StatusEnabled) {
				t.Errorf("under clone_action none: %v, status %s", last, d.Status)
			}
			var page struct {
				Items []otos.Event `json:"items"`
			}
			eventually(t, func() bool {
				s.admin(t, "GET", "/api/v1/events?limit=500", nil, 200, &page)
				for _, e := range page.Items {
					if e.Type == otos.EventCloneSuspected && strings.Contains(string(e.Data), id) {
						return true
					}
				}
				return false
			}, 3*time.Second)
			s.Service.FlushAudit(t.Context())
			var audit struct {
				Items []otos.AuditRecord `json:"items"`
			}
			s.admin(t, "GET", "/api/v1/audit?limit=500", nil, 200, &audit)
			found := false
			for _, a := range audit.Items {
				found = found || a.Action == "device.clone_suspected" && a.DeviceNumber == number
			}
			if !found {
				t.Error("the suspected clone is not in the audit")
			}
		})
	}
}
