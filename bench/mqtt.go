package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/otos-iot/otos/device"
)

// Session timing: keep-alive pings are rare, so that many idle sessions cost
// the broker little; a PUBACK and a DISCONNECT are waited for a bounded time.
const (
	keepAlive       = 60 * time.Second
	publishTimeout  = 10 * time.Second
	disconnectQuiet = 250 // milliseconds paho waits for the DISCONNECT to go out
)

// mqttRun is the MQTT phase: connect the devices, hold them, publish.
type mqttRun struct {
	cfg      MQTTConfig
	conns    int // CONNECTs or publishes in flight at most
	progress io.Writer
	every    time.Duration
	// lat is the CONNECT latency of the first round, relat of the second
	// (Reconnect); rec points to the one being recorded.
	lat, relat Histogram
	rec        *Histogram

	connected, connectFailed, lost atomic.Int64
	published, publishFailed       atomic.Int64

	mu       sync.Mutex
	errors   map[string]int64
	firstErr string
}

// newMQTTRun prepares the MQTT phase of c, a checked Config.
func newMQTTRun(c Config) *mqttRun {
	m := &mqttRun{cfg: c.MQTT, conns: c.Concurrency, progress: c.Progress, every: c.ProgressEvery,
		errors: map[string]int64{}}
	m.rec = &m.lat
	return m
}

// fail counts a problem under reason, keeping the first one's text.
func (m *mqttRun) fail(reason string, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.errors[reason]++
	if m.firstErr == "" {
		m.firstErr = err.Error()
	}
}

// run connects every session, holds them, publishing meanwhile, then
// disconnects them and reports. The memory the sessions cost this process
// is measured between a collection before the first CONNECT and one after
// the last.
func (m *mqttRun) run(ctx context.Context, sessions []session) *MQTTReport {
	before := liveBytes()
	start := time.Now()
	clients := m.connectAll(ctx, sessions)
	connectTime := time.Since(start)
	after := liveBytes()
	defer func() { m.disconnectAll(clients) }() // the clients of the last round

	rep := &MQTTReport{Broker: m.cfg.Addr, Sessions: len(sessions),
		ConnectRound: newConnectRound(len(clients), connectTime, &m.lat)}
	if len(clients) > 0 && after > before {
		rep.ClientBytesPerSession = int64(after-before) / int64(len(clients))
	}
	if m.cfg.Hold > 0 && len(clients) > 0 && ctx.Err() == nil {
		held := m.hold(ctx, clients)
		rep.HoldS = held.Seconds()
		rep.Published = m.published.Load()
		if held > 0 {
			rep.PublishPerS = float64(rep.Published) / held.Seconds()
		}
	}
	rep.Lost = m.lost.Load()
	if m.cfg.Reconnect && len(clients) > 0 && ctx.Err() == nil {
		m.disconnectAll(clients)
		rep.Reconnect, clients = m.reconnect(ctx, sessions)
	}
	m.mu.Lock()
	rep.Errors, rep.FirstError = m.errors, m.firstErr
	m.mu.Unlock()
	return rep
}

// reconnect connects the sessions a second time, timed apart from the
// first, and returns the report with the new clients.
func (m *mqttRun) reconnect(ctx context.Context, sessions []session) (*ConnectRound, []paho.Client) {
	m.rec = &m.relat
	m.connected.Store(0)
	start := time.Now()
	clients := m.connectAll(ctx, sessions)
	r := newConnectRound(len(clients), time.Since(start), &m.relat)
	return &r, clients
}

// liveBytes returns the heap and goroutine stacks in use after a collection.
func liveBytes() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc + ms.StackInuse
}

// connectAll connects the sessions, m.conns at a time and at most
// ConnectRate a second, and returns the connected clients.
func (m *mqttRun) connectAll(ctx context.Context, sessions []session) []paho.Client {
	slots := make([]paho.Client, len(sessions)) // slot i is written by one worker only
	var next atomic.Int64
	pace := newPacer(m.cfg.ConnectRate)
	start := time.Now()
	stopProgress := startProgress(m.progress, m.every, start, m.connectLine(len(sessions)))
	var wg sync.WaitGroup
	for range min(m.conns, len(sessions)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(sessions) || pace.wait(ctx, i) != nil {
					return
				}
				slots[i] = m.connect(ctx, sessions[i])
			}
		})
	}
	wg.Wait()
	stopProgress()
	clients := make([]paho.Client, 0, len(sessions))
	for _, c := range slots {
		if c != nil {
			clients = append(clients, c)
		}
	}
	return clients
}

// connect opens one session and records its CONNECT latency, or why it
// failed; it returns nil on failure. A CONNECT cut short by ctx is not
// counted.
func (m *mqttRun) connect(ctx context.Context, s session) paho.Client {
	c, elapsed, err := dial(m.cfg, s, func(paho.Client, error) { m.lost.Add(1) })
	if err != nil {
		if ctx.Err() == nil {
			m.connectFailed.Add(1)
			m.fail(connectReason(err), err)
		}
		return nil
	}
	m.rec.Record(elapsed)
	m.connected.Add(1)
	return c
}

// connectError is a CONNECT that failed, with the CONNACK's return code
// (packets.ErrNetworkError when none came).
type connectError struct {
	number string
	rc     byte
	err    error
}

// Error implements error.
func (e *connectError) Error() string { return "device " + e.number + ": " + e.err.Error() }

// Unwrap returns the network's or the CONNACK's error.
func (e *connectError) Unwrap() error { return e.err }

// dial opens an MQTT 3.1.1 session for s with its voucher, its device number
// as client id, a clean session and no automatic reconnection (so that a
// lost session shows in the report, through lost), and returns it with the
// time the CONNECT took. It waits for the CONNACK even if the run ends
// meanwhile, for no longer than ConnectTimeout, so that no session is left
// behind.
func dial(cfg MQTTConfig, s session, lost paho.ConnectionLostHandler) (paho.Client, time.Duration, error) {
	if cfg.Username != "" {
		s.username, s.password = cfg.Username, cfg.Password
	}
	opts := paho.NewClientOptions().AddBroker(cfg.Addr).SetClientID(s.number).
		SetUsername(s.username).SetPassword(s.password).SetProtocolVersion(4).SetCleanSession(true).
		SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(cfg.ConnectTimeout).
		SetKeepAlive(keepAlive).SetOrderMatters(false).SetConnectionLostHandler(lost)
	c := paho.NewClient(opts)
	start := time.Now()
	tok := c.Connect()
	<-tok.Done()
	elapsed := time.Since(start)
	if err := tok.Error(); err != nil {
		return nil, elapsed, &connectError{number: s.number, rc: tok.(*paho.ConnectToken).ReturnCode(), err: err}
	}
	return c, elapsed, nil
}

// connectReason names why a CONNECT failed: the CONNACK's refusal, or the
// network's error.
func connectReason(err error) string {
	var ce *connectError
	if !errors.As(err, &ce) {
		return reason(err)
	}
	switch ce.rc {
	case packets.ErrRefusedBadProtocolVersion:
		return "refused_protocol_version"
	case packets.ErrRefusedIDRejected:
		return "refused_client_id"
	case packets.ErrRefusedServerUnavailable:
		return "refused_server_unavailable"
	case packets.ErrRefusedBadUsernameOrPassword:
		return "refused_bad_credentials"
	case packets.ErrRefusedNotAuthorised:
		return "refused_not_authorized"
	}
	return reason(err)
}

// connectLine returns the progress line of the connect step.
func (m *mqttRun) connectLine(total int) func(time.Duration) string {
	var prev int64
	var prevAt time.Duration
	return func(elapsed time.Duration) string {
		done := m.connected.Load() + m.connectFailed.Load()
		rate := float64(done-prev) / (elapsed - prevAt).Seconds()
		prev, prevAt = done, elapsed
		return fmt.Sprintf("mqtt connect %6.1fs  done %d/%d  %.0f/s  connected %d  errors %d",
			elapsed.Seconds(), done, total, rate, m.connected.Load(), m.connectFailed.Load())
	}
}

// hold keeps the sessions open for Hold, or until ctx ends, publishing at
// PublishRate meanwhile; it returns how long it held them.
func (m *mqttRun) hold(ctx context.Context, clients []paho.Client) time.Duration {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, m.cfg.Hold)
	defer cancel()
	stopProgress := startProgress(m.progress, m.every, start, m.holdLine(len(clients)))
	defer stopProgress()
	if m.cfg.PublishRate > 0 {
		m.publishAll(ctx, clients)
	}
	<-ctx.Done()
	return time.Since(start)
}

// holdLine returns the progress line of the hold step.
func (m *mqttRun) holdLine(sessions int) func(time.Duration) string {
	return func(elapsed time.Duration) string {
		return fmt.Sprintf("mqtt hold %6.1fs  sessions %d  lost %d  published %d  errors %d",
			elapsed.Seconds(), int64(sessions)-m.lost.Load(), m.lost.Load(), m.published.Load(), m.publishFailed.Load())
	}
}

// publishAll publishes telemetry at PublishRate, from each client in turn,
// until ctx ends. A pacer hands out message numbers on schedule; m.conns
// workers publish them and wait for the PUBACKs, the last ones after ctx
// has ended. When they cannot keep up,
// the schedule slips rather than piling up messages: the report shows the
// rate achieved.
func (m *mqttRun) publishAll(ctx context.Context, clients []paho.Client) {
	jobs := make(chan int, m.conns)
	var wg sync.WaitGroup
	for range m.conns {
		wg.Go(func() {
			for k := range jobs {
				m.publish(clients[k%len(clients)], k)
			}
		})
	}
	pace := newPacer(m.cfg.PublishRate)
	for k := 0; pace.wait(ctx, k) == nil; k++ {
		select {
		case jobs <- k:
		case <-ctx.Done():
		}
	}
	close(jobs)
	wg.Wait()
}

// publish sends message k (QoS 1) and waits for its PUBACK, even past the
// end of the hold (up to publishTimeout), so that every message the broker
// took is counted.
func (m *mqttRun) publish(c paho.Client, k int) {
	payload := `{"seq":` + strconv.Itoa(k) + `,"ts":` + strconv.FormatInt(time.Now().UnixMilli(), 10) + `}`
	tok := c.Publish(device.TelemetryTopic, 1, false, payload)
	timer := time.NewTimer(publishTimeout)
	defer timer.Stop()
	var err error
	select {
	case <-tok.Done():
		err = tok.Error()
	case <-timer.C:
		err = errors.New("no PUBACK within " + publishTimeout.String())
	}
	if err != nil {
		m.publishFailed.Add(1)
		m.fail("publish_failed", err)
		return
	}
	m.published.Add(1)
}

// disconnectAll closes the sessions, m.conns at a time.
func (m *mqttRun) disconnectAll(clients []paho.Client) {
	work := make(chan paho.Client)
	var wg sync.WaitGroup
	for range min(m.conns, len(clients)) {
		wg.Go(func() {
			for c := range work {
				c.Disconnect(disconnectQuiet)
			}
		})
	}
	for _, c := range clients {
		work <- c
	}
	close(work)
	wg.Wait()
}

// connectOnce connects s to the broker and disconnects it.
func connectOnce(cfg MQTTConfig, s session) error {
	c, _, err := dial(cfg, s, nil)
	if err != nil {
		return err
	}
	c.Disconnect(disconnectQuiet)
	return nil
}

// pacer spaces events at a fixed rate: event i is due at start + i/rate.
// A zero rate never waits.
type pacer struct {
	start time.Time
	every time.Duration
}

// newPacer returns a pacer of rate events a second, starting now.
func newPacer(rate float64) pacer {
	p := pacer{start: time.Now()}
	if rate > 0 {
		p.every = time.Duration(float64(time.Second) / rate)
	}
	return p
}

// wait waits until event i is due; it returns ctx's error if ctx ends first.
func (p pacer) wait(ctx context.Context, i int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	d := time.Until(p.start.Add(time.Duration(i) * p.every))
	if p.every == 0 || d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
