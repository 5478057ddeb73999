package shardhealth

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/coredns-fed/coredns-fed/plugin/federation"
)

func TestStaleMemberPolicy(t *testing.T) {
	tests := []struct {
		name  string
		probe string // the Corefile's probe kind
		ann   map[string]string
		stale []string // usable while the member is stale
	}{
		{"probes on: keep the shards, trust the probes", kindHTTP, nil, []string{"192.0.2.1"}},
		{"probes off: drop the shards", kindOff, nil, nil},
		{"probes off for the Service: drop its shard", kindHTTP, map[string]string{AnnotationProbe: "off"}, nil},
		{"probes on for the Service: keep its shard", kindOff, map[string]string{AnnotationProbe: "http"}, []string{"192.0.2.1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			logs := captureLog(t)
			h, clk, _, sink := newTestHealth(t, func(h *ShardHealth) {
				h.Probe.Kind = tc.probe
				h.Grace = 30 * time.Second
			})
			web := shard("b", "ns/web", tc.ann, "192.0.2.1")
			sink.snapshot(web)
			settle(t, h, clk)

			lost := errors.New("connection refused")
			down := federation.MemberStatus{Name: "b", Connected: false, Since: clk.Now(), Synced: true, Err: lost}
			sink.setLive(down)
			sink.takeChanged()

			// Within the grace period nothing changes.
			clk.Advance(29 * time.Second)
			h.checkLiveness()
			if got := usable(h, web, down); !slices.Equal(got, []string{"192.0.2.1"}) {
				t.Errorf("within grace: usable %v, want [192.0.2.1]", got)
			}
			if got := sink.takeChanged(); len(got) != 0 {
				t.Errorf("within grace: HealthChanged %q, want none", got)
			}

			// After it, the member is stale: logged once, every Service rebuilt.
			clk.Advance(time.Second)
			h.checkLiveness()
			h.checkLiveness()
			if got := usable(h, web, down); !slices.Equal(got, tc.stale) {
				t.Errorf("stale: usable %v, want %v", got, tc.stale)
			}
			if got := sink.takeChanged(); !slices.Equal(got, []string{""}) {
				t.Errorf("stale: HealthChanged %q, want one full rebuild", got)
			}
			if lines := logs.lines("Member b is stale", "connection refused"); len(lines) != 1 {
				t.Errorf("%d log lines for the stale member, want 1: %q", len(lines), lines)
			}

			// Back: fresh again, logged once, rebuilt.
			back := federation.MemberStatus{Name: "b", Connected: true, Since: clk.Now(), Synced: true}
			sink.setLive(back)
			h.checkLiveness()
			h.checkLiveness()
			if got := usable(h, web, back); !slices.Equal(got, []string{"192.0.2.1"}) {
				t.Errorf("back: usable %v, want [192.0.2.1]", got)
			}
			if got := sink.takeChanged(); !slices.Equal(got, []string{""}) {
				t.Errorf("back: HealthChanged %q, want one full rebuild", got)
			}
			if lines := logs.lines("Member b is no longer stale"); len(lines) != 1 {
				t.Errorf("%d log lines for the member's return, want 1: %q", len(lines), lines)
			}
		})
	}
}

func TestStaleMemberProbedAddressStillFiltered(t *testing.T) {
	// A stale member's shard stays, but only with the addresses its probes pass.
	h, clk, prober, sink := newTestHealth(t, func(h *ShardHealth) { h.Fall = 1 })
	web := shard("b", "ns/web", nil, "192.0.2.1", "192.0.2.2")
	prober.set("192.0.2.2", Refused)
	sink.snapshot(web)
	settle(t, h, clk)
	down := federation.MemberStatus{Name: "b", Since: clk.Now()}
	sink.setLive(down)
	clk.Advance(h.Grace)
	h.checkLiveness()
	if got := usable(h, web, down); !slices.Equal(got, []string{"192.0.2.1"}) {
		t.Errorf("usable %v, want [192.0.2.1]", got)
	}
}

func TestMemberFlapIsNotStale(t *testing.T) {
	logs := captureLog(t)
	h, clk, _, sink := newTestHealth(t, func(h *ShardHealth) {
		h.Probe.Kind = kindOff
		h.Grace = 10 * time.Second
	})
	web := shard("b", "ns/web", nil, "192.0.2.1")
	// Down for 8s, up, down again for 8s: each failure restarts the count.
	for range 3 {
		since := clk.Now()
		down := federation.MemberStatus{Name: "b", Since: since, Err: errors.New("watch failed")}
		sink.setLive(down)
		for range 8 {
			clk.Advance(time.Second)
			h.checkLiveness()
			if got := usable(h, web, down); len(got) != 1 {
				t.Fatalf("%s down: usable %v, want the shard", clk.Now().Sub(since), got)
			}
		}
		sink.setLive(federation.MemberStatus{Name: "b", Connected: true, Since: clk.Now()})
		h.checkLiveness()
	}
	if lines := logs.lines("Member b"); len(lines) != 0 {
		t.Errorf("log lines %q, want none", lines)
	}
	if got := sink.takeChanged(); len(got) != 0 {
		t.Errorf("HealthChanged %q, want none", got)
	}
}

func TestMemberWithoutLivenessTimeCountsFromFirstSight(t *testing.T) {
	// Before the federation has heard from a member its Since is zero; the grace
	// period counts from when shardhealth first saw it unreachable.
	h, clk, _, sink := newTestHealth(t, func(h *ShardHealth) { h.Grace = 5 * time.Second })
	sink.setLive(federation.MemberStatus{Name: "c"})
	h.checkLiveness()
	clk.Advance(4 * time.Second)
	h.checkLiveness()
	if h.isStale("c") {
		t.Fatal("stale before the grace period passed")
	}
	clk.Advance(time.Second)
	h.checkLiveness()
	if !h.isStale("c") {
		t.Fatal("not stale after the grace period")
	}
}

// The liveness loop runs on the clock by itself.
func TestLivenessLoop(t *testing.T) {
	h, clk, _, sink := newTestHealth(t, func(h *ShardHealth) { h.Grace = 3 * time.Second })
	sink.setLive(federation.MemberStatus{Name: "b", Since: clk.Now()})
	for range 4 {
		clk.Advance(time.Second)
		time.Sleep(5 * time.Millisecond)
	}
	waitFor(t, "member b to turn stale", func() bool {
		clk.Advance(time.Second)
		return h.isStale("b")
	})
}

func (h *ShardHealth) isStale(member string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.members[member] != nil && h.members[member].stale
}
