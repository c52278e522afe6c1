package bench

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// Bucket layout, as in HdrHistogram with two significant decimal digits:
// durations below subCount nanoseconds have a bucket each; each power of two
// above is cut into halfCount linear buckets. A bucket is then never wider
// than 1/64 of its lower bound, so a quantile, reported as its bucket's
// midpoint, is within 1/128 (0.8%) of the true value.
const (
	subBits    = 7
	subCount   = 1 << subBits
	halfCount  = subCount / 2
	numBuckets = subCount + (63-subBits)*halfCount // up to the largest time.Duration
)

// Histogram records durations in fixed log-linear buckets: its size (30 KB)
// does not grow with the number of samples, and its quantiles are accurate
// to 1% however many there are. The zero value is ready to use, and Record
// is safe to call from many goroutines at once (it takes no lock).
type Histogram struct {
	counts [numBuckets]atomic.Uint64
	total  atomic.Uint64
	max    atomic.Int64
}

// Record adds one sample; a negative duration counts as zero.
func (h *Histogram) Record(d time.Duration) {
	d = max(d, 0)
	h.counts[bucketOf(d)].Add(1)
	h.total.Add(1)
	for {
		m := h.max.Load()
		if int64(d) <= m || h.max.CompareAndSwap(m, int64(d)) {
			return
		}
	}
}

// Count returns the number of samples.
func (h *Histogram) Count() uint64 { return h.total.Load() }

// Max returns the largest sample, exactly; 0 when there is none.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max.Load()) }

// Quantile returns the q-quantile (0 < q ≤ 1) of the samples: the smallest
// recorded value, within 0.8%, that at least q of the samples do not exceed.
// It returns 0 when there are no samples. Call it once recording is over:
// samples recorded meanwhile may or may not be counted.
func (h *Histogram) Quantile(q float64) time.Duration {
	total := h.total.Load()
	if total == 0 {
		return 0
	}
	rank := uint64(q*float64(total) + 0.999999) // ceil, without float noise above an integer
	rank = min(max(rank, 1), total)
	if rank == total {
		return h.Max() // the largest sample is known exactly
	}
	var seen uint64
	for i := range h.counts {
		if seen += h.counts[i].Load(); seen >= rank {
			return min(midpoint(i), h.Max())
		}
	}
	return h.Max()
}

// bucketOf returns the index of the bucket that holds d (d ≥ 0).
func bucketOf(d time.Duration) int {
	v := uint64(d)
	if v < subCount {
		return int(v)
	}
	shift := bits.Len64(v) - subBits // ≥ 1: v >> shift is in [halfCount, subCount)
	return subCount + (shift-1)*halfCount + int(v>>shift) - halfCount
}

// midpoint returns the middle of bucket i's range of durations.
func midpoint(i int) time.Duration {
	if i < subCount {
		return time.Duration(i)
	}
	k := i - subCount
	shift := k/halfCount + 1
	low := uint64(k%halfCount+halfCount) << shift
	return time.Duration(low + (1<<shift)/2)
}
