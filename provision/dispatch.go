package provision

import (
	"cmp"
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/otos-iot/otos"
)

// DefaultWebhookRetries are the waits between the attempts of a delivery
// that fails: about 17 hours in all, then it is parked as dead.
var DefaultWebhookRetries = []time.Duration{5 * time.Second, 30 * time.Second, 2 * time.Minute, 5 * time.Minute,
	15 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour, 4 * time.Hour, 8 * time.Hour}

// DefaultWebhookTimeout bounds one delivery attempt.
const DefaultWebhookTimeout = 10 * time.Second

// Dispatch settings.
const (
	dispatchTick    = 500 * time.Millisecond // how often each webhook looks for work
	refreshEvery    = 2 * time.Second        // how often the list of webhooks is read
	defaultLease    = 30 * time.Second       // how long a node delivers a webhook without renewing
	eventsPerRound  = 500                    // new events read at once
	subjectsAtOnce  = 8                      // devices delivered to in parallel, per webhook
	maxDeliveryRead = otos.MaxPageLimit      // kept deliveries looked at per round
	maxErrorLen     = 500
)

// dispatcher delivers every tenant's events to its webhooks: one worker per
// webhook, so that a slow or dead endpoint delays no other, and of nodes
// sharing a store, one at a time per webhook (its lease). A device's events
// reach a webhook in order: when one fails, the later ones of that device
// wait behind it, while other devices' go on. Delivery is at least once.
type dispatcher struct {
	c       *core
	deliver otos.Deliverer
	node    string
	retries []time.Duration
	timeout time.Duration // of one request; below the round's budget
	log     *slog.Logger
	// lease is how long a node holds a webhook without renewing it
	// (0: defaultLease), budget how long a round may send (0: half the
	// lease); tests shorten them.
	lease, budget time.Duration

	mu      sync.Mutex
	workers map[string]context.CancelFunc
}

// run keeps one worker per webhook until ctx ends.
func (d *dispatcher) run(ctx context.Context) {
	d.workers = map[string]context.CancelFunc{}
	var wg sync.WaitGroup
	defer wg.Wait()
	t := time.NewTicker(refreshEvery)
	defer t.Stop()
	for {
		ids, err := d.webhookIDs(ctx)
		if err == nil {
			d.mu.Lock()
			for id, stop := range d.workers {
				if !ids[id] {
					stop()
					delete(d.workers, id)
				}
			}
			for id := range ids {
				if d.workers[id] == nil {
					wctx, stop := context.WithCancel(ctx)
					d.workers[id] = stop
					wg.Go(func() { d.work(wctx, id) })
				}
			}
			d.mu.Unlock()
		} else if ctx.Err() == nil {
			d.log.Warn("webhooks: list", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// webhookIDs returns the ids of every webhook.
func (d *dispatcher) webhookIDs(ctx context.Context) (map[string]bool, error) {
	ids := map[string]bool{}
	cursor := ""
	for {
		ws, next, err := d.c.store.Webhooks(ctx, otos.WebhookFilter{Page: otos.Page{Limit: otos.MaxPageLimit, Cursor: cursor}})
		if err != nil {
			return nil, err
		}
		for _, w := range ws {
			ids[w.ID] = true
		}
		if next == "" {
			return ids, nil
		}
		cursor = next
	}
}

// work delivers webhook id's events until ctx ends.
func (d *dispatcher) work(ctx context.Context, id string) {
	t := time.NewTicker(dispatchTick)
	defer t.Stop()
	for {
		for d.round(ctx, id) && ctx.Err() == nil {
			// a full page of new events: go on at once
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// round does one round of webhook id's deliveries, if this node holds its
// lease: the kept deliveries that are due, then the new events. It reports
// whether more new events may be waiting.
//
// Sending stops when the round's budget is spent, well within the lease, or
// when the lease cannot be renewed: before another node may take over, so
// that two nodes never deliver a webhook at once. The store writes go on
// with ctx, to record what was sent.
func (d *dispatcher) round(ctx context.Context, id string) bool {
	lease := cmp.Or(d.lease, defaultLease)
	now := d.c.now()
	w, err := d.c.store.LeaseWebhook(ctx, id, d.node, now.Add(lease), now)
	if err != nil {
		if code := otos.ErrorCode(err); code != otos.ECONFLICT && code != otos.ENOTFOUND && ctx.Err() == nil {
			d.log.Warn("webhook: lease", "webhook_id", id, "err", err)
		}
		return false
	}
	secret, err := d.c.keys.Open(w.Sealed)
	if err != nil {
		d.log.Error("webhook: open secret", "webhook_id", id, "err", err)
		return false
	}
	send, cut := context.WithTimeout(ctx, cmp.Or(d.budget, lease/2))
	defer cut()
	defer d.hold(ctx, id, lease, cut)()
	blocked, full, err := d.retry(ctx, send, w, secret)
	if err != nil || send.Err() != nil {
		if err != nil && ctx.Err() == nil {
			d.log.Warn("webhook: retry deliveries", "webhook_id", id, "err", err)
		}
		return false
	}
	more, err := d.advance(ctx, send, w, secret, blocked, full)
	if err != nil && ctx.Err() == nil {
		d.log.Warn("webhook: deliver events", "webhook_id", id, "err", err)
	}
	return more && err == nil
}

// hold renews this node's lease on webhook id every quarter of the lease
// until the function it returns is called, and calls cut when a renewal
// fails or hangs: the round must stop sending before the lease may end.
func (d *dispatcher) hold(ctx context.Context, id string, lease time.Duration, cut context.CancelFunc) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(lease / 4)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			rctx, rcancel := context.WithTimeout(ctx, lease/4)
			now := d.c.now()
			_, err := d.c.store.LeaseWebhook(rctx, id, d.node, now.Add(lease), now)
			rcancel()
			if err != nil {
				if ctx.Err() == nil {
					d.log.Warn("webhook: lease not renewed; round cut short", "webhook_id", id, "err", err)
					cut()
				}
				return
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// retry attempts the kept deliveries that are due, each device's first one
// and, when it succeeds, the ones behind it; sending stops with send. It
// returns the devices that still have a delivery pending, whose new events
// must wait, and whether there may be more pending than it read.
func (d *dispatcher) retry(ctx, send context.Context, w *otos.Webhook, secret otos.Secret) (map[string]bool, bool, error) {
	// Dead deliveries wait for an operator, not in the way of the others.
	ds, es, err := d.c.store.Deliveries(ctx, otos.DeliveryFilter{WebhookID: w.ID, Live: true, Limit: maxDeliveryRead})
	if err != nil {
		return nil, false, err
	}
	bySubject := map[string][]int{}
	var order []string
	for i, dl := range ds {
		if bySubject[dl.Subject] == nil {
			order = append(order, dl.Subject)
		}
		bySubject[dl.Subject] = append(bySubject[dl.Subject], i)
	}
	var mu sync.Mutex
	blocked := map[string]bool{}
	d.each(order, func(subject string) {
		pending := bySubject[subject] // the map is only read here: goroutines share it
		for _, i := range bySubject[subject] {
			dl, e := ds[i], es[i]
			if dl.State == otos.DeliveryRetrying && d.c.now().Before(dl.NextAt) {
				break
			}
			if !d.attempt(ctx, send, w, secret, dl, e) {
				break
			}
			if err := d.c.store.DeleteDelivery(ctx, w.ID, dl.Pos); err != nil {
				d.log.Warn("webhook: delete delivery", "webhook_id", w.ID, "err", err)
				break
			}
			pending = pending[1:]
		}
		if len(pending) > 0 {
			mu.Lock()
			blocked[subject] = true
			mu.Unlock()
		}
	})
	return blocked, len(ds) == maxDeliveryRead, nil
}

// attempt delivers e once as dl, and on failure stores dl's next attempt,
// or parks it as dead when the retries are spent. It reports success. An
// attempt that send cut short counts for nothing: it is made again.
func (d *dispatcher) attempt(ctx, send context.Context, w *otos.Webhook, secret otos.Secret, dl *otos.Delivery, e *otos.Event) bool {
	status, err := d.send(send, w, secret, e)
	if err == nil {
		return true
	}
	if send.Err() != nil {
		return false
	}
	now := d.c.timestamp()
	dl.Attempts++
	dl.LastStatus, dl.LastError, dl.UpdatedAt = status, truncate(err.Error()), now
	if dl.Attempts > len(d.retries) {
		dl.State = otos.DeliveryDead
		d.log.Warn("webhook: delivery given up", "webhook_id", w.ID, "event_id", e.ID, "attempts", dl.Attempts)
	} else {
		dl.State, dl.NextAt = otos.DeliveryRetrying, now.Add(d.retries[dl.Attempts-1])
	}
	if err := d.c.store.UpdateDelivery(ctx, dl); err != nil {
		d.log.Warn("webhook: update delivery", "webhook_id", w.ID, "err", err)
	}
	return false
}

// send posts es to w's endpoint in one request: the event itself as the
// body, or for a webhook that takes batches {"events":[…]}, whose
// webhook-id is otos.WebhookBatchID's: the Deliverer is handed the first
// event under that id.
func (d *dispatcher) send(ctx context.Context, w *otos.Webhook, secret otos.Secret, es ...*otos.Event) (int, error) {
	e := es[0]
	var body []byte
	var err error
	if w.BatchSize > 1 {
		body, err = json.Marshal(struct {
			Events []*otos.Event `json:"events"`
		}{es})
		batch := *e
		batch.ID = otos.WebhookBatchID(es)
		e = &batch
	} else {
		body, err = json.Marshal(e)
	}
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	return d.deliver.Deliver(ctx, w.URL, secret, e, body)
}

// advance delivers the events after w's cursor that it wants, a device's in
// order; what fails, and what of that device follows, is kept to retry.
// full says that blocked may not name every device with a delivery
// pending. When send cuts the round short, the cursor moves only past the
// events settled (delivered, kept or not wanted) before the first that is
// not: the rest are read again, and some delivered again. It reports
// whether more events may be waiting.
func (d *dispatcher) advance(ctx, send context.Context, w *otos.Webhook, secret otos.Secret, blocked map[string]bool, full bool) (bool, error) {
	es, err := d.c.store.Events(ctx, otos.EventFilter{TenantID: w.TenantID, After: w.Cursor, Limit: eventsPerRound})
	if err != nil || len(es) == 0 {
		return false, err
	}
	if full {
		if err := d.waitBehind(ctx, w, es, blocked); err != nil {
			return false, err
		}
	}
	var kept []*otos.Delivery
	var done int
	if w.BatchSize > 1 {
		kept, done = d.sendBatches(send, w, secret, blocked, es)
	} else {
		kept, done = d.sendEach(send, w, secret, blocked, es)
	}
	if done == 0 {
		return false, nil
	}
	cursor := es[done-1].Pos
	kept = slices.DeleteFunc(kept, func(dl *otos.Delivery) bool { return dl.Pos > cursor })
	err = d.c.store.AdvanceWebhook(ctx, w.ID, d.node, cursor, kept, d.c.now())
	return done < len(es) || len(es) == eventsPerRound, err
}

// waitBehind adds to blocked the devices of es that have a delivery pending
// beyond those retry read, so that their new events do not overtake it.
func (d *dispatcher) waitBehind(ctx context.Context, w *otos.Webhook, es []*otos.Event, blocked map[string]bool) error {
	var subjects []string
	seen := map[string]bool{}
	for _, e := range es {
		if w.Wants(e.Type) && !blocked[e.Subject] && !seen[e.Subject] {
			seen[e.Subject] = true
			subjects = append(subjects, e.Subject)
		}
	}
	pending, err := d.c.store.PendingSubjects(ctx, w.ID, subjects)
	for _, s := range pending {
		blocked[s] = true
	}
	return err
}

// sendEach sends es one a request, devices in parallel, each device's in
// order, and returns what is kept: a device's first failed event, to retry,
// and its later ones, waiting behind it; and how many of es, from the
// first, are settled.
func (d *dispatcher) sendEach(ctx context.Context, w *otos.Webhook, secret otos.Secret, blocked map[string]bool, es []*otos.Event) ([]*otos.Delivery, int) {
	settled := make([]bool, len(es)) // each device's goroutine sets its own
	bySubject := map[string][]int{}
	var order []string
	for i, e := range es {
		if !w.Wants(e.Type) {
			settled[i] = true
			continue
		}
		if bySubject[e.Subject] == nil {
			order = append(order, e.Subject)
		}
		bySubject[e.Subject] = append(bySubject[e.Subject], i)
	}
	var mu sync.Mutex
	var kept []*otos.Delivery
	d.each(order, func(subject string) {
		stuck := blocked[subject]
		for _, i := range bySubject[subject] {
			e := es[i]
			var dl *otos.Delivery
			if stuck {
				dl = d.kept(w, e, 0, nil)
			} else if status, err := d.send(ctx, w, secret, e); err != nil && ctx.Err() != nil {
				return // cut short: this event and the device's later ones are not settled
			} else if err != nil {
				stuck, dl = true, d.kept(w, e, status, err)
			}
			settled[i] = true
			if dl != nil {
				mu.Lock()
				kept = append(kept, dl)
				mu.Unlock()
			}
		}
	})
	done := slices.Index(settled, false)
	if done < 0 {
		done = len(es)
	}
	return kept, done
}

// sendBatches sends es in requests of up to w.BatchSize, in order, and
// returns what is kept: of a failed request, each device's first event to
// retry and the rest waiting, as are the device's later events; and how
// many of es, from the first, are settled.
func (d *dispatcher) sendBatches(ctx context.Context, w *otos.Webhook, secret otos.Secret, blocked map[string]bool, es []*otos.Event) ([]*otos.Delivery, int) {
	var kept []*otos.Delivery
	failed := map[string]bool{}
	var batch []*otos.Event
	first := 0 // the index in es of batch[0]
	flush := func() bool {
		if len(batch) == 0 {
			return true
		}
		status, err := d.send(ctx, w, secret, batch...)
		if err != nil && ctx.Err() != nil {
			return false // cut short: the batch and what follows are not settled
		}
		if err != nil {
			for _, e := range batch {
				if failed[e.Subject] {
					kept = append(kept, d.kept(w, e, 0, nil))
				} else {
					failed[e.Subject] = true
					kept = append(kept, d.kept(w, e, status, err))
				}
			}
		}
		batch = batch[:0]
		return true
	}
	for i, e := range es {
		switch {
		case !w.Wants(e.Type):
		case blocked[e.Subject] || failed[e.Subject]:
			kept = append(kept, d.kept(w, e, 0, nil))
		default:
			if len(batch) == 0 {
				first = i
			}
			if batch = append(batch, e); len(batch) == w.BatchSize && !flush() {
				return kept, first
			}
		}
	}
	if !flush() {
		return kept, first
	}
	return kept, len(es)
}

// kept is the delivery of e that is kept: to retry after err, its first
// failure, or with err nil waiting behind an earlier event of its device.
func (d *dispatcher) kept(w *otos.Webhook, e *otos.Event, status int, err error) *otos.Delivery {
	now := d.c.timestamp()
	dl := &otos.Delivery{WebhookID: w.ID, EventID: e.ID, Pos: e.Pos, Subject: e.Subject, EventType: e.Type,
		State: otos.DeliveryWaiting, NextAt: now, UpdatedAt: now}
	if err != nil {
		dl.State, dl.Attempts, dl.NextAt = otos.DeliveryRetrying, 1, now.Add(d.retries[0])
		dl.LastStatus, dl.LastError = status, truncate(err.Error())
	}
	return dl
}

// each runs fn for every subject, subjectsAtOnce at a time.
func (d *dispatcher) each(subjects []string, fn func(subject string)) {
	sem := make(chan struct{}, subjectsAtOnce)
	var wg sync.WaitGroup
	for _, s := range subjects {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			fn(s)
		})
	}
	wg.Wait()
}

func truncate(s string) string {
	if len(s) > maxErrorLen {
		return s[:maxErrorLen]
	}
	return s
}
