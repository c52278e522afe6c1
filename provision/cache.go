package provision

import (
	"sync"
	"time"

	"github.com/otos-iot/otos"
)

// credCacheSize bounds the voucher cache; past it, arbitrary entries go.
const credCacheSize = 200_000

// credTTL bounds how long an entry is trusted: the backstop should a
// message from another node about a voided voucher be lost.
const credTTL = time.Minute

// cachedDevice is what the broker needs to know of a device, cached under
// its voucher look-up key.
type cachedDevice struct {
	session    Session
	credential otos.Credential
	enabled    bool
	connected  bool // has connected before: first_connected_at is set
	until      time.Time
}

// credCache caches voucher look-ups so that a hot device costs no database
// read per CONNECT. Every change that voids a voucher invalidates its entry.
// A look-up that raced with an invalidation is not stored: the epoch, bumped
// by every invalidation, must be the same before the read and at the put.
type credCache struct {
	mu       sync.Mutex
	epoch    uint64
	byLookup map[string]*cachedDevice
	byDevice map[string]string // device id → look-up key
	max      int
}

func newCredCache(max int) *credCache {
	return &credCache{byLookup: map[string]*cachedDevice{}, byDevice: map[string]string{}, max: max}
}

// get returns the entry for lookup if it is fresh at now, and the current
// epoch.
func (c *credCache) get(lookup []byte, now time.Time) (*cachedDevice, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.byLookup[string(lookup)]
	if e != nil && !now.Before(e.until) {
		e = nil
	}
	return e, c.epoch
}

// put stores e unless an invalidation happened since epoch.
func (c *credCache) put(lookup []byte, e *cachedDevice, epoch uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.epoch != epoch {
		return
	}
	for k := range c.byLookup {
		if len(c.byLookup) < c.max {
			break
		}
		delete(c.byDevice, c.byLookup[k].session.DeviceID)
		delete(c.byLookup, k)
	}
	// One entry per device: an older voucher's entry goes with the new one.
	if old, ok := c.byDevice[e.session.DeviceID]; ok && old != string(lookup) {
		delete(c.byLookup, old)
	}
	c.byLookup[string(lookup)] = e
	c.byDevice[e.session.DeviceID] = string(lookup)
}

// hasConnected reports whether the cache knows that device id has connected
// before; false when it does not know.
func (c *credCache) hasConnected(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byLookup[c.byDevice[id]]
	return ok && e.connected
}

// markConnected records in the cache that device id has connected.
func (c *credCache) markConnected(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byLookup[c.byDevice[id]]; ok {
		e.connected = true
	}
}

// invalidate drops the entry of device id and voids look-ups under way.
func (c *credCache) invalidate(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	if k, ok := c.byDevice[id]; ok {
		delete(c.byLookup, k)
		delete(c.byDevice, id)
	}
}
