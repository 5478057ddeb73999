package shardhealth

import (
	"context"
	"maps"
	"slices"
	"strconv"
	"time"
)

// clock is time as the scheduler sees it; tests use a fake one.
type clock interface {
	Now() time.Time
	// At returns a channel that receives once the clock reaches t.
	At(t time.Time) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                  { return time.Now() }
func (realClock) At(t time.Time) <-chan time.Time { return time.After(time.Until(t)) }

// schedule hands due checks to the workers. When every worker is busy it waits
// for one: MaxConcurrent bounds the probes in flight, and a check that waited is
// probed late rather than twice.
func (h *ShardHealth) schedule(ctx context.Context) {
	for {
		h.mu.Lock()
		now := h.clock.Now()
		due := h.queue.popDue(now)
		h.active += len(due)
		next, queued := h.queue.first()
		h.mu.Unlock()

		for _, c := range due {
			select {
			case h.work <- c:
			case <-ctx.Done():
				return
			}
		}
		if len(due) > 0 {
			continue // time moved on while handing them out
		}
		var timer <-chan time.Time
		if queued {
			timer = h.clock.At(next)
		}
		select {
		case <-ctx.Done():
			return
		case <-h.kick:
		case <-timer:
		}
	}
}

func (h *ShardHealth) worker(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case c := <-h.work:
			h.probe(ctx, c)
		}
	}
}

// probe runs one probe of c, records its result and queues the next one.
func (h *ShardHealth) probe(ctx context.Context, c *check) {
	defer func() {
		h.mu.Lock()
		h.active--
		h.mu.Unlock()
	}()
	t := c.target // set at creation, never changed
	start := h.clock.Now()
	began := time.Now()
	pctx, cancel := context.WithTimeout(ctx, h.Timeout)
	outcome, err := h.prober.Run(pctx, t.Addr, t.Probe)
	cancel()
	if ctx.Err() != nil {
		return // shutting down
	}
	probeDuration.WithLabelValues(h.server, t.Probe.Kind).Observe(time.Since(began).Seconds())
	probeResults.WithLabelValues(h.server, t.Probe.Kind, string(outcome)).Inc()

	h.mu.Lock()
	if c.removed {
		h.mu.Unlock()
		return
	}
	from, to := c.record(outcome == Success, h.Rise, h.Fall)
	c.next = start.Add(h.nextDelay())
	h.queue.push(c)
	var services []string
	count := c.rises
	if from != to {
		services = slices.Sorted(maps.Keys(c.services))
		if to == down {
			count = c.falls
		}
		v := 0.0
		if to == up {
			v = 1
		}
		addressUp.WithLabelValues(h.server, t.String()).Set(v)
		transitions.WithLabelValues(h.server, to.String()).Inc()
	}
	h.mu.Unlock()
	h.wake()

	if from == to {
		return
	}
	switch {
	case to == down:
		log.Warningf("%s is down after %s (%s: %v); not answered for %v", t, results(count, "failed"), outcome, err, services)
	case from == down:
		log.Infof("%s is up again after %s; answered for %v", t, results(count, "successful"), services)
	default:
		return // unknown to up: it was answered all along
	}
	for _, key := range services {
		h.sink.HealthChanged(key)
	}
}

func results(n int, what string) string {
	if n == 1 {
		return "1 " + what + " probe"
	}
	return strconv.Itoa(n) + " " + what + " probes"
}
