package otos

import "net/netip"

// Client is who sent a request, as far as a protocol adapter can tell: the
// core audits its address and applies the lock-out to its key.
type Client struct {
	Addr string // the client's address, for the log and the audit
	Key  string // what the lock-out counts: the address, or an IPv6 address's /64
}

// ClientAt returns the client at address a. One IPv6 host commonly holds a
// whole /64, so its key is the /64: rotating addresses within it must not
// escape the lock-out.
func ClientAt(a netip.Addr) Client {
	a = a.Unmap().WithZone("")
	c := Client{Addr: a.String(), Key: a.String()}
	if a.Is6() {
		c.Key = netip.PrefixFrom(a, 64).Masked().String()
	}
	return c
}

// ClientOfRemote returns the client at a connection's remote address
// ("host:port"). One that is not an IP address (a test's pipe, a Unix
// socket) is its own key: all such clients are one.
func ClientOfRemote(remote string) Client {
	if ap, err := netip.ParseAddrPort(remote); err == nil {
		return ClientAt(ap.Addr())
	}
	return Client{Addr: remote, Key: remote}
}
