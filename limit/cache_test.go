package limit

import (
	"fmt"
	"testing"
	"time"
)

func TestCacheExpiryAndEviction(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := NewCache[int](CacheConfig{MaxKeys: 3})
	for i := range 3 {
		c.Put(fmt.Sprint(i), "", i, now.Add(time.Second))
	}
	if v, ok := c.Get("0", now); !ok || v != 0 {
		t.Fatalf("fresh entry: %v %v", v, ok)
	}
	// "1" is now the least recently used: the fourth key pushes it out.
	c.Put("3", "", 3, now.Add(time.Second))
	if _, ok := c.Get("1", now); ok {
		t.Error("the least recently used entry survived a full cache")
	}
	for _, k := range []string{"0", "2", "3"} {
		if _, ok := c.Get(k, now); !ok {
			t.Errorf("entry %s lost", k)
		}
	}
	if _, ok := c.Get("0", now.Add(time.Second)); ok {
		t.Error("an entry was returned at its deadline")
	}
	if c.Len() != 2 {
		t.Errorf("Len = %d after an expired look-up, want 2", c.Len())
	}
}

func TestCacheTags(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	later := now.Add(time.Minute)
	c := NewCache[string](CacheConfig{})
	c.Put("hash-a", "tpl-1", "a", later)
	c.Put("hash-b", "tpl-1", "b", later) // a rotated secret: both stay
	c.Put("hash-c", "tpl-2", "c", later)
	if _, ok := c.Get("hash-a", now); !ok {
		t.Fatal("a second key of a tag dropped the first one")
	}
	epoch := c.Epoch()
	c.DeleteTag("tpl-1")
	for k, want := range map[string]bool{"hash-a": false, "hash-b": false, "hash-c": true} {
		if _, ok := c.Get(k, now); ok != want {
			t.Errorf("after DeleteTag: %s present = %v, want %v", k, ok, want)
		}
	}
	if c.PutIf("hash-a", "tpl-1", "stale", later, epoch) {
		t.Error("PutIf stored a value read before the tag was dropped")
	}
	if !c.PutIf("hash-a", "tpl-1", "fresh", later, c.Epoch()) {
		t.Error("PutIf refused a value read after the drop")
	}

	u := NewCache[string](CacheConfig{UniqueTag: true})
	u.Put("voucher-1", "dev-1", "old", later)
	u.Put("voucher-2", "dev-1", "new", later)
	if _, ok := u.Get("voucher-1", now); ok {
		t.Error("a unique tag kept its old key")
	}
	u.Update("voucher-2", func(s string) string { return s + "+connected" })
	if v, _ := u.Get("voucher-2", now); v != "new+connected" {
		t.Errorf("Update: %q", v)
	}
	u.Clear()
	if u.Len() != 0 {
		t.Error("Clear left entries")
	}
}

// BenchmarkCacheGet measures a hit, the cost every CONNECT of a known
// device pays.
func BenchmarkCacheGet(b *testing.B) {
	c := NewCache[*int](CacheConfig{})
	now := time.Now()
	v := 1
	for i := range 10_000 {
		c.Put(fmt.Sprint(i), fmt.Sprint(i), &v, now.Add(time.Hour))
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := c.Get("5000", now); !ok {
			b.Fatal("miss")
		}
	}
}
