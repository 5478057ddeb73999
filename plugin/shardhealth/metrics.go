package shardhealth

import (
	"github.com/coredns/coredns/plugin"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	probeDuration = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "probe_duration_seconds",
		Buckets:   plugin.TimeBuckets,
		Help:      "Time a probe took, by probe kind.",
	}, []string{"server", "probe"})

	probeResults = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "probe_results_total",
		Help:      "Probe results by probe kind and outcome: success, refused, timeout, tls, status, error.",
	}, []string{"server", "probe", "outcome"})

	addressUp = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "address_up",
		Help:      "1 when the probed address is up, 0 when it is down; absent until its first probe.",
	}, []string{"server", "target"})

	transitions = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "state_transitions_total",
		Help:      "Address state changes, by the state entered: up or down.",
	}, []string{"server", "to"})
)
