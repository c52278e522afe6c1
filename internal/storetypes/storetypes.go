// Package storetypes holds the stored forms that both stores share: a
// webhook's event types and a gateway template's sub-device templates, each
// as one column.
package storetypes

import (
	"strings"

	"github.com/otos-iot/otos"
)

// Join is how a list of event types is stored: comma-separated, empty for
// every type.
func Join(ts []otos.EventType) string { return JoinList(ts) }

// Split reads what Join stored.
func Split(s string) []otos.EventType { return SplitList[otos.EventType](s) }

// JoinList is how a list of names without commas is stored: comma-separated.
func JoinList[T ~string](ts []T) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = string(t)
	}
	return strings.Join(s, ",")
}

// SplitList reads what JoinList stored; never nil.
func SplitList[T ~string](s string) []T {
	out := []T{}
	for _, t := range strings.Split(s, ",") {
		if t != "" {
			out = append(out, T(t))
		}
	}
	return out
}
