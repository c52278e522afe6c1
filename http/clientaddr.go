package http

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"

	"github.com/otos-iot/otos"
)

// ParseTrustedProxies parses the list that --trusted-proxies takes: IP
// addresses and CIDR prefixes separated by commas. An empty list trusts no
// proxy, and then X-Forwarded-For is never believed.
func ParseTrustedProxies(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		p, err := parseProxy(f)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q is not an IP address or CIDR prefix", f)
		}
		out = append(out, p)
	}
	return out, nil
}

// parseProxy parses one address or prefix, IPv4-mapped IPv6 as IPv4.
func parseProxy(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		a = canonical(a)
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p.Masked(), nil
}

// clientOf returns the client of r: its address, behind trusted proxies.
func (s *Server) clientOf(r *http.Request) otos.Client { return ClientOf(r, s.cfg.TrustedProxies) }

// ClientOf returns the client of r, believing X-Forwarded-For only from the
// trusted proxies (see clientAddr): for other adapters on the HTTP port.
func ClientOf(r *http.Request, trusted []netip.Prefix) otos.Client {
	a := clientAddr(r, trusted)
	if !a.IsValid() {
		// Not an IP connection (a test's or a Unix socket's).
		return otos.ClientOfRemote(r.RemoteAddr)
	}
	return otos.ClientAt(a)
}

// clientAddr returns the address of r's client: the connection's peer, or,
// when the peer is a trusted proxy, the address that X-Forwarded-For gives
// for the client (see forwardedFor). The header is never believed from any
// other peer: a client would name whatever address suits it. The zero Addr
// means that the peer is not an IP address.
func clientAddr(r *http.Request, trusted []netip.Prefix) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	peer := canonical(ap.Addr())
	if !isTrusted(peer, trusted) {
		return peer
	}
	return forwardedFor(r.Header.Values("X-Forwarded-For"), peer, trusted)
}

// forwardedFor walks the X-Forwarded-For hops from the right, starting at
// peer, a trusted proxy. Each hop was appended by the proxy to its right, so
// a hop is believed as long as every proxy to its right is trusted: the first
// hop that is not a trusted proxy is the client. A hop that does not parse
// ends the walk at the last trusted address, which then counts as the client:
// whatever its left, a client may have written it. So does a header that
// names only trusted proxies, or none.
func forwardedFor(values []string, peer netip.Addr, trusted []netip.Prefix) netip.Addr {
	last := peer
	for i := len(values) - 1; i >= 0; i-- {
		rest := values[i]
		for {
			hop := rest
			j := strings.LastIndexByte(rest, ',')
			if j >= 0 {
				hop, rest = rest[j+1:], rest[:j]
			}
			a, ok := parseHop(strings.TrimSpace(hop))
			switch {
			case !ok:
				return last
			case !isTrusted(a, trusted):
				return a
			}
			last = a
			if j < 0 {
				break
			}
		}
	}
	return last
}

// parseHop parses one X-Forwarded-For hop: an address, with a port or not.
func parseHop(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return canonical(a), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return canonical(ap.Addr()), true
	}
	return netip.Addr{}, false
}

// canonical is a with IPv4-mapped IPv6 as IPv4 and without a zone.
func canonical(a netip.Addr) netip.Addr {
	return a.Unmap().WithZone("")
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// OverTLS reports whether the client reached otos over TLS: r came over TLS
// itself, or from a trusted proxy that says so in X-Forwarded-Proto.
func OverTLS(r *http.Request, trusted []netip.Prefix) bool {
	if r.TLS != nil {
		return true
	}
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil || !isTrusted(canonical(ap.Addr()), trusted) {
		return false
	}
	return strings.EqualFold(strings.TrimSpace(r.Header.Get("X-Forwarded-Proto")), "https")
}
