// Package storetypes holds the stored forms that both stores share: a
// webhook's event types as one column.
package storetypes

import (
	"strings"

	"github.com/otos-iot/otos"
)

// Join is how a list of event types is stored: comma-separated, empty for
// every type.
func Join(ts []otos.EventType) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = string(t)
	}
	return strings.Join(s, ",")
}

// Split reads what Join stored.
func Split(s string) []otos.EventType {
	out := []otos.EventType{}
	for _, t := range strings.Split(s, ",") {
		if t != "" {
			out = append(out, otos.EventType(t))
		}
	}
	return out
}
