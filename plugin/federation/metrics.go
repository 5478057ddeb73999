package federation

import (
	"github.com/coredns/coredns/plugin"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	memberConnected = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "member_connected",
		Help:      "1 when the member cluster's API server answers, 0 otherwise.",
	}, []string{"server", "member"})

	memberSynced = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "member_synced",
		Help:      "1 once the member cluster's caches have synced.",
	}, []string{"server", "member"})

	shardsHealthy = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "shards_healthy",
		Help:      "1 for a shard whose addresses are answered, 0 for one that is not.",
	}, []string{"server", "namespace", "service", "member"})

	answers = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "answers_total",
		Help:      "Answers by kind: a, cname, nodata, nxdomain, servfail, refused.",
	}, []string{"server", "kind"})

	snapshotBuilds = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "snapshot_builds_total",
		Help:      "Snapshots built.",
	}, []string{"server"})

	snapshotBuildDuration = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "snapshot_build_duration_seconds",
		Buckets:   plugin.TimeBuckets,
		Help:      "Time spent building a snapshot.",
	}, []string{"server"})
)

// recordShards updates the shard gauges of one Service from its old answers to
// its new ones (either may be nil).
func recordShards(server string, old, cur *serviceAnswers) {
	if old != nil {
		for _, s := range old.shards {
			shardsHealthy.DeleteLabelValues(server, s.Namespace, s.Service, s.Member)
		}
	}
	if cur == nil {
		return
	}
	for i, s := range cur.shards {
		v := 0.0
		if len(cur.usable[i]) > 0 {
			v = 1
		}
		shardsHealthy.WithLabelValues(server, s.Namespace, s.Service, s.Member).Set(v)
	}
}
