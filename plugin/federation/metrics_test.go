package federation

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	meta "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/coredns-fed/coredns-fed/internal/fixture"
)

func gaugeValue(t *testing.T, g prometheus.Gauge) float64 {
	t.Helper()
	var m dto.Metric
	if err := g.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetGauge().GetValue()
}

func TestShardMetrics(t *testing.T) {
	// Gauges live as long as the process: a fresh server label per run.
	server := fmt.Sprintf("dns://metrics-%d.test:53", time.Now().UnixNano())
	f, clients := newTestFederation(t, seed(), func(f *Federation) { f.server = server })
	service := serviceShardsHealthy.WithLabelValues(server, "mynamespace", "nginx")
	europe := func(state string) prometheus.Gauge {
		return memberShards.WithLabelValues(server, "gce-europe-west1", state)
	}

	if v := gaugeValue(t, service); v != 4 {
		t.Errorf("healthy shards of nginx: %v, want 4", v)
	}
	if h, u := gaugeValue(t, europe("healthy")), gaugeValue(t, europe("unhealthy")); h != 1 || u != 0 {
		t.Errorf("europe shards: %v healthy, %v unhealthy; want 1, 0", h, u)
	}

	_, err := clients["gce-europe-west1"].DiscoveryV1().EndpointSlices("mynamespace").Update(context.Background(), slice("mynamespace", "nginx", fixture.Unready), meta.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "europe's shard counted unhealthy", func() bool {
		return gaugeValue(t, service) == 3 && gaugeValue(t, europe("healthy")) == 0 && gaugeValue(t, europe("unhealthy")) == 1
	})

	// A full rebuild (as a topology change or a stale member causes) counts
	// every shard once, not once more.
	f.changed("")
	waitFor(t, "a full rebuild", func() bool { return f.snapshot.Load().Serial > 0 })
	builds := f.snapshot.Load()
	f.changed("")
	waitFor(t, "another full rebuild", func() bool { return f.snapshot.Load() != builds })
	if h, u := gaugeValue(t, europe("healthy")), gaugeValue(t, europe("unhealthy")); h != 0 || u != 1 {
		t.Errorf("after full rebuilds, europe shards: %v healthy, %v unhealthy; want 0, 1", h, u)
	}
}
