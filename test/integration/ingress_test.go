package integration

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/coredns-fed/coredns-fed/internal/lab"
)

// TestLoopbackIngressRefused: the lab's load balancers listen on loopback
// addresses (127.B.1.N:80) and pass their probes; the lab's coredns-fed
// answers them because its Corefile allows 127.0.0.0/8. A coredns-fed with
// the same members and probes whose Corefile allows only the first member's
// address neither answers nor probes the other three, and logs and counts
// each of them once.
func TestLoopbackIngressRefused(t *testing.T) {
	healthy(t)
	clusters := fed.Clusters()
	allowed, refused := clusters[0], clusters[1:]

	ctx, cancel := context.WithTimeout(t.Context(), 3*convergeTimeout)
	defer cancel()
	d, err := fed.StartVariant(ctx, "ingress", lab.Variant{
		ShardHealth: lab.SeedShardHealth(),
		FederationOptions: []string{
			"stale_after " + lab.SeedStaleAfter.String(),
			"ingress allow " + allowed.Addr + "/32",
		},
	})
	if err != nil {
		t.Fatalf("starting coredns-fed that allows only %s: %v", allowed.Addr, err)
	}
	t.Cleanup(d.Stop)

	eventuallyAt(t, d, convergeTimeout, globalName(), dns.TypeA, positive(as(globalName(), allowed)...))
	expectAt(t, d, regionName(allowed.Region), dns.TypeA, positive(as(regionName(allowed.Region), allowed)...))
	for _, c := range refused {
		// No address left in the member's region: it falls back to the global name.
		expectAt(t, d, regionName(c.Region), dns.TypeA, positive(
			cname(regionName(c.Region), globalName()), a(globalName(), allowed.Addr)))
	}
	// The lab's own coredns-fed, allowed all of loopback, answers them all.
	expect(t, globalName(), dns.TypeA, positive(as(globalName(), clusters...)...))

	// Probes: the allowed address is probed and up; the others have no probe.
	eventuallyMetric(t, d, probeSettle, "coredns_shardhealth_address_up", probeTarget(allowed), 1)
	// Three probe rounds, in which a probe of a refused address would show.
	waitFor(t, d, 3*probeSettle, "three probe rounds", func() error {
		samples, err := scrape(d, "coredns_shardhealth_probe_results_total")
		if err != nil {
			return err
		}
		n := 0.0
		for _, s := range samples {
			n += s.value
		}
		if n < 3 {
			return fmt.Errorf("%v probes", n)
		}
		return nil
	})
	samples, err := scrape(d, "coredns_shardhealth_address_up")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range samples {
		if s.labels["target"] != probeTarget(allowed)["target"] {
			t.Errorf("coredns_shardhealth_address_up%v: a probe of an address that is not allowed", s.labels)
		}
	}

	for _, c := range refused {
		eventuallyMetric(t, d, convergeTimeout, "coredns_federation_ingress_refused_total",
			map[string]string{"member": c.Name, "reason": "loopback"}, 1)
	}
	if _, ok, err := metricValue(d, "coredns_federation_ingress_refused_total", map[string]string{"member": allowed.Name}); err != nil || ok {
		t.Errorf("ingress of %s counted as refused (%v)", allowed.Name, err)
	}
	logged, err := os.ReadFile(d.Log())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range refused {
		line := fmt.Sprintf("member %s: load-balancer ingress %s refused (loopback)", c.Name, c.Addr)
		if n := strings.Count(string(logged), line); n != 1 {
			t.Errorf("%q logged %d times, want once", line, n)
		}
	}
}
