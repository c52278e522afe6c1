package bench

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/otos-iot/otos/device"
)

// The registration phase speaks HTTP/1.1 itself, over one keep-alive
// connection per worker: each request goes out in one write, and the answer
// is read with http.ReadResponse (Content-Length, chunked, Connection:
// close), with no goroutine in between. net/http's Transport hands every
// request to two goroutines of its own: measured against the ceiling server
// of ../shared/bench, it cost this tool about 30 µs of CPU per request,
// against 13 µs this way (wrk: 12 µs). On a 2-core machine where the server
// under test runs too, that difference is the server's to use.

// target is where the requests go.
type target struct {
	addr   string      // host:port to dial
	tls    *tls.Config // nil for http://
	head   []byte      // the request line and headers, up to the Content-Length value
	rotate []byte      // the rotation's, up to the Authorization value
}

// newTarget prepares the requests to server's auth route. tlsConfig, when
// not nil, replaces the system's roots for an https:// server.
func newTarget(server string, tlsConfig *tls.Config) (*target, error) {
	u, err := url.Parse(server)
	if err != nil {
		return nil, err
	}
	t := &target{addr: u.Host}
	if u.Port() == "" {
		port := map[string]string{"http": "80", "https": "443"}[u.Scheme]
		t.addr = net.JoinHostPort(u.Hostname(), port)
	}
	if u.Scheme == "https" {
		t.tls = &tls.Config{MinVersion: tls.VersionTLS12}
		if tlsConfig != nil {
			t.tls = tlsConfig.Clone()
		}
		t.tls.ServerName, t.tls.NextProtos = u.Hostname(), []string{"http/1.1"}
	}
	base := strings.TrimRight(u.EscapedPath(), "/")
	t.head = fmt.Appendf(nil, "POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: otos-bench\r\n"+
		"Content-Type: application/json\r\nAccept: application/json\r\nContent-Length: ", base+device.AuthPath, u.Host)
	t.rotate = fmt.Appendf(nil, "POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: otos-bench\r\n"+
		"Accept: application/json\r\nContent-Length: 0\r\nAuthorization: Basic ", base+device.RotatePath, u.Host)
	return t, nil
}

// conn is one worker's connection to the target, opened on first use and
// again after the server closes it. It is not safe for concurrent use.
type conn struct {
	t       *target
	timeout time.Duration
	ctx     context.Context

	nc     net.Conn
	br     *bufio.Reader
	buf    []byte
	reused bool        // nc has carried a request already
	stop   func() bool // stops the watch that unblocks nc when ctx ends
}

// newConn returns a connection to t whose requests end when ctx does.
func newConn(ctx context.Context, t *target, timeout time.Duration) *conn {
	return &conn{t: t, timeout: timeout, ctx: ctx}
}

// post sends body and returns the answer's status and body. When the server
// had closed a kept-alive connection (it does so when idle), the request
// meets the closed connection before any answer: it is then sent again, once,
// on a new connection, as net/http does.
func (c *conn) post(body []byte) (int, []byte, error) {
	return c.request(func(b []byte) []byte {
		b = append(b, c.t.head...)
		b = strconv.AppendInt(b, int64(len(body)), 10)
		return append(append(b, "\r\n\r\n"...), body...)
	})
}

// postRotate sends a rotation with a voucher's Basic credentials (auth,
// base64) and reads its answer.
func (c *conn) postRotate(auth string) (int, []byte, error) {
	return c.request(func(b []byte) []byte {
		return append(append(append(b, c.t.rotate...), auth...), "\r\n\r\n"...)
	})
}

// request sends the request that build appends and reads the answer,
// once more on a fresh connection when the server had closed an idle one.
func (c *conn) request(build func([]byte) []byte) (int, []byte, error) {
	reused := c.reused
	err := c.send(build)
	if err != nil && reused && closedIdle(err) && c.ctx.Err() == nil {
		err = c.send(build)
	}
	if err != nil {
		return 0, nil, err
	}
	return c.read()
}

// closedIdle reports whether err is what a request meets on a connection the
// server had closed.
func closedIdle(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// send writes the request, opening the connection first if need be, and
// waits for the first byte of the answer. On error the connection is closed.
func (c *conn) send(build func([]byte) []byte) (err error) {
	if c.nc == nil {
		if err := c.dial(); err != nil {
			return err
		}
	}
	defer func() {
		if err != nil {
			c.close()
		}
	}()
	// Set before checking ctx: a watch that fires after this still cuts the
	// request short, and one that fired before is seen here.
	if err := c.nc.SetDeadline(time.Now().Add(c.timeout)); err != nil {
		return err
	}
	if err := c.ctx.Err(); err != nil {
		return err
	}
	c.buf = build(c.buf[:0])
	if _, err := c.nc.Write(c.buf); err != nil {
		return err
	}
	_, err = c.br.Peek(1)
	return err
}

// read reads the answer to the request sent. The connection is closed on
// error, after an answer too long to read whole, and on Connection: close.
func (c *conn) read() (int, []byte, error) {
	res, err := http.ReadResponse(c.br, nil)
	if err != nil {
		c.close()
		return 0, nil, err
	}
	answer, err := io.ReadAll(io.LimitReader(res.Body, maxAnswer+1))
	res.Body.Close()
	switch {
	case err != nil:
		c.close()
		return 0, nil, err
	case res.Close || len(answer) > maxAnswer:
		c.close()
		answer = answer[:min(len(answer), maxAnswer)]
	default:
		c.reused = true
	}
	return res.StatusCode, answer, nil
}

// dial opens the connection, with TLS for https://, and arranges for it to
// be unblocked when ctx ends.
func (c *conn) dial() error {
	d := net.Dialer{Timeout: c.timeout, KeepAlive: 30 * time.Second}
	nc, err := d.DialContext(c.ctx, "tcp", c.t.addr)
	if err != nil {
		return err
	}
	if c.t.tls != nil {
		tc := tls.Client(nc, c.t.tls)
		hctx, cancel := context.WithTimeout(c.ctx, c.timeout)
		defer cancel()
		if err := tc.HandshakeContext(hctx); err != nil {
			nc.Close()
			return err
		}
		nc = tc
	}
	if c.br == nil {
		c.br = bufio.NewReaderSize(nc, 4096)
	} else {
		c.br.Reset(nc)
	}
	c.nc, c.reused = nc, false
	c.stop = context.AfterFunc(c.ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
	return nil
}

// close closes the connection, if open; the next request opens another.
func (c *conn) close() {
	if c.nc == nil {
		return
	}
	c.stop()
	c.nc.Close()
	c.nc = nil
}
