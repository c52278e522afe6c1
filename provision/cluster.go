package provision

import (
	"context"
	"strings"
	"time"
)

// Notifier carries messages between the otos nodes that share one store,
// such as PostgreSQL's LISTEN/NOTIFY (postgres.DB). Publish sends msg to
// every other node; Subscribe calls fn with each message another node
// publishes, and with "" when messages may have been lost.
type Notifier interface {
	Publish(ctx context.Context, msg string) error
	Subscribe(fn func(msg string))
}

// The messages a Service publishes: a device or service account id after a
// change that the other nodes' voucher caches must follow, and with drop,
// their live sessions too.
const (
	msgForget = "forget "
	msgDrop   = "drop "
)

// publishTimeout bounds the sending of one message.
const publishTimeout = 5 * time.Second

// join makes s tell the other nodes, through n, about every change that it
// makes to the broker's view of a device or account. It wraps s.revoked, so
// that a local drop is also published; s.dropLocal keeps the local one.
func (s *Service) join(n Notifier) {
	s.dropLocal = s.revoked
	if n == nil {
		return
	}
	s.notifier = n
	s.revoked = func(id string) {
		s.dropLocal(id)
		s.publish(msgDrop, id)
	}
}

// publish sends kind+id to the other nodes in the background, for the
// caller must not wait on the database; a failure is logged.
func (s *Service) publish(kind, id string) {
	if s.notifier == nil {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
		defer cancel()
		if err := s.notifier.Publish(ctx, kind+id); err != nil {
			s.log.Warn("cluster: tell other nodes", "id", id, "err", err)
		}
	}()
}

// Receive applies a message that another node published: it forgets what
// the voucher cache holds of the device or account and, for a drop, ends
// its sessions on this node's broker. "" (messages may have been lost)
// empties the whole cache. Pass it to Notifier.Subscribe once the broker
// runs.
func (s *Service) Receive(msg string) {
	switch {
	case msg == "":
		// Messages may have been lost: forget what was cached, and check
		// again the sessions that a lost "drop" would have ended.
		s.creds.flush()
		s.known.flush()
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			s.Revalidate(ctx)
		}()
	case strings.HasPrefix(msg, msgForget):
		id := strings.TrimPrefix(msg, msgForget)
		s.creds.invalidate(id)
		s.known.forget(id)
	case strings.HasPrefix(msg, msgDrop):
		id := strings.TrimPrefix(msg, msgDrop)
		s.creds.invalidate(id)
		s.known.forget(id)
		s.dropLocal(id)
	default:
		s.log.Warn("cluster: unknown message from another node", "len", len(msg))
	}
}

// flush drops every entry and voids look-ups under way.
func (c *credCache) flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	clear(c.byLookup)
	clear(c.byDevice)
}

// EnsureNodeToken is EnsureBootstrapToken for a node of several on one
// store: the token it stores is named after the node ("bootstrap@" + node),
// so that nodes starting with empty data directories do not revoke each
// other's tokens. Each node's token opens the admin API of every node.
func (s *Service) EnsureNodeToken(ctx context.Context, path, node string) (bool, error) {
	return s.ensureBootstrap(ctx, path, BootstrapTokenPrefix+node)
}

// BootstrapTokenPrefix starts the name of a node's bootstrap token on a
// store that several nodes share.
const BootstrapTokenPrefix = "bootstrap@"
