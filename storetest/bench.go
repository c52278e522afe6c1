package storetest

import (
	"runtime"
	"sync/atomic"
	"testing"
)

// Callers32 runs op b.N times from 32 goroutines (the next multiple of
// GOMAXPROCS, where 32 is not one), as 32 concurrent registrations would
// call a store; i counts from 1.
func Callers32(b *testing.B, op func(i int) error) {
	var n atomic.Int64
	procs := runtime.GOMAXPROCS(0)
	b.SetParallelism((32 + procs - 1) / procs) // RunParallel starts this many per P
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
