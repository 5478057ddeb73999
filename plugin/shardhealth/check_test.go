package shardhealth

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestRecord(t *testing.T) {
	const rise, fall = 2, 3
	tests := []struct {
		name    string
		results string // s: success, f: failure
		want    string // state after each result: u up, d down
	}{
		{"first success decides", "s", "u"},
		{"first failure decides", "f", "d"},
		{"up needs fall failures", "sfffs", "uuudd"},
		{"a success resets the failures", "sffsffs", "uuuuuuu"},
		{"down needs rise successes", "fss", "ddu"},
		{"a failure resets the successes", "fsfsfss", "ddddddu"},
		{"flapping never settles", "sffsffsff", "uuuuuuuuu"},
		{"back and forth", "sfffssfff", "uuudduuud"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &check{}
			got := ""
			for _, r := range tc.results {
				c.record(r == 's', rise, fall)
				got += map[state]string{up: "u", down: "d", unknown: "?"}[c.state]
			}
			if got != tc.want {
				t.Errorf("states %s, want %s", got, tc.want)
			}
		})
	}
}

func TestRecordReportsTransitions(t *testing.T) {
	c := &check{}
	if from, to := c.record(true, 1, 1); from != unknown || to != up {
		t.Errorf("first success: %s -> %s, want unknown -> up", from, to)
	}
	if from, to := c.record(true, 1, 1); from != up || to != up {
		t.Errorf("second success: %s -> %s, want up -> up", from, to)
	}
	if from, to := c.record(false, 1, 1); from != up || to != down {
		t.Errorf("failure: %s -> %s, want up -> down", from, to)
	}
	if !(&check{state: unknown}).usable() || !(&check{state: up}).usable() || (&check{state: down}).usable() {
		t.Error("usable: want unknown and up answered, down not")
	}
}

func TestJitterBounds(t *testing.T) {
	for _, jitter := range []float64{0, 0.1, 0.2, 0.5} {
		h := New()
		h.Interval = 2 * time.Second
		h.Jitter = jitter
		r := rand.New(rand.NewPCG(1, 2))
		h.rand = r.Float64

		lo := time.Duration(float64(h.Interval) * (1 - jitter))
		hi := time.Duration(float64(h.Interval) * (1 + jitter))
		minNext, maxNext := time.Duration(1<<62), time.Duration(0)
		maxFirst := time.Duration(0)
		for range 10000 {
			d := h.nextDelay()
			if d < lo || d > hi {
				t.Fatalf("jitter %v: next delay %s outside [%s, %s]", jitter, d, lo, hi)
			}
			minNext, maxNext = min(minNext, d), max(maxNext, d)
			f := h.firstDelay()
			if f < 0 || f > time.Duration(jitter*float64(h.Interval)) {
				t.Fatalf("jitter %v: first delay %s outside [0, %s]", jitter, f, time.Duration(jitter*float64(h.Interval)))
			}
			maxFirst = max(maxFirst, f)
		}
		// The delays must use the range, not sit at one value.
		if spread := maxNext - minNext; float64(spread) < 0.95*float64(hi-lo) {
			t.Errorf("jitter %v: delays span %s, want nearly %s", jitter, spread, hi-lo)
		}
		if float64(maxFirst) < 0.95*jitter*float64(h.Interval) {
			t.Errorf("jitter %v: first delays reach %s, want nearly %s", jitter, maxFirst, time.Duration(jitter*float64(h.Interval)))
		}
	}

	// The extremes of the random source map onto the bounds.
	h := New()
	h.Interval, h.Jitter = 10*time.Second, 0.2
	for _, tc := range []struct {
		r          float64
		next, frst time.Duration
	}{
		{0, 8 * time.Second, 0},
		{0.5, 10 * time.Second, time.Second},
	} {
		h.rand = func() float64 { return tc.r }
		if d := h.nextDelay(); d != tc.next {
			t.Errorf("rand %v: next delay %s, want %s", tc.r, d, tc.next)
		}
		if d := h.firstDelay(); d != tc.frst {
			t.Errorf("rand %v: first delay %s, want %s", tc.r, d, tc.frst)
		}
	}
}
