package bench

import (
	"fmt"
	"net/netip"

	"github.com/coredns-fed/coredns-fed/internal/lab"
)

// The benchmark federation's names: the seed's zone and federation name, with
// the federated Services in their own namespace.
const (
	Domain     = "example.com"
	Federation = "myfederation"
	Namespace  = "bench"
)

// Topology is a federation to measure: its member clusters and how many
// federated Services each of them holds.
type Topology struct {
	Clusters []lab.ClusterSpec
	Services int
}

// SeedTopology is the seed's four members, one region and zone each, with n
// federated Services in every member.
func SeedTopology(n int) Topology {
	return Topology{Clusters: append([]lab.ClusterSpec(nil), lab.SeedClusters...), Services: n}
}

// WideTopology is k members spread over regions of five zones (region-0 holds
// region-0-a … region-0-e, one member per zone), with n Services in each.
func WideTopology(k, n int) Topology {
	t := Topology{Services: n}
	for m := range k {
		region := fmt.Sprintf("region-%d", m/5)
		t.Clusters = append(t.Clusters, lab.ClusterSpec{
			Name:   fmt.Sprintf("member-%02d", m),
			Region: region,
			Zones:  []string{fmt.Sprintf("%s-%c", region, 'a'+m%5)},
		})
	}
	return t
}

// Shards is the number of (member, Service) pairs.
func (t Topology) Shards() int { return len(t.Clusters) * t.Services }

// ServiceName is the name of federated Service i.
func ServiceName(i int) string { return fmt.Sprintf("svc-%05d", i) }

// ServiceAddr is the load-balancer ingress address of Service i in member m:
// 10.m.hi.lo, unique per shard (these addresses are only ever answered, never
// connected to).
func ServiceAddr(m, i int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, byte(m), byte(i >> 8), byte(i)})
}

// Degraded reports whether member m has some Services without ready endpoints:
// every fourth member, starting with the second (the seed's europe-west1).
func Degraded(m int) bool { return m%4 == 1 }

// Ready reports whether Service i has ready endpoints in member m. In a
// degraded member every eighth Service is not ready, so that its zone and
// region names answer CNAMEs one level up.
func Ready(m, i int) bool { return !(Degraded(m) && i%8 == 0) }

// ZoneOf is member m's (single) zone.
func (t Topology) ZoneOf(m int) string { return t.Clusters[m].Zones[0] }

// Name returns the query name of Service i at a level suffix: "" (global),
// "REGION.", "ZONE." or "ZONE.REGION.".
func Name(i int, suffix string) string {
	return ServiceName(i) + "." + Namespace + "." + Federation + ".svc." + suffix + Domain + "."
}
