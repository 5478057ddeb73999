package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/coredns-fed/coredns-fed/internal/lab"
)

const europe = "gce-europe-west1"

// do runs one lab operation with its own deadline, so it also works in a
// cleanup, after the test's context is gone.
func do(t testing.TB, what string, op func(context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := op(ctx); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// TestSeedWalkthrough follows the seed's story on the four-cluster lab, one
// step after another; every step starts from, and returns to, the
// all-healthy state.
func TestSeedWalkthrough(t *testing.T) {
	steps := []struct {
		name string
		run  func(*testing.T)
	}{
		{"all healthy", allHealthy},
		{"europe loses its endpoints and recovers", regionLosesEndpoints},
		{"service deleted", serviceDeleted},
		{"all shards unhealthy", allShardsUnhealthy},
		{"member with two zones", twoZoneMember},
		{"member kube-apiserver restarts", memberAPIServerRestart},
	}
	for _, s := range steps {
		t.Run(s.name, s.run)
	}
}

func setReady(t testing.TB, cluster string, ready bool) {
	t.Helper()
	do(t, "endpoints of "+cluster, func(ctx context.Context) error { return fed.SetReady(ctx, cluster, ready) })
}

// allHealthy: every shard healthy, the global name answers the four
// load balancers and each region and zone name its own member's.
func allHealthy(t *testing.T) {
	healthy(t)
	expect(t, globalName(), dns.TypeA, positive(as(globalName(), fed.Clusters()...)...))
	for _, c := range fed.Clusters() {
		expect(t, regionName(c.Region), dns.TypeA, positive(as(regionName(c.Region), c)...))
		for _, z := range c.Zones {
			expect(t, zoneName(z), dns.TypeA, positive(as(zoneName(z), c)...))
			expect(t, zoneRegionName(z, c.Region), dns.TypeA, positive(as(zoneRegionName(z, c.Region), c)...))
		}
	}
	// The load balancers have no IPv6 address: the name exists, so NODATA.
	expect(t, globalName(), dns.TypeAAAA, nodata())
}

// regionLosesEndpoints: europe's endpoints turn unready, so its region
// name answers a CNAME to the global name plus the three remaining
// addresses, and its zone name chains zone → region → global. Then europe
// recovers.
func regionLosesEndpoints(t *testing.T) {
	healthy(t)
	eu := cluster(t, europe)
	others := except(europe)
	zone := eu.Zones[0]
	serial := soaSerial(t)

	setReady(t, europe, false)
	t.Cleanup(func() { setReady(t, europe, true) })

	eventually(t, globalName(), dns.TypeA, positive(as(globalName(), others...)...))
	eventually(t, regionName(eu.Region), dns.TypeA, positive(append(
		[]string{cname(regionName(eu.Region), globalName())},
		as(globalName(), others...)...)...))
	eventually(t, zoneName(zone), dns.TypeA, positive(append(
		[]string{cname(zoneName(zone), regionName(eu.Region)), cname(regionName(eu.Region), globalName())},
		as(globalName(), others...)...)...))
	eventually(t, zoneRegionName(zone, eu.Region), dns.TypeA, positive(append(
		[]string{cname(zoneRegionName(zone, eu.Region), regionName(eu.Region)), cname(regionName(eu.Region), globalName())},
		as(globalName(), others...)...)...))
	// The serial is the second of the last change: it grows within a second.
	waitFor(t, fed.DNS(), 3*time.Second, "the SOA serial to grow after europe's change", func() error {
		if now := soaSerial(t); now <= serial {
			return fmt.Errorf("serial %d, was %d", now, serial)
		}
		return nil
	})
	// The other regions are untouched.
	for _, c := range others {
		expect(t, regionName(c.Region), dns.TypeA, positive(as(regionName(c.Region), c)...))
	}

	// The same chain, as the real dig prints it.
	lines := digAnswer(t, zoneName(zone))
	wantDig := append([]digRR{
		{zoneName(zone), "CNAME", regionName(eu.Region)},
		{regionName(eu.Region), "CNAME", globalName()},
	}, digAs(globalName(), others...)...)
	checkDig(t, lines, wantDig)

	// Recovery.
	setReady(t, europe, true)
	eventually(t, regionName(eu.Region), dns.TypeA, positive(as(regionName(eu.Region), eu)...))
	eventually(t, zoneName(zone), dns.TypeA, positive(as(zoneName(zone), eu)...))
	eventually(t, globalName(), dns.TypeA, positive(as(globalName(), fed.Clusters()...)...))
	checkDig(t, digAnswer(t, zoneName(zone)), digAs(zoneName(zone), eu))
}

// serviceDeleted: the federated service is deleted from every member,
// so its names no longer exist.
func serviceDeleted(t *testing.T) {
	healthy(t)
	do(t, "removing nginx", func(ctx context.Context) error { return fed.RemoveService(ctx, lab.SeedService) })
	t.Cleanup(func() {
		do(t, "adding nginx back", func(ctx context.Context) error { return fed.AddService(ctx, lab.SeedService) })
		healthy(t)
	})

	eventually(t, globalName(), dns.TypeA, nxdomain())
	eu := cluster(t, europe)
	expect(t, regionName(eu.Region), dns.TypeA, nxdomain())
	expect(t, zoneName(eu.Zones[0]), dns.TypeA, nxdomain())
	if status := digStatus(t, globalName()); status != "NXDOMAIN" {
		t.Errorf("dig %s: status %s, want NXDOMAIN", globalName(), status)
	}
}

// allShardsUnhealthy: no member has ready endpoints; the service still
// exists, so the global name answers NODATA with the SOA, and a region name
// its CNAME to the global name alone.
func allShardsUnhealthy(t *testing.T) {
	healthy(t)
	for _, c := range fed.Clusters() {
		setReady(t, c.Name, false)
	}
	t.Cleanup(func() {
		for _, c := range fed.Clusters() {
			setReady(t, c.Name, true)
		}
		healthy(t)
	})

	eventually(t, globalName(), dns.TypeA, nodata())
	eu := cluster(t, europe)
	eventually(t, regionName(eu.Region), dns.TypeA, positive(cname(regionName(eu.Region), globalName())))
}
