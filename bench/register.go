package bench

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// maxAnswer bounds the answer read; a real one is a few hundred bytes.
const maxAnswer = 64 << 10

// codeOK is the body code of a successful registration.
const codeOK = 200

// errBadBody is an answer without the API's {"code":…} envelope: a proxy's
// error page, say.
var errBadBody = errors.New("answer is not the device API's JSON envelope")

// session is a registered device, as the MQTT phase needs it.
type session struct {
	number, username, password string
}

// registrar runs the registration phase. Its counters feed the progress
// lines; each worker tallies the rest on its own, merged at the end, so that
// workers share nothing but a few atomic counters and the histogram.
type registrar struct {
	cfg    Config
	target *target
	bodies *bodies
	keep   bool // keep the vouchers, for the MQTT phase
	lat    Histogram

	next                      atomic.Int64 // the last request number taken
	done, ok, refused, failed atomic.Int64
	rotators                  atomic.Int64 // ModeRotate: the devices registered so far
}

// workerStats is what one worker tallies.
type workerStats struct {
	codes    map[int]int64
	errors   map[string]int64
	firstErr string
	sessions []session
}

// newWorkerStats returns empty tallies.
func newWorkerStats() *workerStats {
	return &workerStats{codes: map[int]int64{}, errors: map[string]int64{}}
}

// fail counts a problem under reason, keeping the first one's text.
func (w *workerStats) fail(reason string, err error) {
	w.errors[reason]++
	if w.firstErr == "" {
		w.firstErr = err.Error()
	}
}

// newRegistrar prepares the registration phase of c, a checked Config.
func newRegistrar(c Config) (*registrar, error) {
	t, err := newTarget(c.Server, c.TLS)
	if err != nil {
		return nil, fmt.Errorf("bench: server %q: %w", c.Server, err)
	}
	return &registrar{cfg: c, target: t, bodies: newBodies(c), keep: c.MQTT.Addr != "" && c.Mode == ModeNew}, nil
}

// run sends the requests and returns the report and, in ModeNew with MQTT,
// the registered devices.
func (r *registrar) run(ctx context.Context) (*Report, []session, error) {
	var repeat *RepeatSetup
	if r.cfg.Mode == ModeRepeat {
		var err error
		if repeat, err = r.registerFixed(ctx); err != nil {
			return nil, nil, err
		}
	}
	start := time.Now()
	stopProgress := startProgress(r.cfg.Progress, r.cfg.ProgressEvery, start, r.progressLine())
	stop := make(chan struct{})
	if r.cfg.Duration > 0 {
		t := time.AfterFunc(r.cfg.Duration, func() { close(stop) })
		defer t.Stop()
	}
	stats := make([]*workerStats, r.cfg.Concurrency)
	var wg sync.WaitGroup
	for i := range stats {
		stats[i] = newWorkerStats()
		wg.Go(func() { r.work(ctx, stop, stats[i]) })
	}
	wg.Wait()
	elapsed := time.Since(start)
	stopProgress()
	rep, sessions := r.report(elapsed, stats)
	rep.Repeat = repeat
	return rep, sessions, nil
}

// work sends requests one after the other, on a connection of its own,
// until the count is reached, stop is closed or ctx ends. A request in
// flight when stop closes is finished.
func (r *registrar) work(ctx context.Context, stop <-chan struct{}, ws *workerStats) {
	c := newConn(ctx, r.target, r.cfg.Timeout)
	defer c.close()
	var rot *rotator
	if r.cfg.Mode == ModeRotate {
		var err error
		if rot, err = r.newRotator(c); err != nil {
			if ctx.Err() == nil {
				ws.fail("setup", err)
			}
			return
		}
	}
	for {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		default:
		}
		seq := r.next.Add(1)
		if r.cfg.Devices > 0 && seq > int64(r.cfg.Devices) {
			return
		}
		if rot != nil {
			r.rotate(ctx, c, rot, ws)
			continue
		}
		r.send(ctx, c, seq, ws)
	}
}

// rotator is a ModeRotate worker's device: the Basic credentials of its
// current voucher.
type rotator struct {
	number, auth string
}

// newRotator registers a device of its own for a ModeRotate worker.
func (r *registrar) newRotator(c *conn) (*rotator, error) {
	number := r.bodies.tag + "-rot-" + strconv.FormatInt(r.rotators.Add(1), 10)
	a, err := post(c, r.bodies.plain(number))
	if err != nil {
		return nil, fmt.Errorf("register %s: %w", number, err)
	}
	if a.code != codeOK {
		return nil, fmt.Errorf("register %s: code %d", number, a.code)
	}
	rot := &rotator{number: number}
	return rot, rot.take(a)
}

// take keeps the voucher of a successful answer.
func (rot *rotator) take(a answer) error {
	s, err := a.session(rot.number)
	if err != nil {
		return err
	}
	rot.auth = base64.StdEncoding.EncodeToString([]byte(s.username + ":" + s.password))
	return nil
}

// rotate sends one rotation with rot's voucher and tallies its outcome;
// rot takes the new voucher.
func (r *registrar) rotate(ctx context.Context, c *conn, rot *rotator, ws *workerStats) {
	r.tally(ctx, ws, func() (answer, error) {
		status, b, err := c.postRotate(rot.auth)
		if err != nil {
			return answer{}, err
		}
		return parseAnswer(status, b)
	}, func(a answer) error { return rot.take(a) })
}

// send sends request seq and tallies its outcome, keeping the voucher for
// the MQTT phase when asked to.
func (r *registrar) send(ctx context.Context, c *conn, seq int64, ws *workerStats) {
	body, number := r.bodies.body(seq)
	r.tally(ctx, ws, func() (answer, error) { return post(c, body) }, func(a answer) error {
		if !r.keep {
			return nil
		}
		s, err := a.session(number)
		if err == nil {
			ws.sessions = append(ws.sessions, s)
		}
		return err
	})
}

// tally times one request and counts its outcome; ok runs for a success,
// and its error counts as no_voucher. A request cut short by ctx is not
// counted: it neither succeeded nor failed.
func (r *registrar) tally(ctx context.Context, ws *workerStats, req func() (answer, error), ok func(answer) error) {
	start := time.Now()
	a, err := req()
	elapsed := time.Since(start)
	if err != nil && ctx.Err() != nil {
		return
	}
	r.done.Add(1)
	if err != nil {
		r.failed.Add(1)
		ws.fail(reason(err), err)
		return
	}
	r.lat.Record(elapsed)
	ws.codes[a.code]++
	if a.code != codeOK {
		r.refused.Add(1)
		return
	}
	r.ok.Add(1)
	if err := ok(a); err != nil {
		ws.fail("no_voucher", err)
	}
}

// answer is the part of the device API's answer the tool reads.
type answer struct {
	code    int
	voucher string
}

// post sends one auth request on c and reads its answer.
func post(c *conn, body []byte) (answer, error) {
	status, b, err := c.post(body)
	if err != nil {
		return answer{}, err
	}
	return parseAnswer(status, b)
}

// parseAnswer reads the envelope {"code":…,"data":{"voucher":…}}.
func parseAnswer(status int, b []byte) (answer, error) {
	var env struct {
		Code *int `json:"code"`
		Data *struct {
			Voucher string `json:"voucher"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &env); err != nil || env.Code == nil {
		return answer{}, fmt.Errorf("HTTP %d: %w", status, errBadBody)
	}
	a := answer{code: *env.Code}
	if env.Data != nil {
		a.voucher = env.Data.Voucher
	}
	return a, nil
}

// session returns the device registered by a successful answer.
func (a answer) session(number string) (session, error) {
	var v struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}
	if err := json.Unmarshal([]byte(a.voucher), &v); err != nil || v.Username == "" {
		return session{}, fmt.Errorf("device %s: code 200 without a usable voucher", number)
	}
	return session{number: number, username: v.Username, password: v.Password}, nil
}

// registerFixed registers ModeRepeat's device before the run and, with a
// broker, connects it once, so that what the run measures is the answer to
// a device that is registered (and has connected) already.
func (r *registrar) registerFixed(ctx context.Context) (*RepeatSetup, error) {
	body, number := r.bodies.body(0)
	c := newConn(ctx, r.target, r.cfg.Timeout)
	defer c.close()
	a, err := post(c, body)
	if err != nil {
		return nil, fmt.Errorf("bench: register the repeated device %s: %w", number, err)
	}
	setup := &RepeatSetup{DeviceNumber: number, FirstCode: a.code}
	if r.cfg.MQTT.Addr == "" || a.code != codeOK {
		return setup, nil
	}
	s, err := a.session(number)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	if err := connectOnce(r.cfg.MQTT, s); err != nil {
		return nil, fmt.Errorf("bench: connect the repeated device %s over MQTT: %w", number, err)
	}
	setup.Connected = true
	return setup, nil
}

// progressLine returns the progress line of the registration phase: the
// rate is that of the last interval.
func (r *registrar) progressLine() func(time.Duration) string {
	total := "∞"
	if r.cfg.Devices > 0 {
		total = fmt.Sprint(r.cfg.Devices)
	}
	var prev int64
	var prevAt time.Duration
	return func(elapsed time.Duration) string {
		done := r.done.Load()
		rate := float64(done-prev) / (elapsed - prevAt).Seconds()
		prev, prevAt = done, elapsed
		return fmt.Sprintf("register %6.1fs  done %d/%s  %.0f/s  ok %d  refused %d  errors %d",
			elapsed.Seconds(), done, total, rate, r.ok.Load(), r.refused.Load(), r.failed.Load())
	}
}

// redacted is server without a password, should it hold one.
func redacted(server string) string {
	u, err := url.Parse(server)
	if err != nil {
		return server
	}
	return u.Redacted()
}

// report merges the workers' tallies.
func (r *registrar) report(elapsed time.Duration, stats []*workerStats) (*Report, []session) {
	rep := &Report{
		Mode: string(r.cfg.Mode), Server: redacted(r.cfg.Server), Tag: r.cfg.Tag, Concurrency: r.cfg.Concurrency,
		Signed: r.cfg.Sign, Requests: r.done.Load(), DurationS: elapsed.Seconds(),
		Codes: map[string]int64{}, Errors: map[string]int64{},
	}
	rep.setLatency(&r.lat)
	if elapsed > 0 {
		rep.RPS = float64(rep.Requests) / elapsed.Seconds()
	}
	var sessions []session
	for _, ws := range stats {
		for code, n := range ws.codes {
			rep.Codes[fmt.Sprint(code)] += n
		}
		for why, n := range ws.errors {
			rep.Errors[why] += n
		}
		if rep.FirstError == "" {
			rep.FirstError = ws.firstErr
		}
		sessions = append(sessions, ws.sessions...)
	}
	return rep, sessions
}
