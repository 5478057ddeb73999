package shardhealth

import (
	"container/heap"
	"net/netip"
	"time"
)

// state is what the probes say about an address.
type state int8

const (
	// unknown: not probed yet. The address is answered, as readiness alone would
	// answer it, and its first result decides.
	unknown state = iota
	up
	down
)

func (s state) String() string {
	switch s {
	case up:
		return "up"
	case down:
		return "down"
	}
	return "unknown"
}

// target is what one check probes: an address with a resolved probe. Services
// that share both share the check.
type target struct {
	Addr  netip.Addr
	Probe Probe
}

func (t target) String() string { return t.Probe.url(t.Addr) }

// check is the probe state of one target. Its fields are guarded by
// ShardHealth.mu.
type check struct {
	target   target
	services map[string]struct{} // namespace/name of the Services answered with it

	state state
	rises int // consecutive successes
	falls int // consecutive failures

	next    time.Time // when the next probe is due
	index   int       // in the queue; -1 when not queued
	removed bool
}

// usable reports whether the address may be answered.
func (c *check) usable() bool { return c.state != down }

// record adds one probe result and returns the state before and after. An
// address changes state after rise consecutive successes or fall consecutive
// failures; the first result of an unknown address decides at once, as there is
// no earlier state to protect from a flap.
func (c *check) record(ok bool, rise, fall int) (from, to state) {
	from = c.state
	if ok {
		c.rises++
		c.falls = 0
		if c.state == unknown || (c.state == down && c.rises >= rise) {
			c.state = up
		}
	} else {
		c.falls++
		c.rises = 0
		if c.state == unknown || (c.state == up && c.falls >= fall) {
			c.state = down
		}
	}
	return from, c.state
}

// checkQueue orders checks by when they are due.
type checkQueue []*check

func (q checkQueue) Len() int           { return len(q) }
func (q checkQueue) Less(i, j int) bool { return q[i].next.Before(q[j].next) }
func (q checkQueue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index = i
	q[j].index = j
}

func (q *checkQueue) Push(x any) {
	c := x.(*check)
	c.index = len(*q)
	*q = append(*q, c)
}

func (q *checkQueue) Pop() any {
	old := *q
	n := len(old)
	c := old[n-1]
	old[n-1] = nil
	c.index = -1
	*q = old[:n-1]
	return c
}

func (q *checkQueue) push(c *check) { heap.Push(q, c) }

func (q *checkQueue) remove(c *check) {
	if c.index >= 0 {
		heap.Remove(q, c.index)
	}
}

// popDue removes and returns the checks due at now.
func (q *checkQueue) popDue(now time.Time) []*check {
	var due []*check
	for len(*q) > 0 && !(*q)[0].next.After(now) {
		due = append(due, heap.Pop(q).(*check))
	}
	return due
}

// first returns when the earliest check is due, and false when none is queued.
func (q checkQueue) first() (time.Time, bool) {
	if len(q) == 0 {
		return time.Time{}, false
	}
	return q[0].next, true
}
