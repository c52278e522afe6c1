package otos

import (
	"net/netip"
	"testing"
)

func TestPublicAddr(t *testing.T) {
	for addr, want := range map[string]bool{
		"93.184.216.34": true, "2606:2800:220:1:248:1893:25c8:1946": true,
		"127.0.0.1": false, "::1": false, "10.1.2.3": false, "172.16.0.1": false, "192.168.1.1": false,
		"169.254.169.254": false, "fe80::1": false, "100.64.0.1": false, "fd00::1": false, "0.0.0.0": false,
		"::": false, "224.0.0.1": false, "::ffff:127.0.0.1": false, "::ffff:10.0.0.1": false, "255.255.255.255": false,
	} {
		if got := PublicAddr(netip.MustParseAddr(addr)); got != want {
			t.Errorf("PublicAddr(%s) = %v, want %v", addr, got, want)
		}
	}
}

func TestWebhookValidate(t *testing.T) {
	for _, c := range []struct {
		url, field string
		private    bool
	}{
		{"https://example.com/hook", "", false},
		{"http://10.0.0.5:8080/hook", "", true},
		{"http://10.0.0.5:8080/hook", "url", false},
		{"http://[::ffff:127.0.0.1]/hook", "url", false},
		{"http://user:pw@example.com/", "url", false},
		{"https://example.com/#frag", "url", false},
		{"gopher://example.com/", "url", false},
		{"/relative", "url", false},
		{"", "url", false},
	} {
		w := &Webhook{URL: c.url, BatchSize: 1}
		if got := ErrorField(w.Validate(c.private)); got != c.field {
			t.Errorf("%q (private %v): field %q, want %q", c.url, c.private, got, c.field)
		}
	}
	w := &Webhook{URL: "https://example.com/", BatchSize: 1, Types: []EventType{EventDeviceRegistered, "nope"}}
	if ErrorField(w.Validate(false)) != "types" {
		t.Error("an unknown event type passed")
	}
	w = &Webhook{URL: "https://example.com/", BatchSize: 0}
	if ErrorField(w.Validate(false)) != "batch_size" {
		t.Error("batch_size 0 passed")
	}
}
