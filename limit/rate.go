package limit

import (
	"math"
	"sync"
	"time"
)

// Rate is a set of token buckets, one per key (a device template): a key may
// take perSecond tokens a second on average and up to burst at once.
//
// Memory is bounded by the number of keys given to NewRate. When it is full,
// the bucket used least recently makes room. Forgetting a bucket only grants
// its key a full one again; Rate's keys are template ids, which operators
// create, so the bound keeps memory in check rather than fending off an
// attacker.
type Rate struct {
	mu      sync.Mutex
	max     int
	clock   clock
	buckets map[string]*node[bucket]
	lru     list[bucket] // least recently used first
}

// bucket is the state of one key's token bucket.
type bucket struct {
	tokens float64
	last   int64 // clock ticks of the last refill
}

// NewRate returns a Rate that tracks at most maxKeys keys; DefaultMaxKeys
// when maxKeys is not positive.
func NewRate(maxKeys int) *Rate {
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys
	}
	return &Rate{max: maxKeys, clock: newClock(), buckets: make(map[string]*node[bucket])}
}

// Allow takes a token from key's bucket at now: the bucket holds at most burst
// tokens and refills at perSecond. When it is empty Allow takes nothing and
// returns how long until a token is there. A perSecond or burst that is not
// positive allows everything.
func (r *Rate) Allow(key string, perSecond float64, burst int, now time.Time) (wait time.Duration, ok bool) {
	if perSecond <= 0 || burst <= 0 {
		return 0, true
	}
	t := r.clock.ticks(now)
	r.mu.Lock()
	defer r.mu.Unlock()
	b := r.bucket(key, float64(burst), t)
	b.val.refill(t, perSecond, float64(burst))
	if b.val.tokens >= 1 {
		b.val.tokens--
		return 0, true
	}
	need := (1 - b.val.tokens) / perSecond * float64(time.Second)
	return time.Duration(math.Ceil(need)), false
}

// Len returns how many keys have a bucket.
func (r *Rate) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.buckets)
}

// bucket returns key's bucket, marked as the most recently used; a new one
// is full.
func (r *Rate) bucket(key string, burst float64, t int64) *node[bucket] {
	if b := r.buckets[key]; b != nil {
		r.lru.moveToBack(b)
		return b
	}
	if len(r.buckets) >= r.max {
		old := r.lru.front()
		r.lru.remove(old)
		delete(r.buckets, old.key)
	}
	b := &node[bucket]{key: key, val: bucket{tokens: burst, last: t}}
	r.buckets[key] = b
	r.lru.pushBack(b)
	return b
}

// refill adds the tokens earned since the last refill, capped at burst; a
// lowered burst caps the tokens at once. A clock that went back earns none.
func (b *bucket) refill(t int64, perSecond, burst float64) {
	if t > b.last {
		b.tokens += float64(t-b.last) / float64(time.Second) * perSecond
		b.last = t
	}
	b.tokens = min(b.tokens, burst)
}
