// Package webhook delivers the core's events to webhook endpoints over
// HTTP: an adapter of otos.Deliverer. Each delivery is signed in the style
// of Standard Webhooks (headers webhook-id, webhook-timestamp and
// webhook-signature), follows no redirect, and, unless the operator allows
// it, is never sent to a loopback, private or link-local address: the
// address is checked when the connection is made, after the name is
// resolved, so that DNS cannot point a webhook inside the network.
package webhook

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/otos-iot/otos"
)

// Header names of a delivery.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// maxAnswer is how much of an endpoint's answer is read (and thrown away).
const maxAnswer = 64 << 10

// Config sets up a Sender.
type Config struct {
	// AllowPrivate lets deliveries go to loopback and private addresses.
	AllowPrivate bool
	// Now is the clock of the timestamps; nil is time.Now.
	Now func() time.Time
}

// Sender delivers events over HTTP. It is safe for concurrent use.
type Sender struct {
	client *http.Client
	now    func() time.Time
}

// errPrivate refuses a connection to an address a webhook may not reach.
var errPrivate = errors.New("webhook: the address is loopback or private; otos serve --webhook-allow-private permits it")

// New returns a Sender.
func New(cfg Config) *Sender {
	dialer := &net.Dialer{Timeout: 5 * time.Second, Control: func(_, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("webhook: address %q: %w", address, err)
		}
		if !cfg.AllowPrivate && !otos.PublicAddr(ap.Addr()) {
			return errPrivate
		}
		return nil
	}}
	transport := &http.Transport{
		Proxy:                 nil, // the address checked is the one connected to
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: 10 * time.Second,
	}
	s := &Sender{now: cfg.Now, client: &http.Client{Transport: transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

// Deliver implements otos.Deliverer: it posts body, signed, and takes any
// 2xx answer for receipt.
func (s *Sender) Deliver(ctx context.Context, url string, secret otos.Secret, e *otos.Event, body []byte) (int, error) {
	ts := s.now().Unix()
	sig, err := otos.WebhookSignature(secret, e.ID, ts, body)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("webhook: %w", err)
	}
	req.ContentLength = int64(len(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "otos-webhook/1")
	req.Header.Set(HeaderID, e.ID)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(HeaderSignature, sig)
	res, err := s.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, maxAnswer))
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return res.StatusCode, fmt.Errorf("the endpoint answered HTTP %d", res.StatusCode)
	}
	return res.StatusCode, nil
}

// Verify checks a delivery as a receiver would: the signature over id,
// timestamp and body, and a timestamp within tolerance of now. It is what
// the README's receiver does, for tests and Go receivers.
func Verify(secret otos.Secret, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	ts, err := strconv.ParseInt(h.Get(HeaderTimestamp), 10, 64)
	if err != nil {
		return errors.New("webhook: no timestamp")
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return errors.New("webhook: timestamp outside the tolerance")
	}
	want, err := otos.WebhookSignature(secret, h.Get(HeaderID), ts, body)
	if err != nil {
		return err
	}
	// The header may carry several space-separated signatures (rotation).
	for _, got := range strings.Fields(h.Get(HeaderSignature)) {
		if subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1 {
			return nil
		}
	}
	return errors.New("webhook: signature does not verify")
}
