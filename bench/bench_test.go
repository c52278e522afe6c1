package bench

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/otos-iot/otos"
)

// The engine is tested here against a fake device API and a plain mochi
// broker, where the tests control every answer; cmd/otos/bench_test.go runs
// "otos bench" against the real server.

const (
	testSecret = "s3cret"
	testTplID  = "tpl-1"
)

func TestHistogram(t *testing.T) {
	t.Run("empty", func(t *testing.T) {
		var h Histogram
		if h.Quantile(0.99) != 0 || h.Max() != 0 || h.Count() != 0 {
			t.Fatalf("empty histogram: p99 %v max %v count %d", h.Quantile(0.99), h.Max(), h.Count())
		}
	})
	t.Run("exact-below-128ns", func(t *testing.T) {
		var h Histogram
		for d := range time.Duration(100) {
			h.Record(d + 1)
		}
		if got := h.Quantile(0.5); got != 50 {
			t.Errorf("p50 %v, want 50ns", got)
		}
		if got := h.Quantile(1); got != 100 {
			t.Errorf("p100 %v, want 100ns", got)
		}
	})
	t.Run("within-1%", func(t *testing.T) {
		var h Histogram
		samples := make([]time.Duration, 200_000)
		for i := range samples {
			// Log-uniform from 1µs to 10s, shuffled: the spread of real latencies.
			samples[i] = time.Duration(float64(time.Microsecond) * math.Pow(1e7, rand.Float64()))
			h.Record(samples[i])
		}
		slices.Sort(samples)
		for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
			want := samples[int(q*float64(len(samples)))-1]
			got := h.Quantile(q)
			if diff := float64(got-want) / float64(want); diff > 0.01 || diff < -0.01 {
				t.Errorf("q%v: %v, want %v (off by %.2f%%)", q, got, want, 100*diff)
			}
		}
		if h.Max() != samples[len(samples)-1] {
			t.Errorf("max %v, want %v", h.Max(), samples[len(samples)-1])
		}
	})
	t.Run("extremes", func(t *testing.T) {
		var h Histogram
		h.Record(-time.Second) // a clock step: counted as 0
		h.Record(time.Duration(1<<63 - 1))
		if h.Count() != 2 || h.Quantile(0.5) != 0 || h.Quantile(1) != time.Duration(1<<63-1) {
			t.Fatalf("count %d p50 %v p100 %v", h.Count(), h.Quantile(0.5), h.Quantile(1))
		}
	})
	t.Run("concurrent", func(t *testing.T) {
		var h Histogram
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Go(func() {
				for i := range 1000 {
					h.Record(time.Duration(g*1000+i) * time.Microsecond)
				}
			})
		}
		wg.Wait()
		if h.Count() != 8000 || h.Max() != 7999*time.Microsecond {
			t.Fatalf("count %d max %v", h.Count(), h.Max())
		}
	})
}

func TestBodies(t *testing.T) {
	now := func() time.Time { return time.UnixMilli(1764123456789) }
	decode := func(t *testing.T, b []byte) map[string]string {
		t.Helper()
		var m map[string]string
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("body %s: %v", b, err)
		}
		return m
	}
	t.Run("new", func(t *testing.T) {
		b := newBodies(Config{Mode: ModeNew, Tag: "t1", Secret: `se"cr\et`, Now: now})
		body, n := b.body(7)
		if m := decode(t, body); m["template_secret"] != `se"cr\et` || m["device_number"] != "t1-7" || n != "t1-7" || len(m) != 2 {
			t.Fatalf("body %s, number %s", body, n)
		}
		if other, _ := b.body(8); bytes.Equal(other, body) {
			t.Fatal("two requests of mode new name the same device")
		}
	})
	t.Run("repeat", func(t *testing.T) {
		b := newBodies(Config{Mode: ModeRepeat, Tag: "t1", Secret: testSecret, Now: now})
		b1, n1 := b.body(1)
		b2, n2 := b.body(2)
		if !bytes.Equal(b1, b2) || n1 != "t1-fixed" || n2 != n1 || decode(t, b1)["device_number"] != "t1-fixed" {
			t.Fatalf("repeat bodies %s %s", b1, b2)
		}
	})
	t.Run("bad-secret", func(t *testing.T) {
		b := newBodies(Config{Mode: ModeBadSecret, Tag: "t1", Secret: testSecret, Now: now})
		body, _ := b.body(1)
		if got := decode(t, body)["template_secret"]; got == testSecret || got == "" {
			t.Fatalf("bad-secret sends %q", got)
		}
	})
	t.Run("signed", func(t *testing.T) {
		b := newBodies(Config{Mode: ModeNew, Tag: "t1", Secret: testSecret, Sign: true, TemplateID: testTplID, Now: now})
		b1, _ := b.body(1)
		b2, _ := b.body(1)
		m1, m2 := decode(t, b1), decode(t, b2)
		if m1["nonce"] == m2["nonce"] || len(m1["nonce"]) < otos.MinNonceLen || len(m1["nonce"]) > otos.MaxNonceLen {
			t.Fatalf("nonces %q and %q: want fresh ones, 8 to 64 characters", m1["nonce"], m2["nonce"])
		}
		if _, ok := m1["template_secret"]; ok || m1["timestamp"] != "1764123456789" || m1["sign_method"] != otos.SignMethodHMACSHA256 {
			t.Fatalf("signed body %s", b1)
		}
		if !verifies(m1, testSecret) {
			t.Fatalf("signature of %s does not verify", b1)
		}
	})
	t.Run("signed-bad-secret", func(t *testing.T) {
		b := newBodies(Config{Mode: ModeBadSecret, Tag: "t1", Secret: testSecret, Sign: true, TemplateID: testTplID, Now: now})
		body, _ := b.body(1)
		if verifies(decode(t, body), testSecret) {
			t.Fatal("bad-secret mode signs with the right secret")
		}
	})
}

// verifies reports whether a signed body's signature holds under secret, as
// the server checks it.
func verifies(m map[string]string, secret string) bool {
	r := otos.AuthRequest{DeviceNumber: m["device_number"], TemplateID: m["template_id"], Timestamp: m["timestamp"],
		Nonce: m["nonce"], ProductKey: m["product_key"]}
	return otos.VerifySign(otos.Secret(secret), r.SigningString(), m["sign"])
}

// fakeAPI is a device API that answers like otos: 200 and a voucher for the
// right secret (or signature) and a new number, 200082 for a number seen
// before, 200080 for anything else. It records what the tool does to it.
type fakeAPI struct {
	*httptest.Server
	delay                           time.Duration
	inflight, maxInflight, newConns atomic.Int64
	mu                              sync.Mutex
	seen                            map[string]bool
	nonces                          map[string]bool
}

func startFakeAPI(t *testing.T, delay time.Duration) *fakeAPI {
	t.Helper()
	f := &fakeAPI{delay: delay, seen: map[string]bool{}, nonces: map[string]bool{}}
	f.Server = httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	f.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			f.newConns.Add(1)
		}
	}
	f.Start()
	t.Cleanup(f.Close)
	return f
}

func (f *fakeAPI) serve(w http.ResponseWriter, r *http.Request) {
	n := f.inflight.Add(1)
	defer f.inflight.Add(-1)
	for m := f.maxInflight.Load(); n > m && !f.maxInflight.CompareAndSwap(m, n); m = f.maxInflight.Load() {
	}
	var m map[string]string
	if r.URL.Path != "/api/v1/device/auth" || json.NewDecoder(r.Body).Decode(&m) != nil {
		http.Error(w, "no", http.StatusBadRequest)
		return
	}
	io.Copy(io.Discard, r.Body) // read to the end, so that r's context ends if the client goes away
	select {
	case <-time.After(f.delay):
	case <-r.Context().Done():
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if m["nonce"] != "" {
		if f.nonces[m["nonce"]] {
			io.WriteString(w, `{"code":200089,"message":"replayed"}`)
			return
		}
		f.nonces[m["nonce"]] = true
	}
	switch number := m["device_number"]; {
	case m["template_secret"] != testSecret && !verifies(m, testSecret):
		io.WriteString(w, `{"code":200080,"message":"bad secret"}`)
	case f.seen[number]:
		io.WriteString(w, `{"code":200082,"message":"exists"}`)
	default:
		f.seen[number] = true
		v, _ := json.Marshal(map[string]string{"username": "u-" + number, "password": "p-" + number})
		b, _ := json.Marshal(map[string]any{"code": 200, "message": "Success",
			"data": map[string]string{"device_id": "id-" + number, "voucher": string(v)}})
		w.Write(b)
	}
}

// devices returns how many device numbers with the prefix registered.
func (f *fakeAPI) devices(prefix string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for k := range f.seen {
		if strings.HasPrefix(k, prefix) {
			n++
		}
	}
	return n
}

func TestRunModes(t *testing.T) {
	cases := []struct {
		name      string
		cfg       Config
		wantCodes map[string]int64
		wantFirst int
	}{
		{"new", Config{Mode: ModeNew, Devices: 300}, map[string]int64{"200": 300}, 0},
		{"new/signed", Config{Mode: ModeNew, Devices: 100, Sign: true, TemplateID: testTplID}, map[string]int64{"200": 100}, 0},
		{"repeat", Config{Mode: ModeRepeat, Devices: 100}, map[string]int64{"200082": 100}, 200},
		{"bad-secret", Config{Mode: ModeBadSecret, Devices: 50}, map[string]int64{"200080": 50}, 0},
		{"bad-secret/signed", Config{Mode: ModeBadSecret, Devices: 20, Sign: true, TemplateID: testTplID}, map[string]int64{"200080": 20}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			api := startFakeAPI(t, 0)
			c.cfg.Server, c.cfg.Secret, c.cfg.Tag, c.cfg.Concurrency = api.URL, testSecret, "t", 8
			rep, err := Run(context.Background(), c.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if !equalCounts(rep.Codes, c.wantCodes) || len(rep.Errors) != 0 || rep.Requests != int64(c.cfg.Devices) {
				t.Fatalf("requests %d, codes %v, errors %v (%s); want %v", rep.Requests, rep.Codes, rep.Errors, rep.FirstError, c.wantCodes)
			}
			if c.wantFirst != 0 && (rep.Repeat == nil || rep.Repeat.FirstCode != c.wantFirst || rep.Repeat.DeviceNumber != "t-fixed") {
				t.Fatalf("repeat setup %+v, want first code %d", rep.Repeat, c.wantFirst)
			}
			if rep.RPS <= 0 || rep.P50Ms <= 0 || rep.P99Ms < rep.P50Ms || rep.MaxMs < rep.P99Ms {
				t.Fatalf("rps %v, latencies p50 %v p99 %v max %v", rep.RPS, rep.P50Ms, rep.P99Ms, rep.MaxMs)
			}
		})
	}
}

func equalCounts(got, want map[string]int64) bool {
	if len(got) != len(want) {
		return false
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

func TestRunConcurrencyAndConnections(t *testing.T) {
	api := startFakeAPI(t, 2*time.Millisecond)
	rep, err := Run(context.Background(), Config{Server: api.URL, Secret: testSecret, Tag: "c", Devices: 200, Concurrency: 6})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Codes["200"] != 200 || api.devices("c-") != 200 {
		t.Fatalf("codes %v, %d devices registered", rep.Codes, api.devices("c-"))
	}
	// C requests in flight, on C keep-alive connections: never more.
	if got := api.maxInflight.Load(); got != 6 {
		t.Errorf("at most %d requests in flight, want 6", got)
	}
	if got := api.newConns.Load(); got > 6 {
		t.Errorf("%d connections opened, want at most 6 (keep-alive)", got)
	}
}

func TestRunDuration(t *testing.T) {
	api := startFakeAPI(t, time.Millisecond)
	var progress syncBuffer
	start := time.Now()
	rep, err := Run(context.Background(), Config{Server: api.URL, Secret: testSecret, Tag: "d", Duration: 300 * time.Millisecond,
		Concurrency: 4, Progress: &progress, ProgressEvery: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("a 300ms run took %v", took)
	}
	if rep.DurationS < 0.3 || rep.DurationS > 1 || rep.Requests == 0 || rep.Codes["200"] != rep.Requests {
		t.Fatalf("duration %vs, requests %d, codes %v", rep.DurationS, rep.Requests, rep.Codes)
	}
	if lines := strings.Count(progress.String(), "bench: register"); lines < 3 {
		t.Fatalf("%d progress lines in 300ms at 50ms: %q", lines, progress.String())
	}
	// Whichever comes first: the count.
	rep, err = Run(context.Background(), Config{Server: api.URL, Secret: testSecret, Tag: "d2", Duration: time.Minute, Devices: 10})
	if err != nil || rep.Requests != 10 || rep.DurationS > 5 {
		t.Fatalf("devices 10 within a minute: %+v, %v", rep, err)
	}
}

func TestRunInterrupted(t *testing.T) {
	api := startFakeAPI(t, 5*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	rep, err := Run(ctx, Config{Server: api.URL, Secret: testSecret, Tag: "i", Devices: 1_000_000, Concurrency: 4})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("interrupted run took %v", took)
	}
	// Requests cut short are not counted as errors.
	if !rep.Interrupted || rep.Requests == 0 || len(rep.Errors) != 0 || rep.Codes["200"] != rep.Requests {
		t.Fatalf("interrupted %v, requests %d, codes %v, errors %v", rep.Interrupted, rep.Requests, rep.Codes, rep.Errors)
	}
}

func TestRunErrors(t *testing.T) {
	t.Run("bad-body", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "<html>502 Bad Gateway</html>", http.StatusBadGateway)
		}))
		defer srv.Close()
		rep, err := Run(context.Background(), Config{Server: srv.URL, Secret: testSecret, Devices: 10, Concurrency: 2})
		if err != nil || rep.Errors["bad_body"] != 10 || len(rep.Codes) != 0 || !strings.Contains(rep.FirstError, "HTTP 502") {
			t.Fatalf("%+v, %v", rep, err)
		}
	})
	t.Run("refused", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		rep, err := Run(context.Background(), Config{Server: "http://" + addr, Secret: testSecret, Devices: 5, Concurrency: 2})
		if err != nil || rep.Errors["connection_refused"] != 5 || rep.Requests != 5 {
			t.Fatalf("%+v, %v", rep, err)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		api := startFakeAPI(t, 300*time.Millisecond)
		rep, err := Run(context.Background(), Config{Server: api.URL, Secret: testSecret, Devices: 2, Concurrency: 2, Timeout: 50 * time.Millisecond})
		if err != nil || rep.Errors["timeout"] != 2 {
			t.Fatalf("%+v, %v", rep, err)
		}
	})
	t.Run("repeat-unreachable", func(t *testing.T) {
		_, err := Run(context.Background(), Config{Server: "http://127.0.0.1:1", Secret: testSecret, Mode: ModeRepeat, Devices: 5})
		if err == nil || !strings.Contains(err.Error(), "register the repeated device") {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("no-redirects", func(t *testing.T) {
		var followed atomic.Bool
		other := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { followed.Store(true) }))
		defer other.Close()
		srv := httptest.NewServer(http.RedirectHandler(other.URL, http.StatusTemporaryRedirect))
		defer srv.Close()
		rep, err := Run(context.Background(), Config{Server: srv.URL, Secret: testSecret, Devices: 3, Concurrency: 1})
		if err != nil || followed.Load() || rep.Errors["bad_body"] != 3 {
			t.Fatalf("followed %v: %+v, %v", followed.Load(), rep, err)
		}
	})
}

func TestConn(t *testing.T) {
	ok := `{"code":200,"message":"Success"}`
	cases := []struct {
		name    string
		handler http.HandlerFunc
	}{
		{"content-length", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, ok) }},
		{"chunked", func(w http.ResponseWriter, _ *http.Request) {
			io.WriteString(w, ok[:10])
			w.(http.Flusher).Flush()
			io.WriteString(w, ok[10:])
		}},
		{"connection-close", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Connection", "close")
			io.WriteString(w, ok)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var mu sync.Mutex
			var got []string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				mu.Lock()
				got = append(got, r.Method+" "+r.URL.Path+" "+r.Header.Get("Content-Type")+" "+string(b))
				mu.Unlock()
				c.handler(w, r)
			}))
			defer srv.Close()
			tg, err := newTarget(srv.URL+"/", nil)
			if err != nil {
				t.Fatal(err)
			}
			conn := newConn(context.Background(), tg, time.Second)
			defer conn.close()
			for i := range 3 {
				status, b, err := conn.post([]byte(`{"n":` + strconv.Itoa(i) + `}`))
				if err != nil || status != 200 || string(b) != ok {
					t.Fatalf("request %d: %d %q %v", i, status, b, err)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if want := `POST /api/v1/device/auth application/json {"n":2}`; len(got) != 3 || got[2] != want {
				t.Fatalf("server saw %q, want 3 requests ending with %q", got, want)
			}
		})
	}
	t.Run("server-closed-idle", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, ok) }))
		defer srv.Close()
		tg, _ := newTarget(srv.URL, nil)
		conn := newConn(context.Background(), tg, time.Second)
		defer conn.close()
		for i := range 3 {
			if _, _, err := conn.post([]byte("{}")); err != nil {
				t.Fatalf("request %d: %v", i, err)
			}
			srv.CloseClientConnections() // as an idle timeout would
			time.Sleep(10 * time.Millisecond)
		}
	})
	t.Run("tls", func(t *testing.T) {
		srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, ok) }))
		defer srv.Close()
		roots := x509.NewCertPool()
		roots.AddCert(srv.Certificate())
		rep, err := Run(context.Background(), Config{Server: srv.URL, Secret: testSecret, Devices: 5, Concurrency: 2,
			TLS: &tls.Config{RootCAs: roots}})
		if err != nil || rep.Codes["200"] != 5 {
			t.Fatalf("%+v, %v", rep, err)
		}
		// Without the roots, the system's: the certificate is refused.
		rep, err = Run(context.Background(), Config{Server: srv.URL, Secret: testSecret, Devices: 1})
		if err != nil || rep.Errors["other"] != 1 || !strings.Contains(rep.FirstError, "certificate") {
			t.Fatalf("untrusted certificate: %+v, %v", rep, err)
		}
	})
	t.Run("interrupted-while-waiting", func(t *testing.T) {
		api := startFakeAPI(t, 3*time.Second)
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		rep, err := Run(ctx, Config{Server: api.URL, Secret: testSecret, Devices: 10, Concurrency: 2})
		if err != nil || !rep.Interrupted || rep.Requests != 0 || time.Since(start) > time.Second {
			t.Fatalf("after %v: %+v, %v", time.Since(start), rep, err)
		}
	})
}

func TestConfigValidation(t *testing.T) {
	ok := Config{Server: "http://127.0.0.1:1", Secret: "s", Devices: 1}
	cases := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"ok", func(*Config) {}, ""},
		{"fail/server", func(c *Config) { c.Server = "127.0.0.1:8080" }, "not an http"},
		{"fail/secret", func(c *Config) { c.Secret = "" }, "no template secret"},
		{"fail/mode", func(c *Config) { c.Mode = "old" }, "mode"},
		{"fail/tag", func(c *Config) { c.Tag = "a/b" }, "tag"},
		{"fail/no-bound", func(c *Config) { c.Devices = 0 }, "number of devices, a duration"},
		{"fail/sign", func(c *Config) { c.Sign = true }, "template id"},
		{"fail/broker", func(c *Config) { c.MQTT.Addr = "ssl://h:1" }, "broker"},
		{"fail/mqtt-bad-secret", func(c *Config) { c.MQTT.Addr, c.Mode = "h:1", ModeBadSecret }, "bad-secret"},
		{"fail/mqtt-unbounded", func(c *Config) { c.MQTT.Addr, c.Devices, c.Duration = "h:1", 0, time.Second }, "number of devices"},
		{"fail/publish-no-hold", func(c *Config) { c.MQTT.Addr, c.MQTT.PublishRate = "h:1", 10 }, "hold"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := ok
			c.edit(&cfg)
			_, err := cfg.withDefaults()
			if (err == nil) != (c.want == "") || err != nil && !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want %q", err, c.want)
			}
		})
	}
}

// startMochi starts a plain broker that refuses usernames starting with
// "u-bad" and accepts everything else.
func startMochi(t *testing.T) (*mochi.Server, string) {
	t.Helper()
	s := mochi.New(&mochi.Options{Logger: slog.New(slog.DiscardHandler)})
	if err := s.AddHook(new(refuseBadHook), nil); err != nil {
		t.Fatal(err)
	}
	l := listeners.NewTCP(listeners.Config{ID: "t", Address: "127.0.0.1:0"})
	if err := s.AddListener(l); err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	t.Cleanup(func() { s.Close() })
	return s, l.Address()
}

type refuseBadHook struct{ mochi.HookBase }

func (h *refuseBadHook) ID() string { return "refuse-bad" }

func (h *refuseBadHook) Provides(b byte) bool {
	return b == mochi.OnConnectAuthenticate || b == mochi.OnACLCheck
}

func (h *refuseBadHook) OnConnectAuthenticate(_ *mochi.Client, pk packets.Packet) bool {
	return !strings.HasPrefix(string(pk.Connect.Username), "u-bad")
}

func (h *refuseBadHook) OnACLCheck(*mochi.Client, string, bool) bool { return true }

func TestRunMQTT(t *testing.T) {
	api := startFakeAPI(t, 0)
	broker, addr := startMochi(t)
	var progress syncBuffer
	rep, err := Run(context.Background(), Config{Server: api.URL, Secret: testSecret, Tag: "m", Devices: 40, Concurrency: 8,
		Progress: &progress, ProgressEvery: 50 * time.Millisecond,
		MQTT: MQTTConfig{Addr: addr, Hold: 500 * time.Millisecond, PublishRate: 100}})
	if err != nil {
		t.Fatal(err)
	}
	m := rep.MQTT
	if m == nil || m.Sessions != 40 || m.Connected != 40 || len(m.Errors) != 0 || m.Lost != 0 {
		t.Fatalf("mqtt report %+v", m)
	}
	if m.ConnectsPerS <= 0 || m.P50Ms <= 0 || m.MaxMs < m.P99Ms || m.ClientBytesPerSession <= 0 {
		t.Fatalf("connect figures %+v", m)
	}
	// 100/s for 0.5s: about 50, acknowledged, and received by the broker.
	if m.Published < 25 || m.Published > 55 || m.HoldS < 0.5 {
		t.Fatalf("published %d in %vs", m.Published, m.HoldS)
	}
	if got := atomic.LoadInt64(&broker.Info.MessagesReceived); got < m.Published {
		t.Fatalf("broker received %d messages, report says %d", got, m.Published)
	}
	if !strings.Contains(progress.String(), "bench: mqtt hold") {
		t.Fatalf("no hold progress in %q", progress.String())
	}
	deadline := time.Now().Add(2 * time.Second)
	for atomic.LoadInt64(&broker.Info.ClientsConnected) != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := atomic.LoadInt64(&broker.Info.ClientsConnected); got != 0 {
		t.Fatalf("%d sessions left connected after the run", got)
	}
}

func TestRunMQTTRefusedAndRate(t *testing.T) {
	api := startFakeAPI(t, 0)
	_, addr := startMochi(t)
	// Devices "bad-1".."bad-20": their vouchers' usernames are "u-bad-…", refused.
	rep, err := Run(context.Background(), Config{Server: api.URL, Secret: testSecret, Tag: "bad", Devices: 20, Concurrency: 4,
		MQTT: MQTTConfig{Addr: "tcp://" + addr, ConnectRate: 100}})
	if err != nil {
		t.Fatal(err)
	}
	m := rep.MQTT
	// mochi answers a failed authentication of a 3.1.1 client with return
	// code 5 (otos: 4); either is a refusal.
	if m.Connected != 0 || m.Errors["refused_not_authorized"]+m.Errors["refused_bad_credentials"] != 20 {
		t.Fatalf("mqtt report %+v", m)
	}
	// 20 CONNECTs at 100/s: the last is due after 190ms.
	if m.ConnectS < 0.18 {
		t.Fatalf("20 connects at 100/s took %vs", m.ConnectS)
	}
}

func TestRunRepeatConnectsOnce(t *testing.T) {
	api := startFakeAPI(t, 0)
	_, addr := startMochi(t)
	rep, err := Run(context.Background(), Config{Server: api.URL, Secret: testSecret, Tag: "r", Mode: ModeRepeat, Devices: 10,
		MQTT: MQTTConfig{Addr: addr}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Repeat == nil || !rep.Repeat.Connected || rep.Repeat.FirstCode != 200 || rep.MQTT != nil || rep.Codes["200082"] != 10 {
		t.Fatalf("repeat %+v, mqtt %+v, codes %v", rep.Repeat, rep.MQTT, rep.Codes)
	}
}

func TestReportJSONAndText(t *testing.T) {
	api := startFakeAPI(t, 0)
	rep, err := Run(context.Background(), Config{Server: api.URL, Secret: testSecret, Tag: "j", Devices: 5, Mode: ModeRepeat})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"mode", "requests", "duration_s", "rps", "p50_ms", "p99_ms", "max_ms", "codes", "errors", "mqtt", "interrupted"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON report lacks %q: %s", k, b)
		}
	}
	var text strings.Builder
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"mode repeat", "5 requests", "throughput", "p99", "200082 (device exists) 5", "errors       none", "j-fixed"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, text.String())
		}
	}
}

// syncBuffer is a bytes.Buffer safe for the progress writer's goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
