package mqtt

import (
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mochi-mqtt/server/v2/listeners"
)

// retryListener keeps accepting through errors such as running out of file
// descriptors. mochi's accept loop ends for good on the first error, which
// would leave the broker deaf after one burst over the limit.
type retryListener struct {
	net.Listener
	log *slog.Logger
}

// Accept returns the next connection, waiting out failures with a backoff
// of up to a second; it fails only once the listener is closed.
func (l retryListener) Accept() (net.Conn, error) {
	delay := 5 * time.Millisecond
	for {
		c, err := l.Listener.Accept()
		if err == nil || errors.Is(err, net.ErrClosed) {
			return c, err
		}
		l.log.Warn("mqtt accept failed; retrying", "err", err, "wait", delay.String())
		time.Sleep(delay)
		delay = min(2*delay, time.Second)
	}
}

// listener is a mochi listener that knows its connections. mochi counts a
// connection (a WaitGroup Add) only once its goroutine runs, so closing the
// server while one is being accepted races with its final Wait; this
// listener's Close ends every connection it accepted and waits for their
// goroutines, so that nothing is still starting when mochi waits.
type listener struct {
	id  string
	ln  net.Listener
	log *slog.Logger

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
	end   atomic.Bool
}

func newListener(id string, ln net.Listener, log *slog.Logger) *listener {
	return &listener{id: id, ln: ln, log: log, conns: map[net.Conn]struct{}{}}
}

// ID implements listeners.Listener.
func (l *listener) ID() string { return l.id }

// Address implements listeners.Listener.
func (l *listener) Address() string { return l.ln.Addr().String() }

// Protocol implements listeners.Listener.
func (l *listener) Protocol() string { return "tcp" }

// Init implements listeners.Listener; the socket is already open.
func (l *listener) Init(*slog.Logger) error { return nil }

// Serve implements listeners.Listener: it accepts until Close.
func (l *listener) Serve(establish listeners.EstablishFn) {
	for {
		conn, err := l.ln.Accept()
		if err != nil {
			return
		}
		if !l.track(conn) {
			conn.Close()
			return
		}
		go func() {
			defer l.wg.Done()
			defer l.untrack(conn)
			if err := establish(l.id, conn); err != nil {
				l.log.Debug("mqtt connection ended", "err", err)
			}
		}()
	}
}

// track registers conn unless the listener is closing.
func (l *listener) track(conn net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.end.Load() {
		return false
	}
	l.conns[conn] = struct{}{}
	l.wg.Add(1)
	return true
}

func (l *listener) untrack(conn net.Conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.conns, conn)
}

// Close implements listeners.Listener: it stops accepting, lets mochi close
// its clients, closes every connection still open, and waits for them.
func (l *listener) Close(closeClients listeners.CloseFn) {
	l.mu.Lock()
	if l.end.Swap(true) {
		l.mu.Unlock()
		return
	}
	l.mu.Unlock()
	l.ln.Close()
	closeClients(l.id)
	l.mu.Lock()
	for conn := range l.conns {
		conn.Close()
	}
	l.mu.Unlock()
	l.wg.Wait()
}
