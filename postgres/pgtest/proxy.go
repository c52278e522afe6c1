package pgtest

import (
	"net"
	"sync"
	"testing"
)

// Proxy is a TCP proxy between a store and the database, for outage tests:
// Down cuts every connection and turns new ones away, Stall holds every
// connection open but carries nothing (a network that drops packets), Up
// carries traffic again.
type Proxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	state proxyState
	conns map[net.Conn]struct{}
	wake  chan struct{} // closed when the state leaves stalled
}

type proxyState int

const (
	proxyUp proxyState = iota
	proxyDown
	proxyStalled
)

// NewProxy starts a proxy to target (host:port) on a free local port, and
// stops it when the test ends.
func NewProxy(tb testing.TB, target string) *Proxy {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &Proxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}, wake: make(chan struct{})}
	go p.serve()
	tb.Cleanup(func() {
		ln.Close()
		p.Down()
	})
	return p
}

// Addr returns the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Up lets traffic through again; connections held by Stall are cut.
func (p *Proxy) Up() { p.set(proxyUp) }

// Down cuts every connection, and closes new ones at once.
func (p *Proxy) Down() { p.set(proxyDown) }

// Stall holds every connection, old and new, open without carrying a byte.
func (p *Proxy) Stall() { p.set(proxyStalled) }

func (p *Proxy) set(s proxyState) {
	p.mu.Lock()
	defer p.mu.Unlock()
	old := p.state
	p.state = s
	if old == proxyStalled && s != proxyStalled {
		close(p.wake)
		p.wake = make(chan struct{})
	}
	if s == proxyDown || old == proxyStalled && s == proxyUp {
		for c := range p.conns {
			c.Close()
		}
		clear(p.conns)
	}
}

func (p *Proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		state := p.state
		if state != proxyDown {
			p.conns[c] = struct{}{}
		}
		p.mu.Unlock()
		if state == proxyDown {
			c.Close()
			continue
		}
		go p.forward(c)
	}
}

// forward carries c's traffic to and from a new connection to the target.
func (p *Proxy) forward(c net.Conn) {
	if !p.pass() {
		return // cut while stalled; c is closed
	}
	t, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns[t] = struct{}{}
	p.mu.Unlock()
	go p.copy(t, c)
	p.copy(c, t)
}

// copy carries bytes from src to dst, holding them while the proxy is
// stalled, and closes both when either side ends.
func (p *Proxy) copy(dst, src net.Conn) {
	defer p.drop(dst)
	defer p.drop(src)
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.pass() {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return // io.EOF or a cut: either way, this connection is over
		}
	}
}

// drop closes c and forgets it.
func (p *Proxy) drop(c net.Conn) {
	c.Close()
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// pass waits while the proxy is stalled and reports whether traffic may go
// on (false once the proxy is down or the stall ended by cutting).
func (p *Proxy) pass() bool {
	for {
		p.mu.Lock()
		state, wake := p.state, p.wake
		p.mu.Unlock()
		switch state {
		case proxyUp:
			return true
		case proxyDown:
			return false
		}
		<-wake
		p.mu.Lock()
		state = p.state
		p.mu.Unlock()
		if state == proxyUp {
			return false // connections held through a stall are cut
		}
	}
}
