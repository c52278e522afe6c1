package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/otos-iot/otos"
	"github.com/otos-iot/otos/webhook"
)

// receiver is a webhook endpoint on a free port that checks every
// delivery's signature and keeps the events it accepted, once each, and in
// the order each device's arrived. fail, when set, decides the answer.
type receiver struct {
	t        *testing.T
	srv      *httptest.Server
	secret   otos.Secret
	mu       sync.Mutex
	seen     map[string]int // event id → deliveries
	order    map[string][]string
	events   []*otos.Event
	bad      int // deliveries whose signature did not verify
	requests int // deliveries accepted
	fail     func(e *otos.Event) (status int, hang time.Duration)
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{t: t, seen: map[string]int{}, order: map[string][]string{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	secret, fail := r.secret, r.fail
	r.mu.Unlock()
	if err := webhook.Verify(secret, req.Header, body, time.Now(), 5*time.Minute); err != nil {
		r.mu.Lock()
		r.bad++
		r.mu.Unlock()
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	// One event, or a batch of them.
	var batch struct{ Events []*otos.Event }
	var one otos.Event
	if json.Unmarshal(body, &batch) != nil || len(batch.Events) == 0 {
		if err := json.Unmarshal(body, &one); err != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		batch.Events = []*otos.Event{&one}
	}
	if id := req.Header.Get(webhook.HeaderID); id != one.ID && id != otos.WebhookBatchID(batch.Events) {
		http.Error(w, "webhook-id is neither the event's nor its batch's", http.StatusBadRequest)
		return
	}
	if fail != nil {
		if status, hang := fail(batch.Events[0]); status != 0 || hang != 0 {
			time.Sleep(hang)
			w.WriteHeader(max(status, 200))
			if status >= 300 || hang > 0 {
				return
			}
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests++
	for _, e := range batch.Events {
		var d otos.EventData
		_ = json.Unmarshal(e.Data, &d)
		r.seen[e.ID]++
		if r.seen[e.ID] == 1 { // de-duplicated by id, as a receiver should
			r.events = append(r.events, e)
			r.order[d.DeviceNumber] = append(r.order[d.DeviceNumber], string(e.Type))
		}
	}
}

// waitFor waits until the receiver holds n events.
func (r *receiver) waitFor(n int, within time.Duration) []*otos.Event {
	r.t.Helper()
	deadline := time.Now().Add(within)
	for {
		r.mu.Lock()
		got := slices.Clone(r.events)
		r.mu.Unlock()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("the receiver has %d events after %v, want %d", len(got), within, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// createWebhook registers the receiver and keeps the secret it is given.
func (r *receiver) createWebhook(t *testing.T, s *testServer, types ...string) string {
	t.Helper()
	return r.createWebhookWith(t, s, map[string]any{}, types...)
}

// createWebhookWith is createWebhook with more fields in the request.
func (r *receiver) createWebhookWith(t *testing.T, s *testServer, body map[string]any, types ...string) string {
	t.Helper()
	body["url"] = r.srv.URL + "/hook"
	if len(types) > 0 {
		body["types"] = types
	}
	var created struct {
		ID     string `json:"id"`
		Secret string `json:"secret"`
	}
	s.admin(t, "POST", "/api/v1/webhooks", body, http.StatusCreated, &created)
	if !strings.HasPrefix(created.Secret, otos.WebhookSecretPrefix) {
		t.Fatalf("webhook secret %q", created.Secret)
	}
	r.mu.Lock()
	r.secret = otos.Secret(created.Secret)
	r.mu.Unlock()
	return created.ID
}

// quickWebhooks makes deliveries retry within a test's patience.
func quickWebhooks(c *Config) {
	c.WebhookAllowPrivate = true
	c.WebhookRetries = []time.Duration{50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond}
	c.WebhookTimeout = 300 * time.Millisecond
}

// TestWebhookDelivery: a webhook receives every event of its tenant,
// signed, each device's in order, from its creation on.
func TestWebhookDelivery(t *testing.T) {
	s := startServer(t, "", quickWebhooks)
	rcv := newReceiver(t)
	tp := s.createTemplate(t, nil)
	s.register(t, tp.Secret, "before-the-hook") // not delivered: it came first
	rcv.createWebhook(t, s)
	ids := map[string]string{}
	for _, n := range []string{"wh-1", "wh-2", "wh-3"} {
		ids[n], _ = s.register(t, tp.Secret, n)
	}
	s.register(t, tp.Secret, "wh-1") // re-issued: never connected
	s.admin(t, "POST", "/api/v1/devices/"+ids["wh-2"]+"/disable", nil, 200, nil)
	s.admin(t, "POST", "/api/v1/devices/"+ids["wh-2"]+"/enable", nil, 200, nil)
	s.admin(t, "POST", "/api/v1/devices/"+ids["wh-3"]+"/reset", nil, 200, nil)
	s.admin(t, "DELETE", "/api/v1/devices/"+ids["wh-3"], nil, 204, nil)
	got := rcv.waitFor(8, 5*time.Second)
	want := map[string]string{
		"wh-1": "device.registered device.reissued",
		"wh-2": "device.registered device.disabled device.enabled",
		"wh-3": "device.registered device.reset device.deleted",
	}
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	for n, w := range want {
		if g := strings.Join(rcv.order[n], " "); g != w {
			t.Errorf("%s received %q, want %q", n, g, w)
		}
	}
	time.Sleep(200 * time.Millisecond) // nothing more comes
	if len(rcv.order["before-the-hook"]) != 0 || rcv.bad != 0 || len(got) != 8 || len(rcv.events) != 8 {
		t.Errorf("%d events, %d with bad signatures, and %v for the device from before the hook", len(got), rcv.bad, rcv.order["before-the-hook"])
	}
	for id, n := range rcv.seen {
		if n != 1 {
			t.Errorf("event %s delivered %d times", id, n)
		}
	}
}

// TestWebhookRetries: an endpoint that fails, then hangs past the timeout,
// then recovers, receives every event in the end, each device's in order,
// and one whose retries are spent is parked as dead, listed, and sent again
// by an operator.
func TestWebhookRetries(t *testing.T) {
	s := startServer(t, "", quickWebhooks)
	rcv := newReceiver(t)
	tp := s.createTemplate(t, nil)
	hook := rcv.createWebhook(t, s, "device.registered", "device.disabled")
	var mu sync.Mutex
	tries := map[string]int{}
	rcv.fail = func(e *otos.Event) (int, time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		tries[e.ID]++
		var d otos.EventData
		_ = json.Unmarshal(e.Data, &d)
		switch {
		case d.DeviceNumber == "doomed":
			return http.StatusServiceUnavailable, 0 // always
		case tries[e.ID] == 1:
			return http.StatusInternalServerError, 0
		case tries[e.ID] == 2:
			return 0, time.Second // past the 300 ms timeout
		}
		return 0, 0
	}
	id1, _ := s.register(t, tp.Secret, "flaky-1")
	s.admin(t, "POST", "/api/v1/devices/"+id1+"/disable", nil, 200, nil)
	s.register(t, tp.Secret, "flaky-2")
	s.register(t, tp.Secret, "doomed")
	rcv.waitFor(3, 10*time.Second)
	rcv.mu.Lock()
	if g := strings.Join(rcv.order["flaky-1"], " "); g != "device.registered device.disabled" {
		t.Errorf("flaky-1 received %q: out of order", g)
	}
	rcv.mu.Unlock()

	// The doomed device's event: three retries, then dead.
	var dead otoshttpList
	deadline := time.Now().Add(5 * time.Second)
	for {
		s.admin(t, "GET", "/api/v1/webhooks/"+hook+"/deliveries?state=dead", nil, 200, &dead)
		if len(dead.Items) == 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(dead.Items) != 1 || dead.Items[0].Attempts != 4 || dead.Items[0].LastStatus != 503 ||
		dead.Items[0].EventType != otos.EventDeviceRegistered {
		t.Fatalf("dead deliveries: %+v", dead.Items)
	}
	out, err := s.runCLI(t, "webhook", "deliveries", hook)
	if err != nil || !strings.Contains(out, "dead") || !strings.Contains(out, dead.Items[0].EventID) {
		t.Errorf("otos webhook deliveries:\n%s", out)
	}
	mu.Lock()
	rcv.fail = nil // it recovered
	mu.Unlock()
	if out, err := s.runCLI(t, "webhook", "resend", hook, "--event", dead.Items[0].EventID); err != nil {
		t.Fatalf("otos webhook resend: %v\n%s", err, out)
	}
	rcv.waitFor(4, 5*time.Second)
	// The delivery is removed once its answer is in, a moment after the
	// receiver counted it.
	deadline = time.Now().Add(5 * time.Second)
	for {
		s.admin(t, "GET", "/api/v1/webhooks/"+hook+"/deliveries", nil, 200, &dead)
		if len(dead.Items) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(dead.Items) != 0 {
		t.Errorf("deliveries left after the re-send: %+v", dead.Items)
	}
}

// otoshttpList is a page of deliveries.
type otoshttpList struct {
	Items []otos.Delivery `json:"items"`
}

// TestWebhookRefusesPrivateAddresses: by default a webhook cannot aim at
// the network inside: an address literal is refused when it is created, a
// name that resolves inside is refused when it is delivered to.
func TestWebhookRefusesPrivateAddresses(t *testing.T) {
	s := startServer(t, "", nil)
	for _, u := range []string{"http://127.0.0.1:9/x", "http://[::1]/x", "http://10.1.2.3/x", "http://169.254.169.254/latest",
		"ftp://example.com/x", "http://user:pass@example.com/x", "not a url"} {
		status, body := s.as(t, s.Token, "POST", "/api/v1/webhooks", map[string]any{"url": u})
		if status != http.StatusBadRequest || !strings.Contains(string(body), `"field":"url"`) {
			t.Errorf("url %q: %d %s, want 400 naming url", u, status, body)
		}
	}
	status, body := s.as(t, s.Token, "POST", "/api/v1/webhooks", map[string]any{"url": "https://example.com/x", "types": []string{"device.exploded"}})
	if status != http.StatusBadRequest || !strings.Contains(string(body), `"field":"types"`) {
		t.Errorf("an unknown type: %d %s", status, body)
	}
	// A name is resolved at every delivery, and where it points is checked
	// on the connection: localhost gets nothing.
	rcv := newReceiver(t)
	local := strings.Replace(rcv.srv.URL, "127.0.0.1", "localhost", 1) + "/hook"
	var created struct{ ID string }
	s.admin(t, "POST", "/api/v1/webhooks", map[string]any{"url": local}, http.StatusCreated, &created)
	tp := s.createTemplate(t, nil)
	s.register(t, tp.Secret, "ssrf-1")
	var ds otoshttpList
	deadline := time.Now().Add(5 * time.Second)
	for len(ds.Items) < 2 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		s.admin(t, "GET", "/api/v1/webhooks/"+created.ID+"/deliveries", nil, 200, &ds)
	}
	for _, d := range ds.Items { // the template's creation, the registration
		if d.State != otos.DeliveryRetrying || !strings.Contains(d.LastError, "private") {
			t.Errorf("delivery to localhost: %+v", d)
		}
	}
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	if len(rcv.seen) != 0 {
		t.Errorf("the receiver on localhost got %d events", len(rcv.seen))
	}
}

// TestEventsReplay: a consumer that was away catches up from the last event
// it saw, page by page, sees only its tenant's events, and otos events tail
// prints new ones as they come.
func TestEventsReplay(t *testing.T) {
	s := startServer(t, "", nil)
	tp := s.createTemplate(t, nil)
	for _, n := range []string{"rp-1", "rp-2", "rp-3"} {
		s.register(t, tp.Secret, n)
	}
	type page struct {
		Items []otos.Event `json:"items"`
		After string       `json:"after"`
	}
	var all page
	s.admin(t, "GET", "/api/v1/events", nil, 200, &all)
	if len(all.Items) != 4 || all.Items[0].Type != otos.EventTemplateCreated || all.After != all.Items[3].ID {
		t.Fatalf("events: %+v", all)
	}
	var rest page
	s.admin(t, "GET", "/api/v1/events?limit=2&after="+all.Items[0].ID, nil, 200, &rest)
	if len(rest.Items) != 2 || rest.Items[0].ID != all.Items[1].ID || rest.After != all.Items[2].ID {
		t.Fatalf("two after the first: %+v", rest)
	}
	s.admin(t, "GET", "/api/v1/events?after="+all.After, nil, 200, &rest)
	if len(rest.Items) != 0 || rest.After != all.After {
		t.Fatalf("after the last: %+v", rest)
	}
	// cursor, the other lists' page parameter, means after here.
	s.admin(t, "GET", "/api/v1/events?limit=1&cursor="+all.Items[1].ID, nil, 200, &rest)
	if len(rest.Items) != 1 || rest.Items[0].ID != all.Items[2].ID {
		t.Fatalf("one after cursor=the second: %+v", rest)
	}
	if status, body := s.as(t, s.Token, "GET", "/api/v1/events?cursor="+all.Items[1].ID+"&after="+all.Items[0].ID, nil); status != 400 ||
		!strings.Contains(string(body), `"field":"cursor"`) {
		t.Errorf("cursor and after that differ: %d %s", status, body)
	}
	if status, body := s.as(t, s.Token, "GET", "/api/v1/events?after=01900000-0000-7000-8000-000000000000", nil); status != 400 ||
		!strings.Contains(string(body), `"field":"after"`) {
		t.Errorf("after an unknown event: %d %s", status, body)
	}
	// Another tenant's token sees none of these.
	var b otos.Tenant
	s.admin(t, "POST", "/api/v1/tenants", map[string]any{"name": "replay B"}, http.StatusCreated, &b)
	tok := s.newToken(t, s.Token, map[string]any{"role": "viewer", "tenant_id": b.ID})
	var theirs page
	s.asOK(t, tok.Token, "GET", "/api/v1/events", nil, 200, &theirs)
	if len(theirs.Items) != 0 {
		t.Errorf("tenant B sees %d of the default tenant's events", len(theirs.Items))
	}

	// otos events tail: from now on, one JSON object a line.
	ctx, stop := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan error, 1)
	env := func(k string) string {
		return map[string]string{"OTOS_SERVER": s.URL, "OTOS_TOKEN": s.Token}[k]
	}
	go func() { done <- run(ctx, []string{"events", "tail"}, &out, io.Discard, env) }()
	time.Sleep(300 * time.Millisecond) // it has skipped to the newest
	s.register(t, tp.Secret, "rp-4")
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), "rp-4") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var e otos.Event
	if len(lines) != 1 || json.Unmarshal([]byte(lines[0]), &e) != nil || e.Type != otos.EventDeviceRegistered {
		t.Errorf("otos events tail printed %q, want the one new registration", out.String())
	}
}

// TestEventsOverMQTT: a service account receives its tenant's events on
// otos/<tenant>/events/<type>, and a retained online/offline on
// otos/<tenant>/<number>/status; another tenant's account may not
// subscribe to them.
func TestEventsOverMQTT(t *testing.T) {
	s := startBroker(t, nil)
	acct, err := s.Service.Admin.CreateServiceAccount(t.Context(), systemAdmin, "", "events")
	if err != nil {
		t.Fatal(err)
	}
	tenant := otos.DefaultTenantID
	c := connect5(t, s.MQTTAddr(), "events-consumer", acct.Username, acct.Password)
	for _, f := range []string{"otos/" + tenant + "/events/#", "otos/" + tenant + "/+/status"} {
		if rc := c.subscribe(t, f); rc > 2 {
			t.Fatalf("subscribe %s: reason %#x", f, rc)
		}
	}
	tp := s.createTemplate(t, nil)
	_, v := s.register(t, tp.Secret, "mq-ev-1")
	dev, err := connect3(t, "tcp://"+s.MQTTAddr(), "mq-ev-1", v.Username, v.Password, nil)
	if err != nil {
		t.Fatal(err)
	}
	dev.Disconnect(100)
	want := []string{
		"otos/" + tenant + "/events/template.created",
		"otos/" + tenant + "/events/device.registered",
		"otos/" + tenant + "/events/device.connected",
		"otos/" + tenant + "/mq-ev-1/status online",
		"otos/" + tenant + "/events/device.disconnected",
		"otos/" + tenant + "/mq-ev-1/status offline",
	}
	var got []string
	for len(got) < len(want) {
		m, ok := c.next(5 * time.Second)
		if !ok {
			break
		}
		g := m.Topic
		if strings.HasSuffix(m.Topic, "/status") {
			g += " " + string(m.Payload)
		} else {
			var e otos.Event
			if err := json.Unmarshal(m.Payload, &e); err != nil || !strings.HasSuffix(m.Topic, string(e.Type)) || e.TenantID != tenant {
				t.Errorf("event on %s: %s", m.Topic, m.Payload)
			}
		}
		got = append(got, g)
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("received\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// A newcomer gets the retained status at once.
	late := connect5(t, s.MQTTAddr(), "late-consumer", acct.Username, acct.Password)
	late.subscribe(t, "otos/"+tenant+"/mq-ev-1/status")
	if m, ok := late.next(2 * time.Second); !ok || string(m.Payload) != "offline" || !m.Retain {
		t.Errorf("retained status for a new subscriber: %+v", m)
	}
	// Another tenant's account may not listen in.
	other, err := s.Service.Admin.CreateTenant(t.Context(), systemAdmin, "other")
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := s.Service.Admin.CreateServiceAccount(t.Context(), systemAdmin, other.ID, "theirs")
	if err != nil {
		t.Fatal(err)
	}
	spy := connect5(t, s.MQTTAddr(), "spy", theirs.Username, theirs.Password)
	if rc := spy.subscribe(t, "otos/"+tenant+"/events/#"); rc < 0x80 {
		t.Errorf("another tenant's account subscribed to this tenant's events: reason %#x", rc)
	}
}

// TestWebhookBatches: a webhook with batch_size receives its events in
// requests of up to that many, in order; a failed request is retried, and
// its events still arrive, each device's in order.
func TestWebhookBatches(t *testing.T) {
	s := startServer(t, "", quickWebhooks)
	rcv := newReceiver(t)
	var failed atomic.Bool
	rcv.fail = func(*otos.Event) (int, time.Duration) {
		if !failed.Swap(true) {
			return http.StatusBadGateway, 0 // the first request
		}
		return 0, 0
	}
	tp := s.createTemplate(t, nil)
	rcv.createWebhookWith(t, s, map[string]any{"batch_size": 50}, "device.registered", "device.disabled")
	const devices = 120
	for i := range devices {
		id, _ := s.register(t, tp.Secret, fmt.Sprintf("batch-%d", i))
		if i%3 == 0 {
			s.admin(t, "POST", "/api/v1/devices/"+id+"/disable", nil, 200, nil)
		}
	}
	rcv.waitFor(devices+devices/3, 10*time.Second)
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	for n, o := range rcv.order {
		if o[0] != "device.registered" {
			t.Errorf("%s received %v: out of order", n, o)
		}
	}
	if rcv.requests >= devices/2 || rcv.bad != 0 {
		t.Errorf("%d requests (%d badly signed) for %d events: not batched", rcv.requests, rcv.bad, len(rcv.events))
	}
	if status, body := s.as(t, s.Token, "POST", "/api/v1/webhooks", map[string]any{"url": "https://example.com/x", "batch_size": 101}); status != 400 ||
		!strings.Contains(string(body), `"field":"batch_size"`) {
		t.Errorf("batch_size 101: %d %s", status, body)
	}
}
