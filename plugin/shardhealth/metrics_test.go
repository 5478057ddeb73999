package shardhealth

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// value reads a gauge or counter.
func value(m prometheus.Metric) float64 {
	var d dto.Metric
	m.Write(&d)
	if d.Gauge != nil {
		return d.Gauge.GetValue()
	}
	return d.Counter.GetValue()
}

// series counts the series of c that carry the server label.
func series(c prometheus.Collector, server string) int {
	ch := make(chan prometheus.Metric, 64)
	go func() { c.Collect(ch); close(ch) }()
	n := 0
	for m := range ch {
		var d dto.Metric
		m.Write(&d)
		for _, l := range d.Label {
			if l.GetName() == "server" && l.GetValue() == server {
				n++
			}
		}
	}
	return n
}

func TestMetrics(t *testing.T) {
	// Counters live as long as the process: a fresh server label per run.
	server := fmt.Sprintf("dns://metrics-%d.test:53", time.Now().UnixNano())
	h, clk, prober, sink := newTestHealth(t, func(h *ShardHealth) {
		h.server = server
		h.Fall, h.Rise = 1, 1
	})
	web := shard("a", "ns/web", nil, "192.0.2.1")
	addr := web.Addrs[0]
	tgt := target{addr, h.Probe.resolved()}.String()
	if tgt != "http://192.0.2.1:80/" {
		t.Fatalf("target %q", tgt)
	}

	sink.snapshot(web)
	settle(t, h, clk)
	if v := value(addressUp.WithLabelValues(server, tgt)); v != 1 {
		t.Errorf("address_up %v after a success, want 1", v)
	}
	prober.set("192.0.2.1", Timeout)
	tick(t, h, clk, h.Interval)
	if v := value(addressUp.WithLabelValues(server, tgt)); v != 0 {
		t.Errorf("address_up %v after a failure, want 0", v)
	}
	if v := value(probeResults.WithLabelValues(server, kindHTTP, string(Success))); v != 1 {
		t.Errorf("probe_results_total{outcome=success} %v, want 1", v)
	}
	if v := value(probeResults.WithLabelValues(server, kindHTTP, string(Timeout))); v != 1 {
		t.Errorf("probe_results_total{outcome=timeout} %v, want 1", v)
	}
	if v := value(transitions.WithLabelValues(server, "up")); v != 1 {
		t.Errorf("state_transitions_total{to=up} %v, want 1", v)
	}
	if v := value(transitions.WithLabelValues(server, "down")); v != 1 {
		t.Errorf("state_transitions_total{to=down} %v, want 1", v)
	}
	if n := series(probeDuration, server); n == 0 {
		t.Error("no probe_duration_seconds series")
	}

	// An address that leaves loses its series.
	sink.snapshot()
	if n := series(addressUp, server); n != 0 {
		t.Errorf("%d address_up series after the address left, want 0", n)
	}
}
