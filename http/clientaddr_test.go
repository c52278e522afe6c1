package http

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

func TestParseTrustedProxies(t *testing.T) {
	cases := []struct {
		name, in, want string // want: the prefixes, comma-separated
		fail           bool
	}{
		{"ok/empty", "", "", false},
		{"ok/one-ip", "127.0.0.1", "127.0.0.1/32", false},
		{"ok/list", " 10.0.0.0/8 , 192.168.1.7,::1 ", "10.0.0.0/8,192.168.1.7/32,::1/128", false},
		{"ok/masked", "10.1.2.3/8", "10.0.0.0/8", false},
		{"ok/mapped", "::ffff:10.0.0.1,::ffff:10.0.0.0/104", "10.0.0.1/32,10.0.0.0/8", false},
		{"ok/v6-prefix", "2001:db8::/32", "2001:db8::/32", false},
		{"fail/name", "proxy.local", "", true},
		{"fail/bits", "10.0.0.0/33", "", true},
		{"fail/port", "10.0.0.1:80", "", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ps, err := ParseTrustedProxies(c.in)
			if (err != nil) != c.fail {
				t.Fatalf("err = %v, want failure %v", err, c.fail)
			}
			var got []string
			for _, p := range ps {
				got = append(got, p.String())
			}
			if strings.Join(got, ",") != c.want {
				t.Fatalf("got %v, want %s", got, c.want)
			}
		})
	}
}

func TestClientAddr(t *testing.T) {
	proxies, err := ParseTrustedProxies("10.0.0.0/8, 127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, remote string
		xff          []string
		trusted      []netip.Prefix
		want         string
	}{
		{"peer/no-header", "198.51.100.7:4000", nil, proxies, "198.51.100.7"},
		{"peer/spoof-without-trusted-proxies", "127.0.0.1:4000", []string{"203.0.113.9"}, nil, "127.0.0.1"},
		{"peer/spoof-from-untrusted-peer", "198.51.100.7:4000", []string{"203.0.113.9"}, proxies, "198.51.100.7"},
		{"xff/one-hop", "127.0.0.1:4000", []string{"203.0.113.9"}, proxies, "203.0.113.9"},
		{"xff/right-most-untrusted", "10.0.0.2:4000", []string{"1.1.1.1, 203.0.113.9, 10.0.0.5"}, proxies, "203.0.113.9"},
		{"xff/client-prepends-lies", "10.0.0.2:4000", []string{"10.9.9.9, 203.0.113.9"}, proxies, "203.0.113.9"},
		{"xff/several-headers", "10.0.0.2:4000", []string{"1.1.1.1", "203.0.113.9, 10.0.0.5"}, proxies, "203.0.113.9"},
		{"xff/spans-headers", "10.0.0.2:4000", []string{"203.0.113.9", "10.0.0.5"}, proxies, "203.0.113.9"},
		{"xff/with-port", "10.0.0.2:4000", []string{"203.0.113.9:5555"}, proxies, "203.0.113.9"},
		{"xff/v6-with-port", "10.0.0.2:4000", []string{"[2001:db8::1]:5555"}, proxies, "2001:db8::1"},
		{"xff/mapped", "10.0.0.2:4000", []string{"::ffff:203.0.113.9"}, proxies, "203.0.113.9"},
		{"xff/garbage-stops-at-proxy", "10.0.0.2:4000", []string{"203.0.113.9, garbage, 10.0.0.5"}, proxies, "10.0.0.5"},
		{"xff/empty-hop", "10.0.0.2:4000", []string{"203.0.113.9,"}, proxies, "10.0.0.2"},
		{"xff/all-trusted", "10.0.0.2:4000", []string{"10.0.0.7, 10.0.0.5"}, proxies, "10.0.0.7"},
		{"xff/empty-header", "127.0.0.1:4000", []string{""}, proxies, "127.0.0.1"},
		{"peer/mapped", "[::ffff:198.51.100.7]:4000", nil, proxies, "198.51.100.7"},
		{"peer/v6-zone", "[fe80::1%eth0]:4000", nil, proxies, "fe80::1"},
		{"peer/not-ip", "@", nil, proxies, "invalid IP"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/", nil)
			r.RemoteAddr = c.remote
			for _, v := range c.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := clientAddr(r, c.trusted).String(); got != c.want {
				t.Fatalf("clientAddr = %s, want %s", got, c.want)
			}
		})
	}
}

func TestClientKey(t *testing.T) {
	s := &Server{}
	cases := []struct{ remote, addr, key string }{
		{"198.51.100.7:1", "198.51.100.7", "198.51.100.7"},
		{"[2001:db8:1:2:aaaa::1]:1", "2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2:bbbb::9]:1", "2001:db8:1:2:bbbb::9", "2001:db8:1:2::/64"},
		{"pipe", "pipe", "pipe"},
	}
	for _, c := range cases {
		r := &http.Request{RemoteAddr: c.remote, Header: http.Header{}}
		if got := s.clientOf(r); got.Addr != c.addr || got.Key != c.key {
			t.Errorf("clientOf(%s) = %+v, want %s, %s", c.remote, got, c.addr, c.key)
		}
	}
}

// FuzzClientAddr feeds arbitrary X-Forwarded-For headers through a trusted
// proxy: the answer is the peer or one of the header's hops, never a panic.
func FuzzClientAddr(f *testing.F) {
	for _, s := range []string{"", "203.0.113.9", "1.1.1.1, 10.0.0.5", "[::1]:80, x", ",,,", "::ffff:1.2.3.4%eth0"} {
		f.Add(s)
	}
	proxies, _ := ParseTrustedProxies("10.0.0.0/8")
	f.Fuzz(func(t *testing.T, xff string) {
		r := &http.Request{RemoteAddr: "10.0.0.2:4000", Header: http.Header{"X-Forwarded-For": {xff}}}
		a := clientAddr(r, proxies)
		if !a.IsValid() {
			t.Fatalf("invalid address for %q", xff)
		}
		if a == netip.MustParseAddr("10.0.0.2") {
			return
		}
		for _, hop := range strings.Split(xff, ",") {
			if h, ok := parseHop(strings.TrimSpace(hop)); ok && h == a {
				return
			}
		}
		t.Fatalf("address %s is neither the peer nor a hop of %q", a, xff)
	})
}
