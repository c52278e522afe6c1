package nats

import (
	"encoding/json"
	"fmt"
	"sync"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/otos-iot/otos"
)

// System subjects (nats-server's events.go).
const (
	connectEvent    = "$SYS.ACCOUNT.%s.CONNECT"
	disconnectEvent = "$SYS.ACCOUNT.%s.DISCONNECT"
	kickSubject     = "$SYS.REQ.SERVER.%s.KICK"
	connzSubject    = "$SYS.REQ.SERVER.%s.CONNZ"
	pingSubject     = "$SYS.REQ.SERVER.PING"
)

// revokedFor is how long a revocation is remembered, for a connection whose
// callout was answered before it and whose connect event arrives after.
const revokedFor = 10 * time.Second

// connID names a client connection in the cluster.
type connID struct {
	server string
	cid    uint64
}

// connections are the cluster's connections of otos's users by session
// key, as the servers' connect and disconnect events tell every otos node.
type connections struct {
	mu      sync.Mutex
	byKey   map[string]map[connID]struct{}
	keysOf  map[connID][]string
	revoked map[string]time.Time
}

func (c *connections) init() {
	c.byKey, c.keysOf, c.revoked = map[string]map[connID]struct{}{}, map[connID][]string{}, map[string]time.Time{}
}

// add records connection id of keys (its session key, and a device's
// voucher key), let in at at, and reports whether one of them was revoked
// since, so that the connection must go too: a revocation can overtake the
// connection's event. A connection without a key is not otos's.
func (c *connections) add(keys []string, id connID, at time.Time) bool {
	if len(keys) == 0 {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.keysOf[id] = keys
	gone := false
	for _, key := range keys {
		if c.byKey[key] == nil {
			c.byKey[key] = map[connID]struct{}{}
		}
		c.byKey[key][id] = struct{}{}
		revoked, ok := c.revoked[key]
		gone = gone || ok && !at.After(revoked)
	}
	return gone
}

func (c *connections) remove(id connID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	keys, ok := c.keysOf[id]
	if !ok {
		return
	}
	delete(c.keysOf, id)
	for _, key := range keys {
		if delete(c.byKey[key], id); len(c.byKey[key]) == 0 {
			delete(c.byKey, key)
		}
	}
}

// revoke returns key's connections and remembers the revocation a while.
func (c *connections) revoke(key string) []connID {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	for k, at := range c.revoked {
		if now.Sub(at) >= revokedFor {
			delete(c.revoked, k)
		}
	}
	c.revoked[key] = now
	var ids []connID
	for id := range c.byKey[key] {
		ids = append(ids, id)
	}
	return ids
}

// has reports whether key has a known connection.
func (c *connections) has(key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.byKey[key]) > 0
}

// count returns how many connections are known.
func (c *connections) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.keysOf)
}

// connEvent is the part of a connect or disconnect event otos reads.
type connEvent struct {
	Server struct {
		ID string `json:"id"`
	} `json:"server"`
	Client struct {
		ID   uint64   `json:"id"`
		Tags []string `json:"tags"`
	} `json:"client"`
}

func (s *Service) connected(m *natsgo.Msg) {
	var e connEvent
	if json.Unmarshal(m.Data, &e) != nil {
		return
	}
	id := connID{e.Server.ID, e.Client.ID}
	s.mu.Lock()
	if a := s.mine[id]; a != nil {
		a.seen = true
	}
	s.mu.Unlock()
	if s.conns.add(keysOf(e.Client.Tags), id, authorizedAt(e.Client.Tags)) {
		go s.kick(id)
	}
}

// answered is a connection whose callout this node answered: its session,
// when, and whether the server has since said it connected.
type answered struct {
	sess *otos.Session
	at   time.Time
	seen bool
}

// unconnectedAfter is how long after its callout a connection that the
// server never reported is taken to have failed.
const unconnectedAfter = 30 * time.Second

// sweep forgets, now and then, the answered connections that never
// connected (the client went away between the answer and the CONNACK), and
// undoes what their callout recorded, so that the table stays bounded.
func (s *Service) sweep() {
	t := time.NewTicker(unconnectedAfter)
	defer t.Stop()
	for {
		select {
		case <-s.closing:
			return
		case <-t.C:
		}
		var gone []*otos.Session
		s.mu.Lock()
		for id, a := range s.mine {
			if !a.seen && time.Since(a.at) > unconnectedAfter {
				gone = append(gone, a.sess)
				delete(s.mine, id)
			}
		}
		s.mu.Unlock()
		for _, sess := range gone {
			s.cfg.Sessions.Disconnected(sess)
		}
	}
}

// disconnected forgets the connection and, on the node that answered its
// callout, tells the sessions service.
func (s *Service) disconnected(m *natsgo.Msg) {
	var e connEvent
	if json.Unmarshal(m.Data, &e) != nil {
		return
	}
	id := connID{e.Server.ID, e.Client.ID}
	s.conns.remove(id)
	s.mu.Lock()
	a := s.mine[id]
	delete(s.mine, id)
	s.mu.Unlock()
	// Offline only when it was the key's last connection in the cluster.
	if a != nil && !s.conns.has(a.sess.Key()) {
		s.cfg.Sessions.Disconnected(a.sess)
	}
}

// Drop disconnects every connection of session key (a device's or service
// account's id) wherever in the cluster it is. It does not block.
func (s *Service) Drop(key string) {
	ids := s.conns.revoke(key)
	s.log.Debug("nats: drop", "key", key, "connections", len(ids))
	for _, id := range ids {
		go s.kick(id)
	}
}

func (s *Service) kick(id connID) {
	body, _ := json.Marshal(struct {
		CID uint64 `json:"cid"`
	}{id.cid})
	if _, err := s.sys.Request(fmt.Sprintf(kickSubject, id.server), body, 2*time.Second); err != nil {
		s.log.Warn("nats: disconnect a revoked client", "server", id.server, "cid", id.cid, "err", err)
		return
	}
	s.log.Info("nats: revoked client disconnected", "server", id.server, "cid", id.cid)
}

// resync asks every server for the connections of otos's accounts: the
// events of those made while this node was away are lost to it.
func (s *Service) resync() {
	servers, err := s.servers()
	if err != nil {
		s.log.Warn("nats: list servers", "err", err)
		return
	}
	for _, server := range servers {
		for _, acc := range []string{AccountDevices, AccountApps} {
			if err := s.resyncServer(server, acc); err != nil {
				s.log.Warn("nats: list connections", "server", server, "account", acc, "err", err)
			}
		}
	}
	s.log.Info("nats: live connections listed", "servers", len(servers), "connections", s.conns.count())
}

// servers returns the ids of the servers that answer a ping within a while.
func (s *Service) servers() ([]string, error) {
	inbox := s.sys.NewRespInbox()
	sub, err := s.sys.SubscribeSync(inbox)
	if err != nil {
		return nil, err
	}
	defer sub.Unsubscribe()
	if err := s.sys.PublishRequest(pingSubject, inbox, nil); err != nil {
		return nil, err
	}
	var ids []string
	wait := time.Second
	for {
		m, err := sub.NextMsg(wait)
		if err != nil {
			return ids, nil // quiet for a while: every server that will answer has
		}
		var r struct {
			Server struct {
				ID string `json:"id"`
			} `json:"server"`
		}
		if json.Unmarshal(m.Data, &r) == nil && r.Server.ID != "" {
			ids = append(ids, r.Server.ID)
		}
		wait = 250 * time.Millisecond
	}
}

// resyncServer pages through server's connections of account acc.
func (s *Service) resyncServer(server, acc string) error {
	const page = 1024
	for offset := 0; ; offset += page {
		body, _ := json.Marshal(map[string]any{"acc": acc, "auth": true, "offset": offset, "limit": page})
		m, err := s.sys.Request(fmt.Sprintf(connzSubject, server), body, 2*time.Second)
		if err != nil {
			return err
		}
		var r struct {
			Data struct {
				Total int `json:"total"`
				Conns []struct {
					CID  uint64   `json:"cid"`
					Tags []string `json:"tags"`
				} `json:"connections"`
			} `json:"data"`
			Error *struct {
				Description string `json:"description"`
			} `json:"error"`
		}
		if err := json.Unmarshal(m.Data, &r); err != nil {
			return err
		}
		if r.Error != nil {
			return fmt.Errorf("%s", r.Error.Description)
		}
		for _, c := range r.Data.Conns {
			if id := (connID{server, c.CID}); s.conns.add(keysOf(c.Tags), id, authorizedAt(c.Tags)) {
				go s.kick(id) // revoked while the list was on its way
			}
		}
		if len(r.Data.Conns) < page {
			return nil
		}
	}
}
