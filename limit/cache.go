package limit

import (
	"slices"
	"sync"
	"time"
)

// Cache is a bounded map from string keys to values that expire: the least
// recently used entry makes room for a new one, and an entry is never
// returned after its own deadline. Each entry has a tag, the id of the object
// it is a view of, so that every entry of one object can be dropped at once
// (DeleteTag) whatever key it was cached under.
//
// A value read from a store must not be put back after the object changed
// while it was being read: Epoch, taken before the read, and PutIf, which
// stores only while no entry was dropped since, rule that out.
type Cache[V any] struct {
	mu     sync.Mutex
	max    int
	unique bool // one key per tag: a new key of a tag replaces the old one
	clock  clock
	epoch  uint64
	keys   map[string]*node[cached[V]]
	tags   map[string][]string // tag → keys
	one    map[string]string   // tag → its one key, when unique
	lru    list[cached[V]]     // least recently used first
}

type cached[V any] struct {
	v     V
	tag   string
	until int64 // clock ticks
}

// CacheConfig sets up a Cache.
type CacheConfig struct {
	// MaxKeys bounds the entries; DefaultMaxKeys when not positive.
	MaxKeys int
	// UniqueTag keeps one entry per tag: putting a new key of a tag drops
	// the tag's other keys (a device has one voucher).
	UniqueTag bool
}

// NewCache returns an empty Cache.
func NewCache[V any](c CacheConfig) *Cache[V] {
	if c.MaxKeys <= 0 {
		c.MaxKeys = DefaultMaxKeys
	}
	return &Cache[V]{max: c.MaxKeys, unique: c.UniqueTag, clock: newClock(),
		keys: map[string]*node[cached[V]]{}, tags: map[string][]string{}, one: map[string]string{}}
}

// Get returns the value under key if it is fresh at now.
func (c *Cache[V]) Get(key string, now time.Time) (v V, ok bool) {
	t := c.clock.ticks(now)
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fresh(c.keys[key], t)
}

// GetBytes is Get for a key held as bytes (a hash), without converting it
// to a string first.
func (c *Cache[V]) GetBytes(key []byte, now time.Time) (v V, ok bool) {
	t := c.clock.ticks(now)
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fresh(c.keys[string(key)], t)
}

// fresh returns e's value unless e is nil or expired at t (then dropped).
func (c *Cache[V]) fresh(e *node[cached[V]], t int64) (v V, ok bool) {
	if e == nil {
		return v, false
	}
	if t >= e.val.until {
		c.remove(e)
		return v, false
	}
	c.lru.moveToBack(e)
	return e.val.v, true
}

// Epoch returns a number that changes whenever an entry is dropped by
// Delete, DeleteTag or Clear; pass it to PutIf.
func (c *Cache[V]) Epoch() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.epoch
}

// PutIf stores v under key, tagged, until the deadline, unless an entry was
// dropped since epoch; it reports whether it stored v.
func (c *Cache[V]) PutIf(key, tag string, v V, until time.Time, epoch uint64) bool {
	t := c.clock.ticks(until)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.epoch != epoch {
		return false
	}
	c.put(key, tag, v, t)
	return true
}

// Put stores v under key, tagged, until the deadline.
func (c *Cache[V]) Put(key, tag string, v V, until time.Time) {
	t := c.clock.ticks(until)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.put(key, tag, v, t)
}

func (c *Cache[V]) put(key, tag string, v V, until int64) {
	if e := c.keys[key]; e != nil {
		c.remove(e)
	}
	if c.unique {
		if k, ok := c.one[tag]; ok {
			c.remove(c.keys[k])
		}
	}
	if len(c.keys) >= c.max {
		c.remove(c.lru.front())
	}
	e := &node[cached[V]]{key: key, val: cached[V]{v: v, tag: tag, until: until}}
	c.keys[key] = e
	c.lru.pushBack(e)
	switch {
	case tag == "":
	case c.unique:
		c.one[tag] = key
	default:
		c.tags[tag] = append(c.tags[tag], key)
	}
}

// Update replaces the value under key by fn's answer, keeping its tag and
// deadline, and reports whether key held one.
func (c *Cache[V]) Update(key string, fn func(V) V) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.keys[key]
	if e != nil {
		e.val.v = fn(e.val.v)
	}
	return e != nil
}

// Delete drops the entry under key.
func (c *Cache[V]) Delete(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	if e := c.keys[key]; e != nil {
		c.remove(e)
	}
}

// DeleteTag drops every entry tagged tag.
func (c *Cache[V]) DeleteTag(tag string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	if k, ok := c.one[tag]; ok {
		c.remove(c.keys[k])
	}
	for _, k := range slices.Clone(c.tags[tag]) {
		c.remove(c.keys[k])
	}
}

// Clear drops every entry.
func (c *Cache[V]) Clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	clear(c.keys)
	clear(c.tags)
	clear(c.one)
	c.lru = list[cached[V]]{}
}

// Len returns how many entries are held, expired ones included until they
// are looked up or make room.
func (c *Cache[V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.keys)
}

// remove drops e, which may be nil, from the list, the map and its tag.
func (c *Cache[V]) remove(e *node[cached[V]]) {
	if e == nil {
		return
	}
	c.lru.remove(e)
	delete(c.keys, e.key)
	tag := e.val.tag
	if tag == "" {
		return
	}
	if c.unique {
		if c.one[tag] == e.key {
			delete(c.one, tag)
		}
		return
	}
	ks := c.tags[tag]
	for i, k := range ks {
		if k == e.key {
			ks[i] = ks[len(ks)-1]
			ks = ks[:len(ks)-1]
			break
		}
	}
	if len(ks) == 0 {
		delete(c.tags, tag)
	} else {
		c.tags[tag] = ks
	}
}
