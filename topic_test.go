package otos

import (
	"slices"
	"testing"
)

func TestDeviceACL(t *testing.T) {
	direct := &Session{TenantID: "t1", DeviceID: "d1", DeviceNumber: "AA01", DeviceType: DeviceDirect}
	gw := &Session{TenantID: "t1", DeviceID: "d2", DeviceNumber: "GW01", DeviceType: DeviceGateway}
	unsafe := &Session{TenantID: "t1", DeviceID: "d3", DeviceNumber: "a/+", DeviceType: DeviceDirect}
	cases := []struct {
		name    string
		s       *Session
		topic   string
		publish bool
		want    bool
	}{
		{"pub/telemetry", direct, "devices/telemetry", true, true},
		{"pub/attributes", direct, "devices/attributes/42", true, true},
		{"pub/event", direct, "devices/event/42", true, true},
		{"pub/command-response", direct, "devices/command/response/7", true, true},
		{"pub/fail/other-downlink", direct, "devices/command/BB02/1", true, false},
		{"pub/fail/own-downlink", direct, "devices/command/AA01/1", true, false},
		{"pub/fail/consumer-topic", direct, "otos/t1/AA01/devices/telemetry", true, false},
		{"pub/fail/gateway-topic-for-direct", direct, "gateway/telemetry", true, false},
		{"pub/fail/deeper", direct, "devices/telemetry/x", true, false},
		{"pub/fail/empty-level", direct, "devices/attributes/", true, false},
		{"pub/gateway", gw, "gateway/telemetry", true, true},
		{"pub/gateway-own", gw, "devices/telemetry", true, true},
		{"sub/control", direct, "devices/telemetry/control/AA01", false, true},
		{"sub/attributes-set", direct, "devices/attributes/set/AA01/+", false, true},
		{"sub/command", direct, "devices/command/AA01/+", false, true},
		{"sub/command-concrete", direct, "devices/command/AA01/9", false, true},
		{"sub/fail/other-device", direct, "devices/command/BB02/+", false, false},
		{"sub/fail/wildcard-device", direct, "devices/command/+/+", false, false},
		{"sub/fail/hash", direct, "devices/#", false, false},
		{"sub/fail/all", direct, "#", false, false},
		{"sub/fail/hash-level", direct, "devices/command/AA01/#", false, false},
		{"sub/fail/telemetry", direct, "devices/telemetry", false, false},
		{"sub/fail/sys", direct, "$SYS/#", false, false},
		{"sub/gateway", gw, "gateway/command/GW01/+", false, true},
		{"sub/fail/gateway-for-direct", direct, "gateway/command/AA01/+", false, false},
		{"unsafe-number/pub", unsafe, "devices/telemetry", true, false},
		{"unsafe-number/sub", unsafe, "devices/command/a/+/+", false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got bool
			if c.publish {
				got = IsUplink(c.s, c.topic)
			} else {
				got = IsOwnDownlink(c.s, c.topic)
			}
			if got != c.want {
				t.Errorf("%q: got %v, want %v", c.topic, got, c.want)
			}
		})
	}
}

func TestDownlinkNumber(t *testing.T) {
	for topic, want := range map[string]string{
		"devices/telemetry/control/AA01": "AA01",
		"devices/command/AA01/7":         "AA01",
		"devices/attributes/set/AA01/1":  "AA01",
		"gateway/command/GW01/1":         "GW01",
		"devices/command/AA01/+":         "",
		"devices/command/+/1":            "",
		"devices/telemetry":              "",
		"devices/command/AA01":           "",
		"otos/t/AA01/devices/telemetry":  "",
	} {
		got, ok := DownlinkNumber(topic)
		if got != want || ok != (want != "") {
			t.Errorf("DownlinkNumber(%q) = %q, %v; want %q", topic, got, ok, want)
		}
	}
}

func TestConsumerFilter(t *testing.T) {
	for filter, want := range map[string]bool{
		"otos/t1/#":                   true,
		"otos/t1/+/devices/telemetry": true,
		"$share/g/otos/t1/#":          true,
		"otos/t2/#":                   false,
		"otos/+/#":                    false,
		"otos/#":                      false,
		"#":                           false,
		"$share/g/otos/t2/#":          false,
		"$share/otos/t1/#":            false,
		"devices/telemetry":           false,
		"otos/t1":                     false,
	} {
		if got := IsConsumerFilter("t1", filter); got != want {
			t.Errorf("IsConsumerFilter(t1, %q) = %v, want %v", filter, got, want)
		}
	}
}

// FuzzMatch checks that no subject with a wildcard where the pattern has a
// literal level passes, whatever the input.
func FuzzMatch(f *testing.F) {
	f.Add("devices/command/AA01/+", "devices/command/AA01/7")
	f.Add("devices/telemetry", "#")
	f.Fuzz(func(t *testing.T, pattern, subject string) {
		if !match(pattern, subject) {
			return
		}
		p, s := split(pattern), split(subject)
		for i := range p {
			if p[i] != "+" && p[i] != s[i] {
				t.Fatalf("%q matched %q at level %d", subject, pattern, i)
			}
			if p[i] == "+" && (s[i] == "" || containsHash(s[i])) {
				t.Fatalf("%q matched %q with a multi-level wildcard", subject, pattern)
			}
		}
	})
}

func split(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '/' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

func containsHash(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '#' {
			return true
		}
	}
	return false
}

// The device library subscribes to what the broker lets a device subscribe
// to: one table serves both.
func TestDownlinkFilters(t *testing.T) {
	s := &Session{DeviceNumber: "AA01", DeviceType: DeviceDirect}
	fs := DownlinkFilters("AA01")
	if len(fs) != 4 || !slices.Contains(fs, "devices/command/AA01/+") {
		t.Fatalf("DownlinkFilters = %v", fs)
	}
	for _, f := range fs {
		if !IsOwnDownlink(s, f) {
			t.Errorf("%s is refused to the device it names", f)
		}
	}
}
