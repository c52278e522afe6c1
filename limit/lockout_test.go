package limit

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"
)

// t0 is the injected clock's start; tests add to it.
var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

// failN reports n failures of key at now, and whether the last one locked it.
func failN(l *Lockout, key string, n int, now time.Time) bool {
	locked := false
	for range n {
		locked = l.Fail(key, now)
	}
	return locked
}

func TestLockoutLocksAtThreshold(t *testing.T) {
	l := NewLockout(LockoutConfig{Threshold: 3, Window: time.Minute, Duration: 5 * time.Minute})
	if failN(l, "a", 2, at(0)) {
		t.Fatal("locked after 2 failures of 3")
	}
	if _, locked := l.Locked("a", at(0)); locked {
		t.Fatal("Locked after 2 failures of 3")
	}
	if !l.Fail("a", at(time.Second)) {
		t.Fatal("third failure did not lock")
	}
	if d, locked := l.Locked("a", at(time.Second)); !locked || d != 5*time.Minute {
		t.Fatalf("Locked = %v, %v; want 5m, true", d, locked)
	}
	if _, locked := l.Locked("b", at(time.Second)); locked {
		t.Fatal("another key is locked too")
	}
}

func TestLockoutCoolDown(t *testing.T) {
	l := NewLockout(LockoutConfig{Threshold: 3, Window: time.Minute, Duration: 5 * time.Minute})
	failN(l, "a", 3, at(0))
	end := 5 * time.Minute
	if d, locked := l.Locked("a", at(end-time.Nanosecond)); !locked || d != time.Nanosecond {
		t.Fatalf("just before the end: Locked = %v, %v", d, locked)
	}
	// Failures while locked neither count nor prolong the lock-out.
	if failN(l, "a", 100, at(time.Minute)) {
		t.Fatal("a failure while locked locked again")
	}
	if _, locked := l.Locked("a", at(end)); locked {
		t.Fatal("still locked at the end of the cool-down")
	}
	// Afterwards the key starts afresh: two failures do not lock it again.
	if failN(l, "a", 2, at(end)) {
		t.Fatal("locked again by 2 failures after the cool-down")
	}
	if !l.Fail("a", at(end+time.Second)) {
		t.Fatal("a full threshold after the cool-down did not lock")
	}
}

func TestLockoutWindowSlides(t *testing.T) {
	cases := []struct {
		name   string
		every  time.Duration
		n      int
		locked bool
	}{
		{"ok/every-40s-never-3-a-minute", 40 * time.Second, 50, false},
		{"ok/every-31s", 31 * time.Second, 50, false},
		{"lock/every-20s", 20 * time.Second, 3, true},
		{"lock/every-29s", 29 * time.Second, 50, true},
		{"lock/at-once", 0, 3, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := NewLockout(LockoutConfig{Threshold: 3, Window: time.Minute, Duration: time.Hour})
			locked := false
			for i := range c.n {
				locked = locked || l.Fail("a", at(time.Duration(i)*c.every))
			}
			if locked != c.locked {
				t.Fatalf("locked = %v, want %v", locked, c.locked)
			}
		})
	}
}

func TestLockoutOldFailuresExpire(t *testing.T) {
	l := NewLockout(LockoutConfig{Threshold: 3, Window: time.Minute})
	failN(l, "a", 2, at(0))
	if l.Fail("a", at(61*time.Second)) {
		t.Fatal("failures older than the window still counted")
	}
	if l.Fail("a", at(10*time.Minute)) || l.Fail("a", at(10*time.Minute)) {
		t.Fatal("failures from long ago still counted")
	}
	if !l.Fail("a", at(10*time.Minute+time.Second)) {
		t.Fatal("three failures within the window did not lock")
	}
}

func TestLockoutDefaults(t *testing.T) {
	l := NewLockout(LockoutConfig{})
	if failN(l, "a", DefaultThreshold-1, at(0)) {
		t.Fatal("locked before the default threshold")
	}
	if !l.Fail("a", at(DefaultWindow-time.Second)) {
		t.Fatal("the default threshold within the default window did not lock")
	}
	if d, _ := l.Locked("a", at(DefaultWindow-time.Second)); d != DefaultDuration {
		t.Fatalf("retry after %v, want %v", d, DefaultDuration)
	}
	if n := l.shards[0].max * len(l.shards); n != DefaultMaxKeys {
		t.Fatalf("capacity %d, want %d", n, DefaultMaxKeys)
	}
}

func TestLockoutClockGoesBack(t *testing.T) {
	l := NewLockout(LockoutConfig{Threshold: 2, Duration: time.Minute})
	l.Fail("a", at(time.Hour))
	if !l.Fail("a", at(0)) {
		t.Fatal("a failure from an earlier clock did not count")
	}
	if d, locked := l.Locked("a", at(-time.Hour)); !locked || d != time.Minute {
		t.Fatalf("Locked = %v, %v; want the cool-down at most", d, locked)
	}
}

func TestLockoutEvictsLeastRecentCounter(t *testing.T) {
	l := NewLockout(LockoutConfig{Threshold: 5, MaxKeys: 3})
	for _, k := range []string{"a", "b", "c", "a", "d"} {
		l.Fail(k, at(0))
	}
	if l.Len() != 3 {
		t.Fatalf("Len = %d, want 3", l.Len())
	}
	if _, ok := l.shards[0].keys["b"]; ok {
		t.Fatal(`"b", the least recent, was kept`)
	}
	// "a" kept its two failures; three more lock it.
	if !failN(l, "a", 3, at(0)) {
		t.Fatal(`"a" lost its count`)
	}
}

func TestLockoutRotationKeepsLocks(t *testing.T) {
	l := NewLockout(LockoutConfig{Threshold: 2, MaxKeys: 100})
	for i := range 10 {
		failN(l, fmt.Sprint("locked-", i), 2, at(0))
	}
	for i := range 100_000 {
		l.Fail(fmt.Sprint("rotating-", i), at(time.Second))
	}
	if l.Len() > 100 {
		t.Fatalf("Len = %d over MaxKeys 100", l.Len())
	}
	for i := range 10 {
		if _, locked := l.Locked(fmt.Sprint("locked-", i), at(time.Second)); !locked {
			t.Fatalf("locked-%d was evicted by rotating keys", i)
		}
	}
	if l.Untracked() != 0 {
		t.Fatalf("Untracked = %d with room for counters", l.Untracked())
	}
}

func TestLockoutFullOfLocks(t *testing.T) {
	l := NewLockout(LockoutConfig{Threshold: 1, MaxKeys: 10, Duration: time.Minute})
	for i := range 10 {
		l.Fail(fmt.Sprint("locked-", i), at(0))
	}
	if l.Fail("new", at(time.Second)) {
		t.Fatal("a new key was tracked in a table full of live lock-outs")
	}
	if l.Untracked() != 1 || l.Len() != 10 {
		t.Fatalf("Untracked = %d, Len = %d; want 1, 10", l.Untracked(), l.Len())
	}
	for i := range 10 {
		if _, locked := l.Locked(fmt.Sprint("locked-", i), at(time.Second)); !locked {
			t.Fatalf("locked-%d was evicted", i)
		}
	}
	// Once the lock-outs end, their places are free again.
	if !l.Fail("new", at(time.Minute)) {
		t.Fatal("a new key was not tracked after the lock-outs ended")
	}
}

func TestLockoutShrinksAfterBurst(t *testing.T) {
	l := NewLockout(LockoutConfig{Threshold: 1, MaxKeys: 1000, Window: time.Minute, Duration: time.Minute})
	for i := range 1000 {
		l.Fail(fmt.Sprint(i), at(0))
	}
	for range 1000 {
		l.Fail("later", at(time.Hour))
	}
	if n := l.Len(); n > 1 {
		t.Fatalf("Len = %d an hour after the burst, want 1", n)
	}
}

// TestLockoutMemoryBound sends a million distinct keys through a default
// Lockout: it tracks at most DefaultMaxKeys, in a few tens of megabytes.
func TestLockoutMemoryBound(t *testing.T) {
	if testing.Short() {
		t.Skip("a million keys")
	}
	before := heapInUse()
	l := NewLockout(LockoutConfig{})
	for i := range 1_000_000 {
		l.Fail(fmt.Sprintf("2001:db8:%x:%x::/64", i>>16, i&0xffff), at(time.Duration(i)*time.Microsecond))
	}
	if n := l.Len(); n > DefaultMaxKeys || n < DefaultMaxKeys*9/10 {
		t.Fatalf("Len = %d, want about %d", n, DefaultMaxKeys)
	}
	grown := int64(heapInUse()) - int64(before)
	t.Logf("%d keys: heap grew by %.1f MB", l.Len(), float64(grown)/(1<<20))
	if grown > 40<<20 {
		t.Fatalf("heap grew by %d bytes", grown)
	}
	runtime.KeepAlive(l)
	checkShards(t, l)
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

func TestLockoutConcurrent(t *testing.T) {
	l := NewLockout(LockoutConfig{Threshold: 20, MaxKeys: minShardedKeys, Duration: time.Second})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 20_000 {
				key := fmt.Sprint((i * (g + 1)) % 6000)
				now := at(time.Duration(i) * time.Millisecond)
				if _, locked := l.Locked(key, now); !locked {
					l.Fail(key, now)
				}
			}
		})
	}
	wg.Wait()
	if l.Len() > minShardedKeys {
		t.Fatalf("Len = %d over MaxKeys %d", l.Len(), minShardedKeys)
	}
	checkShards(t, l)
}

// checkShards checks that every shard's map and lists agree.
func checkShards(t *testing.T, l *Lockout) {
	t.Helper()
	for i := range l.shards {
		sh := &l.shards[i]
		if len(sh.keys) > sh.max || len(sh.keys) != sh.counting.n+sh.locked.n {
			t.Fatalf("shard %d: %d keys, max %d, lists %d+%d", i, len(sh.keys), sh.max, sh.counting.n, sh.locked.n)
		}
		for _, ls := range []*list[lockState]{&sh.counting, &sh.locked} {
			n := 0
			for e := ls.front(); e != nil; e = e.next {
				if sh.keys[e.key] != e {
					t.Fatalf("shard %d: listed key %q not in the map", i, e.key)
				}
				n++
			}
			if n != ls.n {
				t.Fatalf("shard %d: list of %d counts %d", i, n, ls.n)
			}
		}
	}
}

// BenchmarkLockoutLocked is the hot path: every device auth request asks
// whether its address is locked; most are not even tracked.
func BenchmarkLockoutLocked(b *testing.B) {
	l := NewLockout(LockoutConfig{})
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = fmt.Sprintf("198.51.100.%d", i)
		if i%2 == 0 {
			l.Fail(keys[i], t0)
		}
	}
	now := t0.Add(time.Second)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			l.Locked(keys[i%len(keys)], now)
			i++
		}
	})
}

// BenchmarkLockoutFail records failures over many keys, with evictions.
func BenchmarkLockoutFail(b *testing.B) {
	l := NewLockout(LockoutConfig{MaxKeys: 10_000})
	keys := make([]string, 50_000)
	for i := range keys {
		keys[i] = fmt.Sprintf("203.0.%d.%d", i>>8, i&0xff)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			l.Fail(keys[i%len(keys)], t0.Add(time.Duration(i)*time.Millisecond))
			i++
		}
	})
}
