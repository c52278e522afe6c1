package main

import (
	"strings"
	"testing"

	"github.com/otos-iot/otos"
)

// TestConnectRefusalsAudited: a broker CONNECT that otos refuses (a wrong
// password, an unknown username, a disabled device) is in the audit with
// the client's address and the device when its voucher is known, never the
// username (an ACCESSTOKEN voucher's username is its secret).
func TestConnectRefusalsAudited(t *testing.T) {
	s := startBroker(t, nil)
	tp := s.createTemplate(t, nil)
	id, v := s.register(t, tp.Secret, "audited-1")
	url := "tcp://" + s.MQTTAddr()
	if _, err := connect3(t, url, "audited-1", v.Username, "wrong", nil); err == nil {
		t.Fatal("a wrong password connected")
	}
	if _, err := connect3(t, url, "x", "no-such-user", "x", nil); err == nil {
		t.Fatal("an unknown username connected")
	}
	s.admin(t, "POST", "/api/v1/devices/"+id+"/disable", nil, 200, nil)
	if _, err := connect3(t, url, "audited-1", v.Username, v.Password, nil); err == nil {
		t.Fatal("a disabled device connected")
	}
	s.Service.FlushAudit(t.Context())
	var audit struct {
		Items []otos.AuditRecord `json:"items"`
	}
	s.admin(t, "GET", "/api/v1/audit?limit=200", nil, 200, &audit)
	got := map[int][]string{}
	for _, a := range audit.Items {
		if a.Kind == otos.AuditSession {
			got[a.Code] = append(got[a.Code], a.DeviceNumber+"@"+a.ClientAddr)
		}
	}
	if strings.Join(got[100004], ",") != "@127.0.0.1,audited-1@127.0.0.1" && strings.Join(got[100004], ",") != "audited-1@127.0.0.1,@127.0.0.1" {
		t.Errorf("refused for bad credentials: %v", got[100004])
	}
	if strings.Join(got[100005], ",") != "audited-1@127.0.0.1" {
		t.Errorf("refused as disabled: %v", got[100005])
	}
	_, body := do(t, "GET", s.URL+"/api/v1/audit?limit=200", "", "Authorization", "Bearer "+s.Token)
	if strings.Contains(string(body), v.Username) || strings.Contains(string(body), v.Password) {
		t.Error("the audit holds the voucher")
	}
}
