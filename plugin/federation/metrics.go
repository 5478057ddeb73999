package federation

import (
	"context"
	"net/netip"
	"strings"

	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/metrics"

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

	memberStale = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "member_stale",
		Help:      "1 when the member cluster's API server has been unreachable for stale_after or longer.",
	}, []string{"server", "member"})

	// Per-shard series would cost memory per service × member; the two views
	// below answer "which services are degraded" and "which member is failing".
	serviceShardsHealthy = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "service_shards_healthy",
		Help:      "Shards of a federated service whose addresses are answered.",
	}, []string{"server", "namespace", "service"})

	memberShards = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "member_shards",
		Help:      "Shards in a member cluster, by state: healthy (answered) or unhealthy.",
	}, []string{"server", "member", "state"})

	answers = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "answers_total",
		Help:      "Answers by kind: a, cname, nodata, nxdomain, servfail, refused.",
	}, []string{"server", "kind"})

	ingressRefused = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "ingress_refused_total",
		Help:      "Load-balancer ingress entries neither answered nor probed, counted once when they appear, by reason: loopback, link-local, unspecified, multicast, broadcast, reserved, denied, hostname.",
	}, []string{"server", "member", "reason"})

	annotationErrors = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "annotation_errors_total",
		Help:      "Service annotations of the traffic policy whose value was ignored, counted once when it appears, by annotation.",
	}, []string{"server", "annotation"})

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

// shardCounts is the change a build makes to the member_shards gauges, by
// member and state: applied once per build, not once per shard (a label
// lookup each, a million at 50 members × 10 000 Services).
type shardCounts map[[2]string]int

// apply adds the counts to the gauges of server.
func (c shardCounts) apply(server string) {
	for k, n := range c {
		if n != 0 {
			memberShards.WithLabelValues(server, k[0], k[1]).Add(float64(n))
		}
	}
}

// recordShards counts the shards of one Service from its old answers to its
// new ones (either may be nil) into c, and sets its healthy-shards gauge.
func recordShards(c shardCounts, server string, old, cur *serviceAnswers) {
	if old != nil {
		for i, s := range old.shards {
			c[[2]string{s.Member, shardState(old.usable[i])}]--
		}
	}
	if cur == nil {
		if old != nil {
			ns, name, _ := strings.Cut(old.key, "/")
			serviceShardsHealthy.DeleteLabelValues(server, ns, name)
		}
		return
	}
	healthy := 0
	for i, s := range cur.shards {
		state := shardState(cur.usable[i])
		if state == "healthy" {
			healthy++
		}
		c[[2]string{s.Member, state}]++
	}
	ns, name, _ := strings.Cut(cur.key, "/")
	serviceShardsHealthy.WithLabelValues(server, ns, name).Set(float64(healthy))
}

func shardState(usable []netip.Addr) string {
	if len(usable) > 0 {
		return "healthy"
	}
	return "unhealthy"
}

// answerCounters are the answers_total counters of one server block, resolved
// once: a label lookup per query would cost more than the answer.
type answerCounters struct {
	server string
	kinds  [numKinds]prometheus.Counter
}

// answerCounterSet is the counters of every server block that a federation
// answers in, copied on write (one block in most Corefiles).
type answerCounterSet []*answerCounters

// count counts one answer of kind in the server of ctx.
func (f *Federation) count(ctx context.Context, kind answerKind) {
	server := metrics.WithServer(ctx)
	set := f.counters.Load()
	if set != nil {
		for _, c := range *set {
			if c.server == server {
				c.kinds[kind].Inc()
				return
			}
		}
	}
	c := &answerCounters{server: server}
	for k := range c.kinds {
		c.kinds[k] = answers.WithLabelValues(server, kindNames[k])
	}
	var next answerCounterSet
	if set != nil {
		next = append(next, *set...)
	}
	next = append(next, c)
	f.counters.Store(&next) // a lost race only resolves the same counters again
	c.kinds[kind].Inc()
}
