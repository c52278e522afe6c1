package nats

import "testing"

func TestSubject(t *testing.T) {
	for topic, want := range map[string]string{
		"devices/telemetry":           "devices.telemetry",
		"devices/command/dev.1/+":     "devices.command.dev//1.*",
		"otos/t1/#":                   "otos.t1.>",
		"otos/t1/events/device.reset": "otos.t1.events.device//reset",
	} {
		got, ok := Subject(topic)
		if !ok || got != want {
			t.Errorf("Subject(%q) = %q, %v; want %q", topic, got, ok, want)
		}
		if want == got && !containsWildcard(topic) && Topic(got) != topic {
			t.Errorf("Topic(%q) = %q, want %q", got, Topic(got), topic)
		}
	}
	// What NATS would read as a wildcard, or cannot carry, is refused:
	// a device numbered "*" must not be granted every device's commands.
	for _, topic := range []string{"", "devices/command/*/+", "devices/command/>/+", "a//b", "/a", "a/",
		"a b/c", "a/#/b", "a/b+/c", "dev*1/x", "a\x7f"} {
		if got, ok := Subject(topic); ok {
			t.Errorf("Subject(%q) = %q, want refused", topic, got)
		}
	}
}

func containsWildcard(t string) bool {
	for _, c := range t {
		if c == '+' || c == '#' {
			return true
		}
	}
	return false
}
