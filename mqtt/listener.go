package mqtt

import (
	"errors"
	"log/slog"
	"net"
	"time"
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
