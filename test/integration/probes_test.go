package integration

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/coredns-fed/coredns-fed/internal/lab"
)

// probeSettle bounds how long an address takes to leave the answers after
// its backend stops, or to return after it starts: FALL (RISE) probes an
// INTERVAL ± jitter apart, one TIMEOUT, and room for a loaded machine.
var probeSettle = time.Duration(max(lab.SeedProbeFall, lab.SeedProbeRise))*lab.SeedProbeInterval*(100+lab.SeedProbeJitter)/100 +
	lab.SeedProbeTimeout + 2*time.Second

// staleSettle bounds how long after the grace period a silent member's
// shards take to leave the answers of a coredns-fed without probes, counted
// from the moment its kube-apiserver is gone: the federation plugin asks
// each member's /version every 5 seconds.
const staleSettle = 10 * time.Second

// The shardhealth block of the coredns-fed that does not probe: answers
// follow endpoint readiness, and a silent member's shards are dropped after
// the same stale_after as in the lab's own federation block.
var probesOffBlock = []string{"probe off"}

var probesOffServer struct {
	sync.Mutex
	d *lab.CoreDNS
}

// probesOff returns a coredns-fed serving the lab's federation with probes
// off, started by the first test that asks for it and stopped with the lab.
func probesOff(t testing.TB) *lab.CoreDNS {
	t.Helper()
	probesOffServer.Lock()
	defer probesOffServer.Unlock()
	if probesOffServer.d == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		d, err := fed.StartVariant(ctx, "probes-off", lab.Variant{ShardHealth: probesOffBlock})
		if err != nil {
			t.Fatalf("starting coredns-fed with probes off: %v", err)
		}
		probesOffServer.d = d
	}
	return probesOffServer.d
}

// probeTarget is how shardhealth's metrics name the probe of a member's
// load balancer.
func probeTarget(c *lab.Cluster) map[string]string {
	return map[string]string{"target": fmt.Sprintf("http://%s:%d/", c.Addr, lab.BackendPort)}
}

func startBackend(t testing.TB, name string) {
	t.Helper()
	if err := fed.StartBackend(name); err != nil {
		t.Fatal(err)
	}
}

func stopBackend(t testing.TB, name string) {
	t.Helper()
	if err := fed.StopBackend(name); err != nil {
		t.Fatal(err)
	}
}

// fallback is what a region name answers when its only member's shard is
// not usable: a CNAME to the global name and the addresses of the others.
func fallback(c *lab.Cluster) reply {
	return positive(append([]string{cname(regionName(c.Region), globalName())},
		as(globalName(), except(c.Name)...)...)...)
}

// zoneFallbacks is the same for the member's first zone, in both forms:
// zone → region → global.
func zoneFallbacks(c *lab.Cluster) map[string]reply {
	zone, region := c.Zones[0], regionName(c.Region)
	others := as(globalName(), except(c.Name)...)
	return map[string]reply{
		zoneName(zone): positive(append([]string{cname(zoneName(zone), region), cname(region, globalName())}, others...)...),
		zoneRegionName(zone, c.Region): positive(append([]string{
			cname(zoneRegionName(zone, c.Region), region), cname(region, globalName())}, others...)...),
	}
}

// TestStoppedBackendLeavesAnswers: europe's load balancer stops answering
// while its endpoints stay ready, so only the probes can tell. Within
// FALL × INTERVAL its address leaves the global answer, and europe's region
// and zone names, of which it was the only shard, turn into their CNAME
// chains; a coredns-fed without probes still answers it. When the backend
// is back the address returns within RISE × INTERVAL.
func TestStoppedBackendLeavesAnswers(t *testing.T) {
	healthy(t)
	off := probesOff(t)
	healthyAt(t, off)
	eu := cluster(t, europe)
	others := except(europe)
	eventuallyMetric(t, fed.DNS(), probeSettle, "coredns_shardhealth_address_up", probeTarget(eu), 1)

	stopped := time.Now()
	stopBackend(t, europe)
	t.Cleanup(func() {
		startBackend(t, europe)
		healthy(t)
	})

	eventuallyWithin(t, probeSettle, globalName(), dns.TypeA, positive(as(globalName(), others...)...))
	t.Logf("%s left the global answer %s after its backend stopped", eu.Addr, time.Since(stopped).Round(time.Millisecond))
	eventuallyWithin(t, probeSettle, regionName(eu.Region), dns.TypeA, fallback(eu))
	for name, want := range zoneFallbacks(eu) {
		eventuallyWithin(t, probeSettle, name, dns.TypeA, want)
	}
	for _, c := range others {
		expect(t, regionName(c.Region), dns.TypeA, positive(as(regionName(c.Region), c)...))
	}
	eventuallyMetric(t, fed.DNS(), probeSettle, "coredns_shardhealth_address_up", probeTarget(eu), 0)

	// Without probes nothing tells that the load balancer is gone.
	expectAt(t, off, globalName(), dns.TypeA, positive(as(globalName(), fed.Clusters()...)...))
	expectAt(t, off, regionName(eu.Region), dns.TypeA, positive(as(regionName(eu.Region), eu)...))

	started := time.Now()
	startBackend(t, europe)
	eventuallyWithin(t, probeSettle, regionName(eu.Region), dns.TypeA, positive(as(regionName(eu.Region), eu)...))
	t.Logf("%s returned %s after its backend started", eu.Addr, time.Since(started).Round(time.Millisecond))
	eventuallyWithin(t, probeSettle, globalName(), dns.TypeA, positive(as(globalName(), fed.Clusters()...)...))
	for _, z := range eu.Zones {
		eventuallyWithin(t, probeSettle, zoneName(z), dns.TypeA, positive(as(zoneName(z), eu)...))
	}
	eventuallyMetric(t, fed.DNS(), probeSettle, "coredns_shardhealth_address_up", probeTarget(eu), 1)
}

// TestSilentMember: us-east1's kube-apiserver stops while its load balancer
// keeps serving. The lab's coredns-fed probes, so it keeps answering
// us-east1's shard after the member turns stale, and drops the address only
// when its probes fail. A coredns-fed with probes off drops the shard once
// the member has been silent for the grace period, and takes it back when
// the kube-apiserver returns.
func TestSilentMember(t *testing.T) {
	const name = "gce-us-east1"
	healthy(t)
	off := probesOff(t)
	healthyAt(t, off)
	c := cluster(t, name)
	others := except(name)
	region := regionName(c.Region)
	kept := positive(as(region, c)...)

	stopped := time.Now()
	if err := fed.StopAPIServer(name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		startBackend(t, name)
		do(t, "starting "+name, func(ctx context.Context) error { return fed.StartAPIServer(ctx, name) })
		healthy(t)
		healthyAt(t, off)
	})
	t.Logf("%s's kube-apiserver stopped in %s", name, time.Since(stopped).Round(time.Millisecond))

	// The probing server answers the shard all along; the other one drops
	// it after the grace period.
	waitFor(t, off, lab.SeedStaleAfter+staleSettle, region+" without "+name+"'s shard", func() error {
		expect(t, region, dns.TypeA, kept)
		r, err := exchangeAt(off.Addr, region, dns.TypeA)
		if err == nil {
			err = match(r, fallback(c))
		}
		if err != nil {
			return fmt.Errorf("%s's shard still answered %s after its kube-apiserver stopped (grace %s): %w\nlast reply:\n%v",
				name, time.Since(stopped).Round(time.Millisecond), lab.SeedStaleAfter, err, r)
		}
		return nil
	})
	left := time.Since(stopped)
	t.Logf("without probes, %s's shard left %s after its kube-apiserver began to stop (grace %s)", name, left.Round(time.Millisecond), lab.SeedStaleAfter)
	if left < lab.SeedStaleAfter {
		t.Errorf("without probes, %s's shard left after %s, before the grace period of %s", name, left, lab.SeedStaleAfter)
	}
	expectAt(t, off, globalName(), dns.TypeA, positive(as(globalName(), others...)...))
	for zname, want := range zoneFallbacks(c) {
		expectAt(t, off, zname, dns.TypeA, want)
	}

	// The probing server counts the member stale, and keeps its shard.
	eventuallyMetric(t, fed.DNS(), staleSettle, "coredns_federation_member_stale", map[string]string{"member": name}, 1)
	expect(t, region, dns.TypeA, kept)
	expect(t, globalName(), dns.TypeA, positive(as(globalName(), fed.Clusters()...)...))

	// With the control plane gone, the probes alone decide.
	stopBackend(t, name)
	eventuallyWithin(t, probeSettle, region, dns.TypeA, fallback(c))
	expect(t, globalName(), dns.TypeA, positive(as(globalName(), others...)...))
	startBackend(t, name)
	eventuallyWithin(t, probeSettle, region, dns.TypeA, kept)

	// The kube-apiserver returns, and with it the shard.
	do(t, "starting "+name, func(ctx context.Context) error { return fed.StartAPIServer(ctx, name) })
	restarted := time.Now()
	eventuallyAt(t, off, convergeTimeout, region, dns.TypeA, kept)
	t.Logf("without probes, %s's shard returned %s after its kube-apiserver was ready", name, time.Since(restarted).Round(time.Millisecond))
	eventuallyAt(t, off, convergeTimeout, globalName(), dns.TypeA, positive(as(globalName(), fed.Clusters()...)...))
	eventuallyMetric(t, fed.DNS(), convergeTimeout, "coredns_federation_member_stale", map[string]string{"member": name}, 0)

	// A change made now shows in both: their watches of us-east1 are back
	// (client-go's backoff may hold them a while after the kube-apiserver
	// is), so the tests after this one find the lab as it was.
	setReady(t, name, false)
	t.Cleanup(func() { setReady(t, name, true) })
	eventuallyWithin(t, reconnectTimeout, region, dns.TypeA, fallback(c))
	eventuallyAt(t, off, reconnectTimeout, region, dns.TypeA, fallback(c))
	setReady(t, name, true)
	eventually(t, region, dns.TypeA, kept)
	eventuallyAt(t, off, convergeTimeout, region, dns.TypeA, kept)
}
