package provision

import (
	"bytes"
	"context"
	"sync"
	"time"

	"github.com/otos-iot/otos"
)

// revalidateEvery is how often, on a node that shares its store, every live
// session is checked against the store: the backstop for a message from
// another node that was lost.
const revalidateEvery = 30 * time.Second

// liveSessions are this node's live broker sessions, by key.
type liveSessions struct {
	mu sync.Mutex
	m  map[string]*Session
}

func (l *liveSessions) add(sess *Session) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = map[string]*Session{}
	}
	l.m[sess.Key()] = sess
}

func (l *liveSessions) remove(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.m, key)
}

func (l *liveSessions) snapshot() []*Session {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]*Session, 0, len(l.m))
	for _, sess := range l.m {
		out = append(out, sess)
	}
	return out
}

// Revalidate checks every live session of this node against the store and
// drops those whose device was disabled, reset, deleted or re-issued a
// voucher, or whose service account was revoked: what a lost message from
// another node would have said.
func (s *Service) Revalidate(ctx context.Context) {
	dropped := 0
	for _, sess := range s.live.snapshot() {
		if !s.stillValid(ctx, sess) {
			s.creds.invalidate(sess.Key())
			s.known.forget(sess.Key())
			s.dropLocal(sess.Key())
			dropped++
		}
	}
	if dropped > 0 {
		s.log.Warn("sessions dropped on revalidation", "dropped", dropped)
	}
}

// stillValid reports whether sess may stay connected; when the store cannot
// tell (it is unreachable), it may.
func (s *Service) stillValid(ctx context.Context, sess *Session) bool {
	if sess.IsService() {
		t, err := s.store.Token(ctx, sess.AccountID)
		if err != nil {
			return otos.ErrorCode(err) != otos.ENOTFOUND
		}
		return t.Active(s.now())
	}
	d, err := s.store.Device(ctx, sess.DeviceID)
	if err != nil {
		return otos.ErrorCode(err) != otos.ENOTFOUND
	}
	return d.Status == otos.StatusEnabled && bytes.Equal(d.Credential.Lookup, sess.lookup)
}
