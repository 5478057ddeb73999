package integration

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/coredns-fed/coredns-fed/internal/lab"
)

var clientSubnetRE = regexp.MustCompile(`CLIENT-SUBNET: (\S+)`)

// digGeo asks d for the global name with dig +subnet=subnet and returns the
// addresses answered and the reply's ECS option as dig prints it
// (ADDRESS/SOURCE/SCOPE).
func digGeo(t testing.TB, d *lab.CoreDNS, subnet string) (addrs []string, ecs string) {
	t.Helper()
	out := digAt(t, d.Addr, globalName(), "A", "+subnet="+subnet)
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 5 && f[2] == "IN" && f[3] == "A" && !strings.HasPrefix(line, ";") {
			addrs = append(addrs, f[4])
		}
	}
	slices.Sort(addrs)
	if m := clientSubnetRE.FindStringSubmatch(out); m != nil {
		ecs = m[1]
	}
	return addrs, ecs
}

// ecsQuery packs an A query for the global name whose only EDNS option is
// ECS for subnet, a /24: the option's last 8 bytes are FAMILY (2), SOURCE,
// SCOPE and 3 address bytes.
func ecsQuery(t testing.TB, subnet string) []byte {
	t.Helper()
	p := netip.MustParsePrefix(subnet)
	m := new(dns.Msg)
	m.SetQuestion(globalName(), dns.TypeA)
	m.SetEdns0(1232, false)
	o := m.IsEdns0()
	o.Option = []dns.EDNS0{&dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: uint8(p.Bits()), Address: p.Addr().AsSlice()}}
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rawExchangeAt sends b over UDP to addr and returns the reply, or nil when
// none came within a second.
func rawExchangeAt(t testing.TB, addr string, b []byte) *dns.Msg {
	t.Helper()
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(time.Second))
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil {
		return nil
	}
	r := new(dns.Msg)
	if err := r.Unpack(buf[:n]); err != nil {
		t.Fatalf("reply does not unpack: %v", err)
	}
	return r
}

// TestGeoAnswers runs a coredns-fed with geo on, over the lab's generated
// database: clients on two continents get two regions, a region that loses
// its shards hands its clients to the next nearest one, and the ECS scope in
// the reply is the database network's.
func TestGeoAnswers(t *testing.T) {
	healthy(t)
	if err := fed.WriteGeoDatabase(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// No shardhealth: answers follow endpoint readiness.
	d, err := fed.StartVariant(ctx, "geo", lab.Variant{FederationOptions: append(lab.SeedFederationOptions(), "geo "+fed.GeoDatabase())})
	if err != nil {
		t.Fatalf("starting coredns-fed with geo: %v", err)
	}
	defer d.Stop()
	healthyAt(t, d) // region and zone names, and the global name without ECS, are as without geo

	region := func(r string) string {
		for _, c := range fed.Clusters() {
			if c.Region == r {
				return c.Addr
			}
		}
		t.Fatalf("no cluster in region %s", r)
		return ""
	}
	check := func(subnet string, want []string, scope string) error {
		got, ecs := digGeo(t, d, subnet)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			return fmt.Errorf("dig +subnet=%s answered %v, want %v", subnet, got, want)
		}
		if ecs != subnet+"/"+scope {
			return fmt.Errorf("dig +subnet=%s: reply ECS %q, want %s/%s", subnet, ecs, subnet, scope)
		}
		return nil
	}
	for _, tc := range []struct {
		subnet, region, scope string
	}{
		{"81.2.69.0/24", "europe-west1", "24"}, // London
		{"1.0.16.0/24", "asia-east1", "20"},    // Tokyo: the database network is a /20
		{"12.1.0.0/24", "us-central1", "16"},   // Chicago
		{"12.0.0.0/24", "us-east1", "16"},      // New York
	} {
		if err := check(tc.subnet, []string{region(tc.region)}, tc.scope); err != nil {
			t.Error(err)
		}
	}
	all := []string{}
	for _, c := range fed.Clusters() {
		all = append(all, c.Addr)
	}
	if err := check("0.0.0.0/0", all, "0"); err != nil {
		t.Errorf("SOURCE PREFIX-LENGTH 0: %v", err)
	}

	// Malformed ECS options get FORMERR: an unknown family (refused by the DNS
	// library before the plugin), and a scope set in the query (by the plugin).
	for _, tc := range []struct {
		what  string
		patch func(b []byte) []byte
	}{
		{"family 3", func(b []byte) []byte { b[len(b)-8] = 3; return b }},
		{"scope 8 in the query", func(b []byte) []byte { b[len(b)-5] = 8; return b }},
	} {
		if r := rawExchangeAt(t, d.Addr, tc.patch(ecsQuery(t, "81.2.69.0/24"))); r == nil || r.Rcode != dns.RcodeFormatError {
			t.Errorf("ECS with %s: reply %v, want FORMERR", tc.what, r)
		}
	}

	// europe-west1 loses its shards: London moves to the next nearest region,
	// us-east1, not to every region; Tokyo stays in Asia.
	setReady(t, "gce-europe-west1", false)
	defer func() {
		setReady(t, "gce-europe-west1", true)
		healthy(t)
	}()
	waitFor(t, d, convergeTimeout, "London answered from us-east1", func() error {
		return check("81.2.69.0/24", []string{region("us-east1")}, "24")
	})
	if err := check("1.0.16.0/24", []string{region("asia-east1")}, "20"); err != nil {
		t.Error(err)
	}
	setReady(t, "gce-europe-west1", true)
	waitFor(t, d, convergeTimeout, "London back in europe-west1", func() error {
		return check("81.2.69.0/24", []string{region("europe-west1")}, "24")
	})
}
