package integration

import (
	"context"
	"testing"

	"github.com/miekg/dns"
)

// twoZoneMember: a member whose Nodes carry two zones is a shard of
// both; when the second zone's Node goes away, that zone no longer exists.
func twoZoneMember(t *testing.T) {
	healthy(t)
	const name = "gce-us-central1"
	const extra = "us-central1-c"
	c := cluster(t, name)
	first := c.Zones[0]

	do(t, "adding a node in "+extra, func(ctx context.Context) error { return c.AddNode(ctx, extra) })
	t.Cleanup(func() {
		do(t, "removing the node in "+extra, func(ctx context.Context) error { return c.RemoveNode(ctx, extra) })
	})

	eventually(t, zoneName(extra), dns.TypeA, positive(as(zoneName(extra), c)...))
	expect(t, zoneRegionName(extra, c.Region), dns.TypeA, positive(as(zoneRegionName(extra, c.Region), c)...))
	expect(t, zoneName(first), dns.TypeA, positive(as(zoneName(first), c)...))
	expect(t, regionName(c.Region), dns.TypeA, positive(as(regionName(c.Region), c)...))

	// Unhealthy, both zones chain to the region and on to the global name.
	setReady(t, name, false)
	t.Cleanup(func() { setReady(t, name, true) })
	others := except(name)
	for _, z := range []string{first, extra} {
		eventually(t, zoneName(z), dns.TypeA, positive(append(
			[]string{cname(zoneName(z), regionName(c.Region)), cname(regionName(c.Region), globalName())},
			as(globalName(), others...)...)...))
	}
	setReady(t, name, true)
	eventually(t, zoneName(extra), dns.TypeA, positive(as(zoneName(extra), c)...))

	do(t, "removing the node in "+extra, func(ctx context.Context) error { return c.RemoveNode(ctx, extra) })
	eventually(t, zoneName(extra), dns.TypeA, nxdomain())
	expect(t, zoneName(first), dns.TypeA, positive(as(zoneName(first), c)...))
}
