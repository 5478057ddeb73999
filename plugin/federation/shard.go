package federation

import (
	"net/netip"
)

// Shard is one member cluster's copy of a federated Service, as the snapshot
// builder sees it.
type Shard struct {
	Member      string
	Namespace   string
	Service     string
	Addrs       []netip.Addr      // load-balancer ingress IPs; empty unless type LoadBalancer
	Ready       bool              // an EndpointSlice has a ready endpoint
	Annotations map[string]string // the Service's annotations under AnnotationPrefix
}

// Healthy reports whether the shard may be answered before any health filter:
// it has an ingress address and a ready endpoint.
func (s *Shard) Healthy() bool { return s.Ready && len(s.Addrs) > 0 }

// Health is the seam for active health checking (the shardhealth plugin). The
// federation plugin works without one; when set, it decides which addresses of
// each shard are answered.
type Health interface {
	// Usable returns the addresses of s that may be answered. It is called while
	// a snapshot is built, once for every shard with s.Healthy(), and must not
	// block. m is the liveness of the shard's member: a member whose API server
	// is down keeps its last known shards, and the filter decides whether to
	// trust them. Returning nil drops the shard.
	Usable(s *Shard, m MemberStatus) []netip.Addr
}

// HealthSink is what a Health implementation gets from the federation plugin: it
// is implemented by *Federation.
type HealthSink interface {
	// SetHealth installs h; it must be called before the server starts serving.
	SetHealth(h Health)
	// HealthChanged asks for a snapshot rebuild of the Service namespace/name, or
	// of every Service when key is empty. It does not block.
	HealthChanged(key string)
	// Shards returns every shard of the current snapshot, healthy or not.
	Shards() []Shard
	// Liveness returns the liveness of every member.
	Liveness() []MemberStatus
	// OnSnapshot registers fn to be called (without locks held) after each
	// snapshot is swapped in.
	OnSnapshot(fn func())
}
