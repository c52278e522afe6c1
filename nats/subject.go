package nats

import "strings"

// Subject returns the NATS subject of MQTT topic or filter t, the way
// nats-server maps the topics of its MQTT clients: "/" separates tokens,
// "." becomes "//", "+" and "#" become "*" and ">". It reports false for
// what such a client cannot use: empty levels, white space, DEL, and a
// level that holds "*" or ">" among other characters, or alone where it is
// not a wildcard in t, since NATS would read it as one.
func Subject(t string) (string, bool) {
	if t == "" {
		return "", false
	}
	levels := strings.Split(t, "/")
	for i, l := range levels {
		switch {
		case l == "", strings.ContainsAny(l, " \t\n\r\f\x7f*>"):
			return "", false
		case l == "+":
			levels[i] = "*"
		case l == "#" && i == len(levels)-1:
			levels[i] = ">"
		case strings.ContainsAny(l, "+#"):
			return "", false
		default:
			levels[i] = strings.ReplaceAll(l, ".", "//")
		}
	}
	return strings.Join(levels, "."), true
}

// Topic returns the MQTT topic of NATS subject s, the inverse of Subject.
func Topic(s string) string {
	tokens := strings.Split(s, ".")
	for i, tok := range tokens {
		tokens[i] = strings.ReplaceAll(tok, "//", ".")
	}
	return strings.Join(tokens, "/")
}
