package device

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
	"github.com/otos-iot/otos"
)

// TelemetryTopic is where a device publishes its telemetry.
const TelemetryTopic = otos.TelemetryTopic

// subscribeRefused is the SUBACK return code of a refused filter.
const subscribeRefused = 0x80

// DownlinkFilters are the topic filters of what the platform sends device
// number: control of its telemetry, attribute changes, commands, and answers
// to its attribute requests (ThingsPanel's topics). They come from the one
// table the broker's ACL uses too (otos.DownlinkFilters).
func DownlinkFilters(number string) []string { return otos.DownlinkFilters(number) }

// RefusedError is a CONNECT the broker refused.
type RefusedError struct {
	// ReturnCode is the CONNACK's: 4 for a bad username or password (the
	// voucher is void: reset, re-issued, deleted), 5 for not authorized (the
	// device is disabled).
	ReturnCode byte
}

// Error implements error.
func (e *RefusedError) Error() string {
	msg := "refused"
	if err, ok := packets.ConnErrors[e.ReturnCode]; ok {
		msg = err.Error()
	}
	return fmt.Sprintf("mqtt connect refused: %s (return code %d)", msg, e.ReturnCode)
}

// voucherRefused reports whether a CONNACK return code refuses the voucher
// itself, so that a new voucher may be let in.
func voucherRefused(rc byte) bool {
	return rc == packets.ErrRefusedBadUsernameOrPassword || rc == packets.ErrRefusedNotAuthorised
}

// Session is a device's MQTT session. It does not reconnect by itself: a
// reconnection with a voucher that was revoked meanwhile would be refused
// forever. Watch Done, and call Connect again, which handles revocation.
type Session struct {
	// DeviceID is the id the server gave the device.
	DeviceID string

	client  paho.Client
	number  string
	cfg     Config
	voucher *Voucher
	done    chan struct{}
	once    sync.Once
	err     error
}

// Connect opens the device's MQTT 3.1.1 session with its voucher: the cached
// one, or a new one (see Provision). If the broker refuses a cached voucher
// (return code 4 or 5), Connect asks the server once for a new one and
// connects with that; if the server issues none, or the broker refuses the
// new one too, it returns the error instead of trying again.
//
// The cached voucher is replaced only when a new one is issued. A disabled
// device's voucher works again once an operator enables it, and the server
// would not issue another (200082) to a device that has connected before.
func Connect(ctx context.Context, cfg Config) (*Session, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if c.Broker == "" {
		return nil, errors.New("device: no MQTT broker address")
	}
	v, cached, err := provision(ctx, c)
	if err != nil {
		return nil, err
	}
	if cached {
		v = renewDue(ctx, c, v)
	}
	s, err := dial(ctx, c, v)
	var refused *RefusedError
	if !cached || !errors.As(err, &refused) || !voucherRefused(refused.ReturnCode) {
		return s, err
	}
	c.Logger.Warn("the broker refused the cached voucher; asking the server for a new one",
		"device_number", c.DeviceNumber, "return_code", refused.ReturnCode)
	v, rerr := register(ctx, c)
	if rerr != nil {
		return nil, fmt.Errorf("%w; asking the server for a new voucher: %w", err, rerr)
	}
	return dial(ctx, c, v)
}

// dial opens one MQTT 3.1.1 session with voucher v.
func dial(ctx context.Context, c Config, v *Voucher) (*Session, error) {
	s := &Session{DeviceID: v.DeviceID, number: c.DeviceNumber, cfg: c, voucher: v, done: make(chan struct{})}
	opts := paho.NewClientOptions().
		AddBroker(brokerURL(c.Broker, c.TLS != nil)).
		SetProtocolVersion(4). // MQTT 3.1.1, as ThingsPanel firmware
		SetClientID(c.ClientID).
		SetUsername(v.Username).
		SetPassword(v.Password). // empty for an ACCESSTOKEN voucher: then none is sent
		SetTLSConfig(c.TLS).
		SetCleanSession(true).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetConnectTimeout(c.ConnectTimeout).
		SetKeepAlive(c.KeepAlive).
		SetConnectionLostHandler(func(_ paho.Client, err error) { s.end(err) })
	s.client = paho.NewClient(opts)
	tok := s.client.Connect()
	if err := wait(ctx, tok, nil); err != nil {
		s.client.Disconnect(0)
		if rc := returnCode(tok); rc != packets.Accepted && rc < packets.ErrNetworkError {
			return nil, &RefusedError{ReturnCode: rc}
		}
		return nil, fmt.Errorf("mqtt connect to %s: %w", c.Broker, err)
	}
	c.Logger.Info("connected", "broker", c.Broker, "device_number", c.DeviceNumber, "device_id", v.DeviceID)
	return s, nil
}

// returnCode is the CONNACK return code of a completed CONNECT, or
// ErrNetworkError while it has not completed (ctx ended first).
func returnCode(tok paho.Token) byte {
	select {
	case <-tok.Done():
		return tok.(*paho.ConnectToken).ReturnCode()
	default:
		return packets.ErrNetworkError
	}
}

// brokerURL makes a paho broker URL of addr: a bare host:port becomes
// tcp://host:port, or ssl://host:port with TLS.
func brokerURL(addr string, useTLS bool) string {
	if strings.Contains(addr, "://") {
		return addr
	}
	if useTLS {
		return "ssl://" + addr
	}
	return "tcp://" + addr
}

// wait waits for tok, ctx, or the end of the session (when lost is not nil).
func wait(ctx context.Context, tok paho.Token, lost <-chan struct{}) error {
	select {
	case <-tok.Done():
		return tok.Error()
	case <-ctx.Done():
		return ctx.Err()
	case <-lost:
		return errors.New("mqtt: connection lost")
	}
}

// end marks the session over, with err as the reason (nil for Close).
func (s *Session) end(err error) {
	s.once.Do(func() {
		s.err = err
		close(s.done)
	})
}

// Done is closed when the session ends: lost, or closed.
func (s *Session) Done() <-chan struct{} { return s.done }

// Err returns why the session was lost, once Done is closed; nil after Close.
func (s *Session) Err() error {
	select {
	case <-s.done:
		return s.err
	default:
		return nil
	}
}

// Publish publishes payload on topic with QoS 1 and waits for the broker's
// PUBACK. MQTT 3.1.1 has no negative PUBACK: a broker that refuses the topic
// closes the connection instead, and Publish returns an error.
func (s *Session) Publish(ctx context.Context, topic string, payload []byte) error {
	if err := wait(ctx, s.client.Publish(topic, 1, false, payload), s.done); err != nil {
		return fmt.Errorf("publish to %s: %w", topic, err)
	}
	return nil
}

// PublishTelemetry publishes payload (JSON, by convention) on TelemetryTopic.
func (s *Session) PublishTelemetry(ctx context.Context, payload []byte) error {
	return s.Publish(ctx, TelemetryTopic, payload)
}

// SubscribeDownlinks subscribes to the device's downlink topics
// (DownlinkFilters) with QoS 1 and calls handle for each message, one at a
// time, in order: handle should return quickly.
func (s *Session) SubscribeDownlinks(ctx context.Context, handle func(topic string, payload []byte)) error {
	filters := map[string]byte{}
	for _, f := range DownlinkFilters(s.number) {
		filters[f] = 1
	}
	tok := s.client.SubscribeMultiple(filters, func(_ paho.Client, m paho.Message) {
		handle(m.Topic(), m.Payload())
	})
	if err := wait(ctx, tok, s.done); err != nil {
		return fmt.Errorf("subscribe to downlinks: %w", err)
	}
	for f, granted := range tok.(*paho.SubscribeToken).Result() {
		if granted == subscribeRefused {
			return fmt.Errorf("subscribe to downlinks: the broker refused %s", f)
		}
	}
	return nil
}

// Close ends the session: it lets in-flight messages finish for up to 250 ms,
// then disconnects.
func (s *Session) Close() error {
	s.client.Disconnect(250)
	s.end(nil)
	return nil
}
