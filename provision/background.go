package provision

import (
	"context"
	"time"

	"github.com/otos-iot/otos"
)

// Run does the core's background work until ctx ends: presence every
// second, audit records four times a second, refused registrations as
// events every refusalWindow, the audit and event retentions hourly, and on
// a node that shares its store, a check of its live sessions. Then it
// writes what is left.
func (s *Service) Run(ctx context.Context) {
	presence, audit, prune := time.NewTicker(time.Second), time.NewTicker(250*time.Millisecond), time.NewTicker(time.Hour)
	revalidate, refused := time.NewTicker(revalidateEvery), time.NewTicker(refusalWindow)
	defer presence.Stop()
	defer audit.Stop()
	defer prune.Stop()
	defer revalidate.Stop()
	defer refused.Stop()
	s.core.audit.prune(ctx, s.retention)
	s.core.pruneEvents(ctx, s.eventRetention)
	if s.dispatch != nil {
		done := make(chan struct{})
		go func() { defer close(done); s.dispatch.run(ctx) }()
		defer func() { <-done }()
	}
	for {
		select {
		case <-ctx.Done():
			s.Sessions.FlushPresence(context.Background())
			s.core.audit.flush(context.Background())
			s.core.flushRefusals(context.Background())
			return
		case <-refused.C:
			s.core.flushRefusals(ctx)
		case <-presence.C:
			s.Sessions.FlushPresence(ctx)
			s.Sessions.Expire()
		case <-audit.C:
			s.core.audit.flush(ctx)
		case <-prune.C:
			s.core.audit.prune(ctx, s.retention)
			s.core.pruneEvents(ctx, s.eventRetention)
		case <-revalidate.C:
			if s.core.views.notifier != nil { // alone on its store, a node misses no message
				s.Sessions.Revalidate(ctx)
			}
		}
	}
}

// followEvery is how often Follow looks for new events.
const followEvery = 200 * time.Millisecond

// Follow passes every event from now on to pub, in position order, until
// ctx ends: the events of every node that shares the store.
func (s *Service) Follow(ctx context.Context, pub otos.EventPublisher) {
	var after int64
	for {
		pos, err := s.core.store.LastEventPos(ctx)
		if err == nil {
			after = pos
			break
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
	t := time.NewTicker(followEvery)
	defer t.Stop()
	for {
		for {
			es, err := s.core.store.Events(ctx, otos.EventFilter{After: after, Limit: otos.MaxPageLimit})
			if err != nil || len(es) == 0 {
				break
			}
			pub.PublishEvents(es)
			after = es[len(es)-1].Pos
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
