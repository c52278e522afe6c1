package provision

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/otos-iot/otos"
)

// DefaultEventRetention is how long events are kept for replay by default.
const DefaultEventRetention = 7 * 24 * time.Hour

// refusalWindow is how long refused registrations of one template and code
// are counted into one registration.refused event: a flood of millions of
// wrong secrets is a few events.
const refusalWindow = 10 * time.Second

// maxRefusalKeys bounds the kinds of refusal counted in one window; past
// it, refusals are counted under the template-less key of their code.
const maxRefusalKeys = 10_000

// event returns a new event of type typ about subject, in tenant.
func (c *core) event(typ otos.EventType, tenant, subject string, data otos.EventData) *otos.Event {
	id, err := c.newID()
	if err != nil {
		id = "" // only a broken random source; the store refuses the event
	}
	b, _ := json.Marshal(data) // a struct of strings, numbers and times
	return &otos.Event{ID: id, Type: typ, At: c.timestamp(), TenantID: tenant, Subject: subject, Data: b}
}

// deviceEvent returns an event of type typ about device d.
func (c *core) deviceEvent(typ otos.EventType, d *otos.Device, clientAddr string) *otos.Event {
	data := otos.DeviceEventData(d)
	data.ClientAddr = clientAddr
	return c.event(typ, d.TenantID, d.ID, data)
}

// refusalKey is what one registration.refused event counts.
type refusalKey struct {
	tenant, template string
	code             int
}

type refusalCount struct {
	n           int
	from, until time.Time
}

// refusals counts refused registrations over a window, to be written as
// registration.refused events.
type refusals struct {
	mu sync.Mutex
	m  map[refusalKey]*refusalCount
}

// add counts one refusal with code of template t (nil: none matched).
func (r *refusals) add(t *otos.Template, code int, now time.Time) {
	k := refusalKey{code: code}
	if t != nil {
		k.tenant, k.template = t.TenantID, t.ID
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = map[refusalKey]*refusalCount{}
	}
	c := r.m[k]
	if c == nil {
		if len(r.m) >= maxRefusalKeys {
			k = refusalKey{code: code}
		}
		if c = r.m[k]; c == nil {
			c = &refusalCount{from: now}
			r.m[k] = c
		}
	}
	c.n++
	c.until = now
}

// take returns the counts of the window and starts a new one.
func (r *refusals) take() map[refusalKey]*refusalCount {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.m
	r.m = nil
	return m
}

// flushRefusals writes the window's refused registrations as events, one
// per template and code.
func (c *core) flushRefusals(ctx context.Context) {
	m := c.refused.take()
	if len(m) == 0 {
		return
	}
	es := make([]*otos.Event, 0, len(m))
	for k, n := range m {
		from, until := n.from, n.until
		subject := k.template
		if subject == "" {
			subject = "refused"
		}
		es = append(es, c.event(otos.EventRegistrationRefused, k.tenant, subject,
			otos.EventData{TemplateID: k.template, Code: k.code, Count: n.n, From: &from, Until: &until}))
	}
	if err := c.store.AppendEvents(ctx, es); err != nil {
		kept := retryable(err)
		if kept {
			c.refused.putBack(m) // counted again into the next window's events
		}
		c.log.Warn("write refused-registration events", "events", len(es), "kept", kept, "err", err)
	}
}

// putBack adds counts that could not be written to the current window's,
// under the same bound on their kinds as add.
func (r *refusals) putBack(m map[refusalKey]*refusalCount) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = map[refusalKey]*refusalCount{}
	}
	for k, n := range m {
		if r.m[k] == nil && len(r.m) >= maxRefusalKeys {
			k = refusalKey{code: k.code}
		}
		c := r.m[k]
		if c == nil {
			r.m[k] = n
			continue
		}
		c.n += n.n
		if n.from.Before(c.from) {
			c.from = n.from
		}
		if n.until.After(c.until) {
			c.until = n.until
		}
	}
}

// retryable reports whether a batched write that failed with err may be
// tried again at the next flush: the store was unavailable or the call was
// cut short, so nothing was written. Another error would fail again.
func retryable(err error) bool {
	return otos.ErrorCode(err) == otos.EUNAVAILABLE || errors.Is(err, context.Canceled) ||
		errors.Is(err, context.DeadlineExceeded)
}

// pruneEvents deletes events older than retention.
func (c *core) pruneEvents(ctx context.Context, retention time.Duration) {
	n, err := c.store.PruneEvents(ctx, c.now().Add(-retention))
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		c.log.Warn("prune events", "err", err)
	} else if n > 0 {
		c.log.Info("events pruned", "events", n, "retention", retention.String())
	}
}
