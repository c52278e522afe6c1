package otos

import (
	"net/netip"
	"strings"
	"testing"
)

func TestPublicAddr(t *testing.T) {
	for addr, want := range map[string]bool{
		"93.184.216.34": true, "2606:2800:220:1:248:1893:25c8:1946": true,
		"127.0.0.1": false, "::1": false, "10.1.2.3": false, "172.16.0.1": false, "192.168.1.1": false,
		"169.254.169.254": false, "fe80::1": false, "100.64.0.1": false, "fd00::1": false, "0.0.0.0": false,
		"::": false, "224.0.0.1": false, "::ffff:127.0.0.1": false, "::ffff:10.0.0.1": false, "255.255.255.255": false,
		// Reserved IPv4 ranges.
		"240.0.0.1": false, "198.18.0.1": false, "198.19.255.254": false, "192.0.0.8": false, "192.0.2.1": false,
		"198.51.100.7": false, "203.0.113.9": false, "192.88.99.1": false, "100.127.255.254": false, "0.1.2.3": false,
		"239.255.255.250": false, "100.128.0.1": true, "198.20.0.1": true,
		// IPv6 that leads to IPv4: judged by the IPv4 address.
		"64:ff9b::7f00:1": false, "64:ff9b::a9fe:a9fe": false, "64:ff9b::a00:1": false, "64:ff9b::5db8:d822": true,
		"2002:7f00:1::1": false, "2002:c0a8:101::": false, "2002:5db8:d822::1": true,
		"::127.0.0.1": false, "::10.0.0.1": false, "::93.184.216.34": true, "::ffff:93.184.216.34": true,
		// Other IPv6 special-purpose ranges.
		"64:ff9b:1::a00:1": false, "2001:0:4136:e378:8000:63bf:3fff:fdd2": false, "2001:db8::1": false,
		"2001:2::1": false, "100::1": false, "3fff::1": false, "5f00::1": false, "fec0::1": false,
		"ff02::1": false, "::ffff:0:a00:1": false, "fe80::1%eth0": false,
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

// TestWebhookBatchID: a batch's id stands for all its events, in order.
func TestWebhookBatchID(t *testing.T) {
	a, b, c := &Event{ID: "a"}, &Event{ID: "b"}, &Event{ID: "c"}
	id := WebhookBatchID([]*Event{a, b})
	if !strings.HasPrefix(id, "batch_") || len(id) != len("batch_")+32 || id != WebhookBatchID([]*Event{{ID: "a"}, {ID: "b"}}) {
		t.Fatalf("batch id %q", id)
	}
	for _, other := range [][]*Event{{a}, {a, b, c}, {b, a}, {{ID: "ab"}}} {
		if WebhookBatchID(other) == id {
			t.Errorf("the batch of %d events has the id of another", len(other))
		}
	}
}
