package federation

import (
	"net/netip"
)

// Shard is one member cluster's copy of a federated Service, as the snapshot
// builder sees it. The Service itself (Namespace, Name, Hostnames,
// Annotations, Ports) is the member source's state, shared and read only: a
// snapshot holds a shard per member and Service, so a shard keeps only what
// the build adds to it.
type Shard struct {
	Member string
	*ServiceState
	Addrs      []netip.Addr // load-balancer ingress IPs and resolved hostnames, after the ingress rules; empty unless type LoadBalancer
	Unresolved []string     // of Hostnames, those that do not resolve: "name (reason)"
	traffic    traffic      // weight, priority and drain (traffic.go)
	Ready      bool         // an EndpointSlice has a ready endpoint
}

// Healthy reports whether the shard may be answered before any health filter:
// it has an ingress address and a ready endpoint.
func (s *Shard) Healthy() bool { return s.Ready && len(s.Addrs) > 0 }

// Health is the seam for active health checking (the shardhealth plugin). The
// federation plugin works without one; when there is one, it decides which
// addresses of each shard are answered.
type Health interface {
	// Usable returns the addresses of s that may be answered, and whether an
	// active check vouches for them (checked). It is called while a snapshot is
	// built, once for every shard with s.Healthy(), and must not block.
	//
	// The federation applies the stale policy on top: the shards of a member
	// whose API server has been unreachable for stale_after are dropped unless
	// checked is true, since then the data plane is being watched directly.
	Usable(s *Shard) (addrs []netip.Addr, checked bool)
}

// HealthChecker is a Health that runs beside the federation: the federation
// starts it, with itself as the sink, before it builds its first snapshot, and
// stops it after its own sources.
type HealthChecker interface {
	Health
	Start(sink HealthSink)
	Stop()
}

// HealthSink is what a HealthChecker gets from the federation plugin: it is
// implemented by *Federation.
type HealthSink interface {
	// HealthChanged asks for a snapshot rebuild of the Service namespace/name, or
	// of every Service when key is empty. It does not block.
	HealthChanged(key string)
	// Shards returns every shard of the current snapshot, healthy or not.
	Shards() []Shard
	// MemberStatuses returns the status of every member.
	MemberStatuses() []MemberStatus
	// OnSnapshot registers fn to be called (without locks held) after each
	// snapshot is swapped in.
	OnSnapshot(fn func())
}
