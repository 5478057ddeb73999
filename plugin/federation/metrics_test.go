package federation

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	meta "k8s.io/apimachinery/pkg/apis/meta/v1"
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
	const server = "dns://metrics-test:53"
	_, clients := newTestFederation(t, seed(), func(f *Federation) { f.server = server })
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

	_, err := clients["gce-europe-west1"].DiscoveryV1().EndpointSlices("mynamespace").Update(context.Background(), testSlice("mynamespace", "nginx", ptr(false)), meta.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "europe's shard counted unhealthy", func() bool {
		return gaugeValue(t, service) == 3 && gaugeValue(t, europe("healthy")) == 0 && gaugeValue(t, europe("unhealthy")) == 1
	})
}
