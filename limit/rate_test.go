package limit

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestRateBucket(t *testing.T) {
	r := NewRate(0)
	for i := range 5 {
		if _, ok := r.Allow("tpl", 5, 5, at(0)); !ok {
			t.Fatalf("take %d of a burst of 5 refused", i+1)
		}
	}
	wait, ok := r.Allow("tpl", 5, 5, at(0))
	if ok || wait != 200*time.Millisecond {
		t.Fatalf("sixth take: %v, %v; want a wait of 200ms", wait, ok)
	}
	if wait, ok := r.Allow("tpl", 5, 5, at(100*time.Millisecond)); ok || wait != 100*time.Millisecond {
		t.Fatalf("half-way: %v, %v; want a wait of 100ms", wait, ok)
	}
	if _, ok := r.Allow("tpl", 5, 5, at(200*time.Millisecond)); !ok {
		t.Fatal("refused after the refill")
	}
	if _, ok := r.Allow("other", 5, 5, at(200*time.Millisecond)); !ok {
		t.Fatal("another key shares the bucket")
	}
}

func TestRateRefillCaps(t *testing.T) {
	r := NewRate(0)
	r.Allow("tpl", 2, 2, at(0))
	// An hour idle refills no more than the burst.
	n := 0
	for {
		if _, ok := r.Allow("tpl", 2, 2, at(time.Hour)); !ok {
			break
		}
		n++
	}
	if n != 2 {
		t.Fatalf("took %d after an idle hour, want the burst of 2", n)
	}
}

func TestRateLowered(t *testing.T) {
	r := NewRate(0)
	r.Allow("tpl", 100, 100, at(0))
	// The operator lowers the limit: the bucket shrinks at once.
	n := 0
	for {
		if _, ok := r.Allow("tpl", 1, 1, at(0)); !ok {
			break
		}
		n++
	}
	if n != 1 {
		t.Fatalf("took %d after lowering to 1, want 1", n)
	}
}

func TestRateUnlimited(t *testing.T) {
	r := NewRate(0)
	for range 1000 {
		if _, ok := r.Allow("tpl", 0, 0, at(0)); !ok {
			t.Fatal("no limit refused")
		}
	}
	if r.Len() != 0 {
		t.Fatal("no limit kept a bucket")
	}
}

func TestRateClockGoesBack(t *testing.T) {
	r := NewRate(0)
	r.Allow("tpl", 1, 1, at(time.Hour))
	if _, ok := r.Allow("tpl", 1, 1, at(0)); ok {
		t.Fatal("a clock that went back refilled the bucket")
	}
	if _, ok := r.Allow("tpl", 1, 1, at(time.Hour+time.Second)); !ok {
		t.Fatal("no refill once the clock caught up")
	}
}

func TestRateBound(t *testing.T) {
	r := NewRate(10)
	for i := range 1000 {
		r.Allow(fmt.Sprint(i), 1, 1, at(0))
	}
	if r.Len() != 10 {
		t.Fatalf("Len = %d, want 10", r.Len())
	}
	// The most recent keys are kept, with their empty buckets.
	if _, ok := r.Allow("999", 1, 1, at(0)); ok {
		t.Fatal("the most recent key lost its bucket")
	}
}

func TestRateConcurrent(t *testing.T) {
	r := NewRate(100)
	var (
		wg sync.WaitGroup
		mu sync.Mutex
		ok int
	)
	for g := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				_, took := r.Allow(fmt.Sprint("k", (g+i)%200), 1, 1, at(0))
				if took {
					mu.Lock()
					ok++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if r.Len() > 100 || ok == 0 {
		t.Fatalf("Len = %d, %d taken", r.Len(), ok)
	}
}

func BenchmarkRateAllow(b *testing.B) {
	r := NewRate(0)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			r.Allow("tpl", 1e9, 1e9, t0.Add(time.Duration(i)))
			i++
		}
	})
}
