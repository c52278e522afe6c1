// Package limit holds the bounded in-memory tables of otos: a lock-out of
// keys (client addresses) that fail too often, a token bucket per key
// (device templates), and a cache of expiring values (the core's views of
// the store). All are safe for concurrent use, take the time as an argument
// so that tests control the clock, and hold at most a fixed number of keys
// however many distinct keys arrive, so that no traffic can grow their memory
// without bound. State is per process: several otos nodes limit separately.
//
// It imports the standard library only.
package limit

import "time"

// DefaultMaxKeys is how many keys a limiter tracks unless told otherwise.
// A lock-out entry costs about 170 bytes with its key and map slot, so the
// default bounds a Lockout at roughly 17 MB.
const DefaultMaxKeys = 100_000

// clock turns instants into nanoseconds since an epoch taken when the
// limiter is made. time.Time.Sub uses the monotonic clock when both instants
// carry it (real time.Now values), so a step of the wall clock neither ends
// nor prolongs a lock-out; injected clocks without a monotonic reading work
// on their wall time.
type clock struct{ epoch time.Time }

func newClock() clock { return clock{epoch: time.Now()} }

func (c clock) ticks(now time.Time) int64 { return int64(now.Sub(c.epoch)) }

// node is an element of an intrusive doubly linked list, keyed for its map.
type node[T any] struct {
	prev, next *node[T]
	key        string
	val        T
}

// list is a doubly linked list of nodes, oldest at the front.
type list[T any] struct {
	head, tail *node[T]
	n          int
}

func (l *list[T]) front() *node[T] { return l.head }

func (l *list[T]) pushBack(e *node[T]) {
	e.prev, e.next = l.tail, nil
	if l.tail != nil {
		l.tail.next = e
	} else {
		l.head = e
	}
	l.tail = e
	l.n++
}

func (l *list[T]) remove(e *node[T]) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		l.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		l.tail = e.prev
	}
	e.prev, e.next = nil, nil
	l.n--
}

func (l *list[T]) moveToBack(e *node[T]) {
	if l.tail == e {
		return
	}
	l.remove(e)
	l.pushBack(e)
}
