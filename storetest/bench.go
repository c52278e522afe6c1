package storetest

import (
	"runtime"
	"sync/atomic"
	"testing"
)

// Callers32 runs op b.N times from 32 goroutines, as 32 concurrent
// registrations would call a store on a 2-core machine; i counts from 1.
func Callers32(b *testing.B, op func(i int) error) {
	var n atomic.Int64
	b.SetParallelism(max(1, 32/runtime.GOMAXPROCS(0))) // RunParallel starts this many per P
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := op(int(n.Add(1))); err != nil {
				b.Fatal(err)
			}
		}
	})
}
