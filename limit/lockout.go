package limit

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of a Lockout.
const (
	DefaultThreshold = 30
	DefaultWindow    = time.Minute
	DefaultDuration  = 5 * time.Minute
)

// LockoutConfig sets up a Lockout; zero fields take the defaults.
type LockoutConfig struct {
	// Threshold is how many failures within Window lock a key out.
	Threshold int
	// Window is the span over which failures are counted.
	Window time.Duration
	// Duration is the cool-down: how long a locked key stays locked.
	Duration time.Duration
	// MaxKeys bounds how many keys are tracked at once.
	MaxKeys int
}

// Lockout counts failures per key (a client address) and locks a key out for
// a cool-down once Threshold failures fall within a sliding Window.
//
// The window is a sliding-window counter: the failures of the current and of
// the previous fixed window, the previous one weighted by how much of it still
// lies within Window of now. It costs two counters per key and errs, if at
// all, towards counting a failure a little longer than Window. When a lock
// ends the key starts afresh, and failures reported while it is locked are
// ignored: they neither count nor prolong it.
//
// Memory is bounded by MaxKeys, split over shards chosen by a keyed hash, so
// that a caller cannot aim keys at one shard. When a shard is full, a new key
// takes the place of, in this order: a key whose lock-out has ended; the
// counting (unlocked) key that failed least recently; nothing. So an attacker
// who rotates addresses can push out counters, which only forgets failures,
// but never a live lock-out: that would take as many new locked keys as the
// table holds, Threshold×MaxKeys failures within one cool-down. A key that
// finds its shard full of live lock-outs is not tracked at all (see
// Untracked): the lock-out then fails open for new keys rather than refusing
// everyone, because it guards against guessing, which 192-bit secrets already
// defeat, and must never stop a factory from registering.
type Lockout struct {
	threshold float64
	window    int64 // nanoseconds
	duration  int64 // nanoseconds
	clock     clock
	seed      maphash.Seed
	shards    []lockShard
	untracked atomic.Uint64
	lockouts  atomic.Uint64
}

// lockShard is one part of a Lockout's table, under its own mutex.
type lockShard struct {
	mu   sync.Mutex
	max  int
	keys map[string]*node[lockState]
	// counting holds unlocked keys, least recently failed first; locked
	// holds locked keys, earliest end first.
	counting, locked list[lockState]
	_                [64]byte // keeps shards' mutexes off one cache line
}

// lockState is what a Lockout knows of one key.
type lockState struct {
	start  int64  // start of the current fixed window, in clock ticks
	until  int64  // end of the lock-out, when locked
	cur    uint32 // failures in the current fixed window
	prev   uint32 // failures in the previous fixed window
	locked bool
}

// Sharding: one shard for small tables, so that the eviction order is exact
// where it is tested; shardCount shards from minShardedKeys keys on.
const (
	shardCount     = 16
	minShardedKeys = 4096
	sweepPerFail   = 2
)

// NewLockout returns a Lockout configured by c.
func NewLockout(c LockoutConfig) *Lockout {
	if c.Threshold <= 0 {
		c.Threshold = DefaultThreshold
	}
	if c.Window <= 0 {
		c.Window = DefaultWindow
	}
	if c.Duration <= 0 {
		c.Duration = DefaultDuration
	}
	if c.MaxKeys <= 0 {
		c.MaxKeys = DefaultMaxKeys
	}
	n := 1
	if c.MaxKeys >= minShardedKeys {
		n = shardCount
	}
	l := &Lockout{threshold: float64(c.Threshold), window: int64(c.Window), duration: int64(c.Duration),
		clock: newClock(), seed: maphash.MakeSeed(), shards: make([]lockShard, n)}
	for i := range l.shards {
		l.shards[i].max = c.MaxKeys / n
		l.shards[i].keys = make(map[string]*node[lockState])
	}
	return l
}

func (l *Lockout) shard(key string) *lockShard {
	if len(l.shards) == 1 {
		return &l.shards[0]
	}
	return &l.shards[maphash.String(l.seed, key)%uint64(len(l.shards))]
}

// Locked reports whether key is locked out at now, and for how much longer.
func (l *Lockout) Locked(key string, now time.Time) (retryAfter time.Duration, locked bool) {
	t := l.clock.ticks(now)
	sh := l.shard(key)
	sh.mu.Lock()
	e := sh.keys[key]
	var left int64
	if e != nil && e.val.locked {
		left = e.val.until - t
	}
	sh.mu.Unlock()
	if left <= 0 {
		return 0, false
	}
	return time.Duration(min(left, l.duration)), true
}

// Fail records a failure of key at now. It returns true when this failure
// locked the key out.
func (l *Lockout) Fail(key string, now time.Time) bool {
	t := l.clock.ticks(now)
	sh := l.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.sweep(t, l.window)
	e := sh.keys[key]
	if e == nil {
		if e = sh.add(key, t); e == nil {
			l.untracked.Add(1)
			return false
		}
	}
	if e.val.locked {
		if t < e.val.until {
			return false
		}
		sh.unlock(e, t)
	}
	e.val.count(t, l.window)
	if e.val.estimate(t, l.window) < l.threshold {
		sh.counting.moveToBack(e)
		return false
	}
	sh.counting.remove(e)
	e.val.locked, e.val.until = true, t+l.duration
	sh.locked.pushBack(e)
	l.lockouts.Add(1)
	return true
}

// Len returns how many keys are tracked.
func (l *Lockout) Len() int {
	n := 0
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		n += len(sh.keys)
		sh.mu.Unlock()
	}
	return n
}

// Lockouts returns how many times a key was locked out.
func (l *Lockout) Lockouts() uint64 { return l.lockouts.Load() }

// Untracked returns how many failures went uncounted because their key's
// shard was full of live lock-outs. Above zero, the table is too small for
// the attack it is under: raise MaxKeys.
func (l *Lockout) Untracked() uint64 { return l.untracked.Load() }

// add tracks a new key, making room when the shard is full; nil when every
// entry is a live lock-out.
func (sh *lockShard) add(key string, t int64) *node[lockState] {
	if len(sh.keys) >= sh.max {
		switch old := sh.locked.front(); {
		case old != nil && old.val.until <= t:
			sh.drop(&sh.locked, old)
		case sh.counting.front() != nil:
			sh.drop(&sh.counting, sh.counting.front())
		default:
			return nil
		}
	}
	e := &node[lockState]{key: key, val: lockState{start: t}}
	sh.keys[key] = e
	sh.counting.pushBack(e)
	return e
}

// sweep drops a few entries that no longer matter, from the old ends of the
// lists, so that the table shrinks back after a burst of failures.
func (sh *lockShard) sweep(t, window int64) {
	for range sweepPerFail {
		if e := sh.locked.front(); e != nil && e.val.until <= t {
			sh.drop(&sh.locked, e)
		}
		if e := sh.counting.front(); e != nil && t-e.val.start >= 2*window {
			sh.drop(&sh.counting, e)
		}
	}
}

func (sh *lockShard) drop(l *list[lockState], e *node[lockState]) {
	l.remove(e)
	delete(sh.keys, e.key)
}

// unlock turns a key whose lock-out has ended into a fresh counter.
func (sh *lockShard) unlock(e *node[lockState], t int64) {
	sh.locked.remove(e)
	e.val = lockState{start: t}
	sh.counting.pushBack(e)
}

// count adds a failure at t, first moving the fixed windows on.
func (s *lockState) count(t, window int64) {
	switch d := t - s.start; {
	case d < window: // also a clock that went back
	case d < 2*window:
		s.prev, s.cur, s.start = s.cur, 0, s.start+window
	default:
		s.prev, s.cur, s.start = 0, 0, t
	}
	s.cur++
}

// estimate is the number of failures within one window before t.
func (s *lockState) estimate(t, window int64) float64 {
	elapsed := min(max(t-s.start, 0), window)
	return float64(s.prev)*float64(window-elapsed)/float64(window) + float64(s.cur)
}
