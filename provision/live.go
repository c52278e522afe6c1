package provision

import (
	"sync"

	"github.com/otos-iot/otos"
)

// liveSessions are this node's live broker sessions, by key.
type liveSessions struct {
	mu sync.Mutex
	m  map[string]*otos.Session
}

func (l *liveSessions) add(sess *otos.Session) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = map[string]*otos.Session{}
	}
	l.m[sess.Key()] = sess
}

func (l *liveSessions) remove(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.m, key)
}

// update replaces each session for which fn returns a changed copy.
func (l *liveSessions) update(fn func(*otos.Session) *otos.Session) []*otos.Session {
	l.mu.Lock()
	defer l.mu.Unlock()
	var changed []*otos.Session
	for k, sess := range l.m {
		if c := fn(sess); c != nil {
			l.m[k] = c
			changed = append(changed, c)
		}
	}
	return changed
}

func (l *liveSessions) snapshot() []*otos.Session {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]*otos.Session, 0, len(l.m))
	for _, sess := range l.m {
		out = append(out, sess)
	}
	return out
}

// maxPresenceEvents bounds the connection events waiting to be written;
// past it (the store is down or far behind) they are dropped and counted.
const maxPresenceEvents = 200_000

// presence gathers the latest presence change of each device between two
// writes, so that a storm of connections costs one transaction a second,
// and every connection's event, in order.
type presence struct {
	mu      sync.Mutex
	pending map[string]otos.Presence
	events  []*otos.Event
	dropped int
}

func (p *presence) add(e otos.Presence, ev *otos.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pending == nil {
		p.pending = map[string]otos.Presence{}
	}
	if old, ok := p.pending[e.DeviceID]; !ok || !e.At.Before(old.At) {
		p.pending[e.DeviceID] = e
	}
	if len(p.events) < maxPresenceEvents {
		p.events = append(p.events, ev)
	} else {
		p.dropped++
	}
}

func (p *presence) take() ([]otos.Presence, []*otos.Event, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ps := make([]otos.Presence, 0, len(p.pending))
	for _, e := range p.pending {
		ps = append(ps, e)
	}
	es, dropped := p.events, p.dropped
	p.pending, p.events, p.dropped = nil, nil, 0
	return ps, es, dropped
}
