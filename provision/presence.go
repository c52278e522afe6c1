package provision

import (
	"sync"

	"github.com/otos-iot/otos"
)

// presence gathers the latest presence change of each device between two
// writes, so that a storm of connections costs one transaction a second.
type presence struct {
	mu      sync.Mutex
	pending map[string]otos.Presence
}

func (p *presence) add(e otos.Presence) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pending == nil {
		p.pending = map[string]otos.Presence{}
	}
	if old, ok := p.pending[e.DeviceID]; !ok || !e.At.Before(old.At) {
		p.pending[e.DeviceID] = e
	}
}

func (p *presence) take() []otos.Presence {
	p.mu.Lock()
	defer p.mu.Unlock()
	ps := make([]otos.Presence, 0, len(p.pending))
	for _, e := range p.pending {
		ps = append(ps, e)
	}
	p.pending = nil
	return ps
}
