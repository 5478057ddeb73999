package shardhealth

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/coredns-fed/coredns-fed/plugin/federation"
)

func TestRiseFall(t *testing.T) {
	h, clk, prober, sink := newTestHealth(t, func(h *ShardHealth) { h.Rise, h.Fall = 2, 3 })
	nginx := shard("a", "ns/nginx", nil, "192.0.2.1", "192.0.2.2")

	// Before any probe the addresses are answered as readiness alone would.
	if got := usable(h, nginx); len(got) != 2 {
		t.Fatalf("before probing: usable %v, want both", got)
	}
	sink.snapshot(nginx)
	settle(t, h, clk)
	if n := prober.count(); n != 2 {
		t.Fatalf("first round: %d probes, want 2", n)
	}

	steps := []struct {
		outcome Outcome // of 192.0.2.2 in this round
		want    []string
		changed bool
	}{
		{Refused, []string{"192.0.2.1", "192.0.2.2"}, false}, // 1 of 3 failures
		{Timeout, []string{"192.0.2.1", "192.0.2.2"}, false}, // 2 of 3
		{Refused, []string{"192.0.2.1"}, true},               // 3 of 3: down
		{Refused, []string{"192.0.2.1"}, false},
		{Success, []string{"192.0.2.1"}, false}, // 1 of 2 successes
		{Refused, []string{"192.0.2.1"}, false}, // resets the count
		{Success, []string{"192.0.2.1"}, false},
		{Success, []string{"192.0.2.1", "192.0.2.2"}, true}, // 2 of 2: up
		{Success, []string{"192.0.2.1", "192.0.2.2"}, false},
	}
	sink.takeChanged()
	for i, s := range steps {
		prober.set("192.0.2.2", s.outcome)
		tick(t, h, clk, h.Interval)
		if got := usable(h, nginx); !slices.Equal(got, s.want) {
			t.Errorf("round %d (%s): usable %v, want %v", i+1, s.outcome, got, s.want)
		}
		changed := sink.takeChanged()
		if s.changed != slices.Equal(changed, []string{"ns/nginx"}) || (!s.changed && len(changed) > 0) {
			t.Errorf("round %d (%s): HealthChanged %q, want a call for ns/nginx: %v", i+1, s.outcome, changed, s.changed)
		}
	}
	if n := len(prober.callsOf("192.0.2.1")); n != len(steps)+1 {
		t.Errorf("192.0.2.1 probed %d times, want one per interval: %d", n, len(steps)+1)
	}
}

func TestUnknownAddressDecidedByFirstProbe(t *testing.T) {
	h, clk, prober, sink := newTestHealth(t)
	prober.set("192.0.2.9", Refused)
	web := shard("a", "ns/web", nil, "192.0.2.1", "192.0.2.9")
	sink.snapshot(web)
	settle(t, h, clk)
	if got := usable(h, web); !slices.Equal(got, []string{"192.0.2.1"}) {
		t.Errorf("usable %v, want only 192.0.2.1", got)
	}
	if got := sink.takeChanged(); !slices.Equal(got, []string{"ns/web"}) {
		t.Errorf("HealthChanged %q, want [ns/web]", got)
	}
}

func TestSharedAddressNotifiesEveryService(t *testing.T) {
	h, clk, prober, sink := newTestHealth(t, func(h *ShardHealth) { h.Fall = 1 })
	a := shard("a", "ns/a", nil, "192.0.2.1")
	b := shard("b", "ns/b", nil, "192.0.2.1")
	sink.snapshot(a, b)
	settle(t, h, clk)
	if n := prober.count(); n != 1 {
		t.Errorf("%d probes for one address shared by two Services, want 1", n)
	}
	prober.set("192.0.2.1", Refused)
	tick(t, h, clk, h.Interval)
	if got := sink.takeChanged(); !slices.Equal(got, []string{"ns/a", "ns/b"}) {
		t.Errorf("HealthChanged %q, want [ns/a ns/b]", got)
	}
}

// A Service that starts sharing an address is told of the address's next
// change even when the change comes while the snapshot with its shard is
// being built: after the build asked Usable and before that snapshot is
// reconciled. Both directions: down, and up again.
func TestSharedAddressChangeDuringBuild(t *testing.T) {
	for _, tc := range []struct {
		name         string
		before, then Outcome
		usable       []string // what b's build gets, before the change
	}{
		{"down", Success, Refused, []string{"192.0.2.1"}},
		{"up", Refused, Success, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, clk, prober, sink := newTestHealth(t, func(h *ShardHealth) { h.Rise, h.Fall = 1, 1 })
			a := shard("a", "ns/a", nil, "192.0.2.1")
			b := shard("b", "ns/b", nil, "192.0.2.1")
			prober.set("192.0.2.1", tc.before)
			sink.snapshot(a)
			settle(t, h, clk)
			sink.takeChanged()

			// The next build gives ns/b the address, as it is now.
			if got := usable(h, b); !slices.Equal(got, tc.usable) {
				t.Fatalf("usable %v, want %v", got, tc.usable)
			}
			// The address changes before that snapshot is swapped in and reconciled.
			prober.set("192.0.2.1", tc.then)
			tick(t, h, clk, h.Interval)
			sink.snapshot(a, b)
			settle(t, h, clk)
			if got := sink.takeChanged(); !slices.Contains(got, "ns/b") {
				t.Errorf("HealthChanged %q: ns/b, answered from the state before the change, is not rebuilt", got)
			}
		})
	}
}

func TestChecksFollowSnapshots(t *testing.T) {
	h, clk, prober, sink := newTestHealth(t)
	sink.snapshot(shard("a", "ns/web", nil, "192.0.2.1", "192.0.2.2"))
	settle(t, h, clk)

	// 192.0.2.2 leaves; a shard that is not ready is not probed.
	notReady := shard("b", "ns/web", nil, "192.0.2.3")
	notReady.Ready = false
	sink.snapshot(shard("a", "ns/web", nil, "192.0.2.1"), notReady)
	tick(t, h, clk, h.Interval)
	tick(t, h, clk, h.Interval)
	if n := len(prober.callsOf("192.0.2.2")); n != 1 {
		t.Errorf("192.0.2.2 probed %d times, want 1: it left with the first snapshot", n)
	}
	if n := len(prober.callsOf("192.0.2.3")); n != 0 {
		t.Errorf("192.0.2.3 probed %d times, want 0: its shard is not ready", n)
	}
	if n := len(prober.callsOf("192.0.2.1")); n != 3 {
		t.Errorf("192.0.2.1 probed %d times, want 3", n)
	}
	h.mu.Lock()
	n := len(h.checks)
	h.mu.Unlock()
	if n != 1 {
		t.Errorf("%d checks, want 1", n)
	}
}

func TestJitterSpreadsProbes(t *testing.T) {
	const step = 50 * time.Millisecond
	h, clk, prober, sink := newTestHealth(t, func(h *ShardHealth) {
		h.Interval, h.Jitter = time.Second, 0.2
	})
	var shards []federation.Shard
	for i := range 5 {
		shards = append(shards, shard("a", fmt.Sprintf("ns/s%d", i), nil, fmt.Sprintf("192.0.2.%d", i+1)))
	}
	start := clk.Now()
	sink.snapshot(shards...)
	for clk.Now().Sub(start) < 12*time.Second {
		tick(t, h, clk, step)
	}

	distinct := map[time.Duration]bool{}
	for i := range 5 {
		calls := prober.callsOf(fmt.Sprintf("192.0.2.%d", i+1))
		if len(calls) < 10 {
			t.Fatalf("192.0.2.%d: %d probes in 12s, want at least 10", i+1, len(calls))
		}
		// The first probe comes within jitter × interval; later ones every
		// interval ± jitter, seen through the clock's steps.
		if first := calls[0].at.Sub(start); first > 200*time.Millisecond+step {
			t.Errorf("192.0.2.%d: first probe after %s, want within %s", i+1, first, 200*time.Millisecond)
		}
		for j := 1; j < len(calls); j++ {
			gap := calls[j].at.Sub(calls[j-1].at)
			if gap < 800*time.Millisecond-step || gap > 1200*time.Millisecond+step {
				t.Errorf("192.0.2.%d: probes %s apart, want 0.8s to 1.2s", i+1, gap)
			}
			distinct[gap] = true
		}
	}
	if len(distinct) < 3 {
		t.Errorf("gaps between probes take %d values, want them spread", len(distinct))
	}
}

func TestConcurrencyBound(t *testing.T) {
	const limit = 3
	h, clk, prober, sink := newTestHealth(t, func(h *ShardHealth) {
		h.MaxConcurrent = limit
		h.Timeout = time.Minute // probes end when released, not by the timeout
	})
	hold := make(chan struct{})
	prober.hold = hold
	var shards []federation.Shard
	for i := range 10 {
		shards = append(shards, shard("a", fmt.Sprintf("ns/s%d", i), nil, fmt.Sprintf("192.0.2.%d", i+1)))
	}
	sink.snapshot(shards...)

	waitFor(t, "probes to fill every slot", func() bool { return prober.count() == limit })
	time.Sleep(50 * time.Millisecond)
	if n := prober.count(); n != limit {
		t.Fatalf("%d probes started while %d are held, want %d", n, limit, limit)
	}
	// Answers do not wait for probes.
	if got := usable(h, shards[9]); len(got) != 1 {
		t.Errorf("usable %v while probes are held, want the address", got)
	}
	close(hold)
	settle(t, h, clk)
	prober.mu.Lock()
	defer prober.mu.Unlock()
	if len(prober.calls) != 10 {
		t.Errorf("%d probes, want 10", len(prober.calls))
	}
	if prober.maxInFlight != limit {
		t.Errorf("%d probes in flight at most, want %d", prober.maxInFlight, limit)
	}
}

func TestSlowProbeDoesNotHoldOthers(t *testing.T) {
	// One address hangs until its timeout; the other keeps its schedule.
	h, clk, prober, sink := newTestHealth(t, func(h *ShardHealth) {
		h.MaxConcurrent = 2
		h.Timeout = 200 * time.Millisecond
	})
	sink.snapshot(shard("a", "ns/fast", nil, "192.0.2.1"))
	settle(t, h, clk)

	hold := make(chan struct{})
	defer close(hold)
	prober.mu.Lock()
	prober.hold = hold
	prober.mu.Unlock()
	sink.snapshot(shard("a", "ns/fast", nil, "192.0.2.1"), shard("a", "ns/hang", nil, "192.0.2.2"))
	waitFor(t, "the hanging probe to start", func() bool { return len(prober.callsOf("192.0.2.2")) == 1 })
	prober.mu.Lock()
	prober.hold = nil
	prober.mu.Unlock()

	clk.Advance(h.Interval)
	waitFor(t, "the fast probe", func() bool { return len(prober.callsOf("192.0.2.1")) == 2 })
	settle(t, h, clk) // the hanging probe ends by its timeout, as a failure
	hang := shard("a", "ns/hang", nil, "192.0.2.2")
	if got := usable(h, hang); len(got) != 0 {
		t.Errorf("usable %v after the probe timed out, want none", got)
	}
}
