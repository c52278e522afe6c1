package emqx

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Bounds of what is remembered to disconnect: the client ids a session
// key connected with lately, and keys in all.
const (
	idsPerKey = 4
	maxKeys   = 1 << 20
)

// clientIDs are the client ids each session key connected with through
// this node: what a revocation disconnects. EMQX does not tell otos of
// disconnections, so the oldest are forgotten past the bounds; a client id
// no longer connected costs one 404.
type clientIDs struct {
	mu    sync.Mutex
	byKey map[string][]string
	// voucherOf is the voucher key (otos.Session.VoucherKey) a client id
	// last connected with: the end of a rotation's overlap kicks the ids
	// of the old voucher, but not one the device reconnected with on the
	// new one, which took the old session over.
	voucherOf map[string]string
}

func (c *clientIDs) init() { c.byKey, c.voucherOf = map[string][]string{}, map[string]string{} }

// addVoucher records that client id connected with voucher key vk.
func (c *clientIDs) addVoucher(vk, id string) {
	c.add(vk, id)
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.voucherOf[id]; !ok && len(c.voucherOf) >= maxKeys {
		for k := range c.voucherOf { // any one, as add does: map order is random
			delete(c.voucherOf, k)
			break
		}
	}
	c.voucherOf[id] = vk
}

func (c *clientIDs) add(key, id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ids := c.byKey[key]
	for _, have := range ids {
		if have == id {
			return
		}
	}
	if len(c.byKey) >= maxKeys {
		for k := range c.byKey { // any one: map order is random
			delete(c.byKey, k)
			break
		}
	}
	if len(ids) == idsPerKey {
		ids = ids[1:]
	}
	c.byKey[key] = append(ids, id)
}

// take returns the client ids of key and forgets them; for a voucher key,
// only those whose last connection was with that voucher.
func (c *clientIDs) take(key string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	ids := c.byKey[key]
	delete(c.byKey, key)
	if !strings.HasPrefix(key, "voucher:") {
		return ids
	}
	var out []string
	for _, id := range ids {
		if c.voucherOf[id] == key {
			out = append(out, id)
			delete(c.voucherOf, id)
		}
	}
	return out
}

// Drop disconnects, through EMQX's REST API, the clients that session key
// (a device's or service account's id) connected with through this node.
// Every node is told of a revocation, so each disconnects its own. It does
// not block.
func (s *Service) Drop(key string) {
	if s.cfg.API == "" {
		return
	}
	for _, id := range s.clients.take(key) {
		go s.kick(id)
	}
}

func (s *Service) kick(clientID string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	u := s.cfg.API + "/api/v5/clients/" + url.PathEscape(clientID)
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, u, nil)
	if err != nil {
		s.log.Warn("emqx: disconnect a revoked client", "clientid", clientID, "err", err)
		return
	}
	req.SetBasicAuth(s.cfg.APIKey, string(s.cfg.APISecret))
	res, err := s.cfg.Client.Do(req)
	if err == nil {
		res.Body.Close()
		switch res.StatusCode {
		case http.StatusNoContent, http.StatusOK, http.StatusNotFound: // 404: gone already
			s.log.Info("emqx: revoked client disconnected", "clientid", clientID, "status", res.StatusCode)
			return
		}
		err = fmt.Errorf("EMQX answered %s", res.Status)
	}
	s.log.Warn("emqx: disconnect a revoked client", "clientid", clientID, "err", err)
}
