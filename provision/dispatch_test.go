package provision

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/otos-iot/otos"
	"github.com/otos-iot/otos/sqlite"
)

// endpoint is a webhook receiver in memory: it answers as answer says (nil:
// at once, 2xx) and records what it received, in order.
type endpoint struct {
	answer func(ctx context.Context, e *otos.Event) error
	// active counts the requests in flight; overlap is set when two were
	// at once.
	active  atomic.Int32
	overlap atomic.Bool

	mu  sync.Mutex
	got []*otos.Event
}

func (p *endpoint) Deliver(ctx context.Context, _ string, _ otos.Secret, e *otos.Event, _ []byte) (int, error) {
	if p.active.Add(1) > 1 {
		p.overlap.Store(true)
	}
	defer p.active.Add(-1)
	if p.answer != nil {
		if err := p.answer(ctx, e); err != nil {
			return 503, err
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.got = append(p.got, e)
	return 200, nil
}

// subjects returns the subjects of what p received, in order.
func (p *endpoint) subjects() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, e := range p.got {
		out = append(out, e.Subject)
	}
	return out
}

// firstArrivalsOf returns the ids of the events about subject that p
// received, each once, in the order it first came.
func (p *endpoint) firstArrivalsOf(subject string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, e := range p.got {
		if e.Subject == subject && !slices.Contains(out, e.ID) {
			out = append(out, e.ID)
		}
	}
	return out
}

// idsOf returns the ids of the events of es about subject, in order.
func idsOf(es []*otos.Event, subject string) []string {
	var out []string
	for _, e := range es {
		if e.Subject == subject {
			out = append(out, e.ID)
		}
	}
	return out
}

// hang answers once ctx ends, with its error: an endpoint that never
// answers. It signals entered first.
func hang(entered chan<- struct{}) func(context.Context, *otos.Event) error {
	return func(ctx context.Context, _ *otos.Event) error {
		select {
		case entered <- struct{}{}:
		default:
		}
		<-ctx.Done()
		return ctx.Err()
	}
}

// slow answers after d, or with ctx's error when it ends first.
func slow(d time.Duration) func(context.Context, *otos.Event) error {
	return func(ctx context.Context, _ *otos.Event) error {
		select {
		case <-time.After(d):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

const hookTenant = "00000000-0000-0000-0000-0000000000aa"

// hookFixture is a store with a tenant and a webhook of it.
type hookFixture struct {
	t     *testing.T
	store *sqlite.DB
	keys  *Keyring
	hook  *otos.Webhook
}

func newHookFixture(t *testing.T) *hookFixture {
	t.Helper()
	store, err := sqlite.Open(filepath.Join(t.TempDir(), "otos.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	keys, err := NewKeyring(make([]byte, KeySize))
	if err != nil {
		t.Fatal(err)
	}
	if err := store.CreateTenant(t.Context(), &otos.Tenant{ID: hookTenant, Name: "t", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	w := &otos.Webhook{TenantID: hookTenant, URL: "https://example.com/hook"}
	s := New(Config{Store: store, Keys: keys})
	if _, err := s.Admin.CreateWebhook(t.Context(), &otos.Principal{Role: otos.RoleAdmin}, w); err != nil {
		t.Fatal(err)
	}
	return &hookFixture{t: t, store: store, keys: keys, hook: w}
}

// node returns the dispatcher of a node that delivers to ep, its lease
// and round budget shortened when not 0.
func (f *hookFixture) node(name string, ep *endpoint, lease, budget time.Duration) *dispatcher {
	s := New(Config{Store: f.store, Keys: f.keys, Deliverer: ep, Node: name, WebhookTimeout: time.Second})
	s.dispatch.lease, s.dispatch.budget = lease, budget
	return s.dispatch
}

// append writes an event about each subject, in order, and returns them
// with their positions.
func (f *hookFixture) append(subjects ...string) []*otos.Event {
	f.t.Helper()
	c := New(Config{Store: f.store, Keys: f.keys}).core
	es := make([]*otos.Event, len(subjects))
	for i, s := range subjects {
		es[i] = c.event(otos.EventDeviceConnected, hookTenant, s, otos.EventData{DeviceID: s})
	}
	ctx := f.t.Context()
	if err := f.store.AppendEvents(ctx, es); err != nil {
		f.t.Fatal(err)
	}
	for _, e := range es {
		pos, err := f.store.EventPos(ctx, e.ID)
		if err != nil {
			f.t.Fatal(err)
		}
		e.Pos = pos
	}
	return es
}

// keep stores a delivery in state for each of es, as node "A" would have,
// and moves the cursor past them.
func (f *hookFixture) keep(state otos.DeliveryState, es ...*otos.Event) {
	f.t.Helper()
	ctx, now := f.t.Context(), time.Now()
	var ds []*otos.Delivery
	for _, e := range es {
		ds = append(ds, &otos.Delivery{WebhookID: f.hook.ID, Pos: e.Pos, Subject: e.Subject, State: state,
			Attempts: 1, NextAt: now.Add(time.Hour), UpdatedAt: now})
	}
	if _, err := f.store.LeaseWebhook(ctx, f.hook.ID, "A", now.Add(time.Minute), now); err != nil {
		f.t.Fatal(err)
	}
	if err := f.store.AdvanceWebhook(ctx, f.hook.ID, "A", es[len(es)-1].Pos, ds, now); err != nil {
		f.t.Fatal(err)
	}
}

// cursor returns the webhook's cursor.
func (f *hookFixture) cursor() int64 {
	f.t.Helper()
	w, err := f.store.Webhook(f.t.Context(), f.hook.ID)
	if err != nil {
		f.t.Fatal(err)
	}
	return w.Cursor
}

// deliveries returns the webhook's kept deliveries in state ("": any).
func (f *hookFixture) deliveries(state otos.DeliveryState) []*otos.Delivery {
	f.t.Helper()
	ds, _, err := f.store.Deliveries(f.t.Context(), otos.DeliveryFilter{WebhookID: f.hook.ID, State: state, Limit: 100})
	if err != nil {
		f.t.Fatal(err)
	}
	return ds
}

func numbered(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return out
}

// TestDeadDeliveriesDoNotStallWebhook: a page's worth of dead deliveries
// (an endpoint that refused one kind of event for a day) holds back no
// later event: the dead wait for an operator, out of the way.
func TestDeadDeliveriesDoNotStallWebhook(t *testing.T) {
	f := newHookFixture(t)
	f.keep(otos.DeliveryDead, f.append(numbered("old", maxDeliveryRead)...)...)
	fresh := f.append("fresh")
	ep := &endpoint{}
	f.node("A", ep, 0, 0).round(t.Context(), f.hook.ID)
	if got := ep.subjects(); !slices.Equal(got, []string{"fresh"}) {
		t.Errorf("a healthy endpoint received %v, want the fresh event", got)
	}
	if f.cursor() != fresh[0].Pos {
		t.Errorf("cursor %d, want %d", f.cursor(), fresh[0].Pos)
	}
}

// TestFullDeliveryWindowHoldsBackOnlyWaitingDevices: with more deliveries
// pending than a round reads, a device with one beyond those read still
// waits behind it, and so does one read but not due; every other device's
// events go on.
func TestFullDeliveryWindowHoldsBackOnlyWaitingDevices(t *testing.T) {
	f := newHookFixture(t)
	f.keep(otos.DeliveryRetrying, f.append(append(numbered("s", maxDeliveryRead), "late")...)...)
	f.append("late", "fresh", "s-0")
	ep := &endpoint{}
	f.node("A", ep, 0, 0).round(t.Context(), f.hook.ID)
	if got := ep.subjects(); !slices.Equal(got, []string{"fresh"}) {
		t.Errorf("the endpoint received %v, want only the device with nothing pending", got)
	}
	var waiting []string
	for _, d := range f.deliveries(otos.DeliveryWaiting) {
		waiting = append(waiting, d.Subject)
	}
	if !slices.Equal(waiting, []string{"late", "s-0"}) {
		t.Errorf("waiting deliveries of %v, want late and s-0", waiting)
	}
}

// TestDeadDeliveryLetsItsDeviceGoOn: once a device's delivery is parked as
// dead, the events that waited behind it, and its new ones, go on, in
// order.
func TestDeadDeliveryLetsItsDeviceGoOn(t *testing.T) {
	f := newHookFixture(t)
	es := f.append("x", "x")
	f.keep(otos.DeliveryDead, es[0])
	f.keep(otos.DeliveryWaiting, es[1])
	es = append(es, f.append("x")...)
	ep := &endpoint{}
	f.node("A", ep, 0, 0).round(t.Context(), f.hook.ID)
	if got := ep.firstArrivalsOf("x"); !slices.Equal(got, []string{es[1].ID, es[2].ID}) {
		t.Errorf("received %v, want the waiting event then the new one", got)
	}
	if ds := f.deliveries(""); len(ds) != 1 || ds[0].Pos != es[0].Pos || ds[0].State != otos.DeliveryDead {
		t.Errorf("deliveries left %+v, want the dead one", ds)
	}
}

// TestLeaseRenewedDuringLongRound: a round that lasts many times its lease
// renews it, so that no other node delivers meanwhile; cut short by its
// budget, it moves the cursor past nothing it did not deliver, and counts
// no failed attempt.
func TestLeaseRenewedDuringLongRound(t *testing.T) {
	f := newHookFixture(t)
	start := f.cursor()
	e := f.append("dev1")[0]
	entered := make(chan struct{}, 1)
	epA, epB := &endpoint{answer: hang(entered)}, &endpoint{}
	a := f.node("A", epA, 200*time.Millisecond, time.Second)
	b := f.node("B", epB, 200*time.Millisecond, 0)
	done := make(chan struct{})
	began := time.Now()
	go func() { defer close(done); a.round(t.Context(), f.hook.ID) }()
	<-entered
	for waiting := true; waiting; {
		select {
		case <-done:
			waiting = false
		case <-time.After(20 * time.Millisecond):
			b.round(t.Context(), f.hook.ID)
		}
	}
	if took := time.Since(began); took < 900*time.Millisecond {
		t.Errorf("A's round ended after %v, before its budget of 1s: its lease was lost", took)
	}
	if got := epB.subjects(); len(got) != 0 {
		t.Errorf("B delivered %v while A's round held the lease", got)
	}
	if f.cursor() != start || len(f.deliveries("")) != 0 {
		t.Errorf("cursor %d (want %d), deliveries %+v after a round cut short", f.cursor(), start, f.deliveries(""))
	}
	epA.answer = nil
	a.round(t.Context(), f.hook.ID)
	if got := epA.subjects(); !slices.Equal(got, []string{"dev1"}) || f.cursor() != e.Pos {
		t.Errorf("the next round: received %v, cursor %d, want dev1 and %d", got, f.cursor(), e.Pos)
	}
}

// TestRoundStopsWhenLeaseLost: when the lease cannot be renewed (another
// node has it), the round stops sending at once and advances nothing.
func TestRoundStopsWhenLeaseLost(t *testing.T) {
	f := newHookFixture(t)
	start := f.cursor()
	f.append("dev1")
	entered := make(chan struct{}, 1)
	a := f.node("A", &endpoint{answer: hang(entered)}, 200*time.Millisecond, 10*time.Second)
	a.timeout = 10 * time.Second
	done := make(chan struct{})
	go func() { defer close(done); a.round(t.Context(), f.hook.ID) }()
	<-entered
	later := time.Now().Add(time.Hour) // A's lease has ended by then
	if _, err := f.store.LeaseWebhook(t.Context(), f.hook.ID, "B", later.Add(time.Hour), later); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("A's round went on sending 2s after it lost its lease")
	}
	if f.cursor() != start || len(f.deliveries("")) != 0 {
		t.Errorf("cursor %d (want %d), deliveries %+v after the lease was lost", f.cursor(), start, f.deliveries(""))
	}
}

// TestCutShortRoundAdvancesPastSettledEvents: when a round runs out of
// time, the cursor moves past the events settled before the first that was
// not, so that a slow endpoint makes progress round by round, and every
// event arrives, each device's in order.
func TestCutShortRoundAdvancesPastSettledEvents(t *testing.T) {
	f := newHookFixture(t)
	start := f.cursor()
	es := f.append("slow", "fast", "slow", "fast", "slow", "fast", "slow")
	slowly := slow(80 * time.Millisecond)
	ep := &endpoint{answer: func(ctx context.Context, e *otos.Event) error {
		if e.Subject == "slow" {
			return slowly(ctx, e)
		}
		return nil
	}}
	a := f.node("A", ep, 400*time.Millisecond, 200*time.Millisecond) // a round has time for two slow events
	for last, round := start, 1; last != es[len(es)-1].Pos; round++ {
		if round > len(es) {
			t.Fatalf("after %d rounds the cursor is at %d, want %d", round, last, es[len(es)-1].Pos)
		}
		a.round(t.Context(), f.hook.ID)
		cur := f.cursor()
		if cur <= last {
			t.Fatalf("round %d: cursor %d, made no progress from %d", round, cur, last)
		}
		if round == 1 && cur == es[len(es)-1].Pos {
			t.Fatal("the first round delivered every event: it was not cut short")
		}
		last = cur
	}
	for _, dev := range []string{"slow", "fast"} {
		if got, want := ep.firstArrivalsOf(dev), idsOf(es, dev); !slices.Equal(got, want) {
			t.Errorf("%s's events arrived first as %v, want %v", dev, got, want)
		}
	}
	if ds := f.deliveries(""); len(ds) != 0 {
		t.Errorf("deliveries left %+v", ds)
	}
}

// TestTwoNodesNeverDeliverAtOnce: two nodes delivering one webhook to a
// slow endpoint, whose rounds outlast nothing but are cut short again and
// again, take turns: never two requests at once, and the cursor reaches the
// end with every event delivered in order.
func TestTwoNodesNeverDeliverAtOnce(t *testing.T) {
	f := newHookFixture(t)
	es := f.append(slices.Repeat([]string{"dev1"}, 12)...) // one device: one request at a time on a node
	ep := &endpoint{answer: slow(40 * time.Millisecond)}   // both nodes'
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	for _, name := range []string{"A", "B"} {
		d := f.node(name, ep, 200*time.Millisecond, 0)
		d.timeout = 80 * time.Millisecond
		wg.Go(func() { d.work(ctx, f.hook.ID) })
	}
	deadline := time.Now().Add(20 * time.Second)
	for f.cursor() != es[len(es)-1].Pos && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	if f.cursor() != es[len(es)-1].Pos {
		t.Fatalf("cursor %d after 20s, want %d", f.cursor(), es[len(es)-1].Pos)
	}
	if ep.overlap.Load() {
		t.Error("both nodes delivered at once")
	}
	if got, want := ep.firstArrivalsOf("dev1"), idsOf(es, "dev1"); !slices.Equal(got, want) {
		t.Errorf("events arrived first as %v, want %v", got, want)
	}
}
