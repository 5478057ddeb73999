package bench

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/coredns-fed/coredns-fed/internal/fixture"
)

func testGeoSetup(t *testing.T) GeoSetup {
	t.Helper()
	rc, err := RegionCoords([]string{"us-east1", "europe-west1", "asia-east1", "us-central1", "us-east1"})
	if err != nil {
		t.Fatal(err)
	}
	g := GeoSetup{Database: "/db/geo.mmdb", Regions: rc, Networks: []fixture.GeoNetwork{
		{Prefix: "1.0.0.0/24", Continent: "EU", Country: "GB", City: "London", Lat: 51.51, Lon: -0.13},
		{Prefix: "1.0.1.0/24", Continent: "AS", Country: "JP", City: "Tokyo", Lat: 35.69, Lon: 139.69},
		{Prefix: "1.0.2.0/24", Continent: "AS", Country: "JP", City: "Tokyo", Lat: 35.69, Lon: 139.69},
	}}
	g.Services = []GeoService{{Name: Name(1, ""), Resource: ServiceName(1), Addrs: map[string][]string{
		"asia-east1": {"10.0.0.1"}, "europe-west1": {"10.1.0.1"}, "us-east1": {"10.2.0.1"}, "us-central1": {"10.3.0.1"},
	}}}
	return g
}

func TestRegionCoords(t *testing.T) {
	g := testGeoSetup(t)
	if len(g.Regions) != 4 || g.Regions[0].Region != "asia-east1" || g.Regions[3].Region != "us-east1" {
		t.Fatalf("regions not sorted and unique: %+v", g.Regions)
	}
	if _, err := RegionCoords([]string{"mars-north1"}); err == nil || !strings.Contains(err.Error(), "mars-north1") {
		t.Fatalf("a region without coordinates: got %v", err)
	}
	for _, c := range []struct {
		city       string
		lat, lon   float64
		wantRegion string
	}{
		{"London", 51.51, -0.13, "europe-west1"}, {"Tokyo", 35.69, 139.69, "asia-east1"},
		{"Denver", 39.74, -104.99, "us-central1"}, {"Miami", 25.76, -80.19, "us-east1"},
	} {
		if got := nearestRegion(g.Regions, c.lat, c.lon); got != c.wantRegion {
			t.Errorf("%s: nearest region %s, want %s", c.city, got, c.wantRegion)
		}
	}
}

func TestGdnsdConfig(t *testing.T) {
	g := testGeoSetup(t)
	conf := GdnsdConfig(g, 5353, "/run/x")
	for _, want := range []string{
		`listen => [ "127.0.0.1:5353" ]`, "udp_threads => 1", `geoip2_db => "/db/geo.mmdb"`,
		`datacenters => [ "asia-east1", "europe-west1", "us-central1", "us-east1" ]`,
		"auto_dc_limit => 4", `"europe-west1" => [ 50.45, 3.82 ]`,
		`"svc-00001" => {`, `"us-central1" => [ "10.3.0.1" ]`,
	} {
		if !strings.Contains(conf, want) {
			t.Errorf("gdnsd config lacks %q:\n%s", want, conf)
		}
	}
	if strings.Count(conf, "{") != strings.Count(conf, "}") {
		t.Errorf("unbalanced braces:\n%s", conf)
	}
}

func TestGdnsdZone(t *testing.T) {
	g := testGeoSetup(t)
	name := Name(1, "")
	zone := "example.com.\t30\tIN\tSOA\tns1.example.com. hostmaster.example.com. 1 7200 1800 86400 30\n" +
		name + "\t30\tIN\tA\t10.0.0.1\n" + name + "\t30\tIN\tA\t10.1.0.1\n" +
		Name(1, "asia-east1.") + "\t30\tIN\tA\t10.0.0.1\n"
	got, err := GdnsdZone(zone, g)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(got, name+"\t30\tIN\tA") {
		t.Errorf("the global addresses stayed:\n%s", got)
	}
	if !strings.Contains(got, name+" 30 DYNA geoip!svc-00001\n") || !strings.Contains(got, Name(1, "asia-east1.")+"\t30\tIN\tA\t10.0.0.1") {
		t.Errorf("zone:\n%s", got)
	}
	if _, err := GdnsdZone("example.com. 30 IN NS ns1.example.com.\n", g); err == nil {
		t.Error("a zone without the geo names: no error")
	}
	if _, err := GdnsdZone("example.com. 30 IN BOGUS x\n", g); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("a bad line: got %v", err)
	}
}

func TestKnotGeoConf(t *testing.T) {
	g := testGeoSetup(t)
	conf := KnotGeoConf(g)
	want := Name(1, "") + ":\n" +
		"  - geo: \"GB;London\"\n    A: [ 10.1.0.1 ]\n" +
		"  - geo: \"JP;Tokyo\"\n    A: [ 10.0.0.1 ]\n"
	if conf != want {
		t.Errorf("geo.conf:\n%s\nwant:\n%s", conf, want)
	}
	k := KnotGeoipConf(g, 5354, "/run/k", "/z/example.com.zone", "/run/k/geo.conf")
	for _, want := range []string{"edns-client-subnet: on", "mode: geodb", `geodb-file: "/db/geo.mmdb"`,
		"geodb-key: [ country/iso_code, city/names/en ]", "module: mod-geoip/geo", "listen: 127.0.0.1@5354"} {
		if !strings.Contains(k, want) {
			t.Errorf("knot.conf lacks %q:\n%s", want, k)
		}
	}
}

func TestGeoWorldAndSubnets(t *testing.T) {
	nets := GeoWorld(500, 1)
	if len(nets) != 500 {
		t.Fatalf("%d networks", len(nets))
	}
	var last netip.Addr
	for _, n := range nets {
		p := netip.MustParsePrefix(n.Prefix)
		if p.Masked() != p || p.Bits() < 14 || p.Bits() > 24 || (last.IsValid() && !last.Less(p.Addr())) {
			t.Fatalf("network %s: not aligned, sized /14../24 and in order", p)
		}
		last = p.Addr()
	}
	if again := GeoWorld(500, 1); again[499] != nets[499] {
		t.Error("the same seed gave another database")
	}
	subnets := GeoSubnets(nets, 700, 2)
	if len(subnets) != 700 {
		t.Fatalf("%d subnets", len(subnets))
	}
	for _, s := range subnets {
		in := false
		for _, n := range nets {
			if netip.MustParsePrefix(n.Prefix).Contains(s.Addr()) {
				in = true
			}
		}
		if !in || s.Bits() != 24 {
			t.Fatalf("subnet %s is not a /24 of a database network", s)
		}
	}
}

func TestECSOptionHex(t *testing.T) {
	for in, want := range map[string]string{
		"81.2.69.0/24":   "8:00011800510245",
		"1.0.16.0/20":    "8:00011400010010",
		"2001:db8::/32":  "8:0002200020010db8",
		"81.2.69.77/24":  "8:00011800510245",
		"192.168.0.0/16": "8:00011000c0a8",
	} {
		if got := ECSOptionHex(netip.MustParsePrefix(in)); got != want {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
	}
}

func TestRegionOfAnswer(t *testing.T) {
	regionOf := map[string]string{"10.0.0.1": "asia-east1", "10.1.0.1": "europe-west1"}
	a := func(ip string) dns.RR {
		return &dns.A{Hdr: dns.RR_Header{Name: "x.", Rrtype: dns.TypeA, Class: dns.ClassINET}, A: net.ParseIP(ip)}
	}
	cname := &dns.CNAME{Hdr: dns.RR_Header{Name: "x.", Rrtype: dns.TypeCNAME}, Target: "y."}
	for _, c := range []struct {
		rrs  []dns.RR
		want string
	}{
		{nil, ""},
		{[]dns.RR{a("10.0.0.1")}, "asia-east1"},
		{[]dns.RR{cname, a("10.1.0.1"), a("10.0.0.1"), a("10.1.0.1")}, "asia-east1+europe-west1"},
		{[]dns.RR{a("192.0.2.1")}, "?"},
	} {
		if got := RegionOfAnswer(c.rrs, regionOf); got != c.want {
			t.Errorf("%v: %q, want %q", c.rrs, got, c.want)
		}
	}
}

func TestGeoComparison(t *testing.T) {
	c := NewGeoComparison([]string{"federation-geo", "gdnsd", "knot-geoip"})
	sub := netip.MustParsePrefix("1.0.0.0/24")
	c.Why = func(netip.Prefix, int, string) string { return "" }
	c.Add(sub, []GeoAnswer{{"europe-west1", 16, "NOERROR"}, {"europe-west1", 18, "NOERROR"}, {"europe-west1", 24, "NOERROR"}})
	c.Add(sub, []GeoAnswer{{"europe-west1", 20, "NOERROR"}, {"europe-west1", 20, "NOERROR"}, {"asia-east1", 24, "NOERROR"}})
	c.Add(sub, []GeoAnswer{{"us-east1", 22, "NOERROR"}, {"us-central1", 20, "NOERROR"}, {"us-east1", -1, "NOERROR"}})
	c.Add(sub, []GeoAnswer{{"us-east1", -1, "NOERROR"}, {"us-east1", 24, "NOERROR"}, {"us-east1", 24, "NOERROR"}})
	if c.Subnets != 4 || c.Identical != 2 || c.SameAs["gdnsd"] != 3 || c.SameAs["knot-geoip"] != 3 {
		t.Errorf("regions: %+v", c)
	}
	if c.ScopeWider != 1 || c.ScopeEqual != 1 || c.ScopeNarrower != 2 || len(c.Narrower) != 2 || len(c.Mismatches) != 2 || c.NarrowerWhy["unexplained"] != 2 {
		t.Errorf("scopes: %+v", c)
	}
	if c.Scopes["knot-geoip"][24] != 3 || c.Scopes["knot-geoip"][-1] != 1 || c.Regions["us-east1"] != 2 {
		t.Errorf("histograms: %+v %+v", c.Scopes, c.Regions)
	}
	if !strings.Contains(c.Narrower[0], "federation-geo us-east1 /22, gdnsd us-central1 /20") {
		t.Errorf("narrower: %q", c.Narrower[0])
	}
}

func TestWhyNarrower(t *testing.T) {
	g := testGeoSetup(t) // London 1.0.0.0/24, Tokyo 1.0.1.0/24 and 1.0.2.0/24, nothing in 1.0.3.0/24
	sub := netip.MustParsePrefix("1.0.2.0/24")
	for _, c := range []struct {
		scope int
		want  string
	}{
		{24, ""},             // the network itself
		{23, WhyUnplaced},    // 1.0.2.0/23: Tokyo and unplaced 1.0.3.0/24
		{22, WhyOtherRegion}, // 1.0.0.0/22: London too
		{8, WhyOtherRegion},
	} {
		if got := g.WhyNarrower(sub, c.scope, "asia-east1"); got != c.want {
			t.Errorf("/%d: %q, want %q", c.scope, got, c.want)
		}
	}
	if got := g.WhyNarrower(netip.MustParsePrefix("1.0.0.0/24"), 24, "europe-west1"); got != "" {
		t.Errorf("London in its own network: %q", got)
	}
}

func TestGeoTargetsAndMarkdown(t *testing.T) {
	run := func(server string, perCore float64) GeoRun {
		return GeoRun{ServerRun: ServerRun{Server: server, Saturation: &PerfResult{QPS: perCore / 2, Command: "dnsperf -E …"}, ServerCores: 0.5},
			QPSPerCore: perCore, RoundQPSPerCore: []float64{perCore}}
	}
	c := NewGeoComparison([]string{"federation-geo", "gdnsd", "knot-geoip"})
	c.Why = func(netip.Prefix, int, string) string { return WhyUnplaced }
	sub := netip.MustParsePrefix("1.0.0.0/24")
	c.Add(sub, []GeoAnswer{{"asia-east1", 20, "NOERROR"}, {"asia-east1", 16, "NOERROR"}, {"asia-east1", 20, "NOERROR"}})
	g := &GeoReport{Runs: []GeoRun{run("federation-geo", 40000), run("whoami", 52000), run("gdnsd", 240000)}, Comparison: c}
	met := map[string]bool{}
	for _, x := range geoTargets(g) {
		met[x.What] = x.Met
	}
	want := map[string]bool{
		"geo on: QPS per server core / whoami's (ECS queries)":            false, // 0.77
		"same region as gdnsd and Knot geoip for the same client subnets": true,
		"ECS scope at least as wide as gdnsd's":                           true, // narrower, explained
	}
	for what, w := range want {
		if got, ok := met[what]; !ok || got != w {
			t.Errorf("target %q: met %v (present %v), want %v", what, got, ok, w)
		}
	}
	c.Why = nil
	c.Add(sub, []GeoAnswer{{"us-east1", 22, "NOERROR"}, {"us-central1", 20, "NOERROR"}, {"us-east1", 22, "NOERROR"}})
	for _, x := range geoTargets(g) {
		if x.Met {
			t.Errorf("target %q met after an unexplained narrower scope and another region", x.What)
		}
	}
	md := Markdown(&Report{Started: time.Now(), Geo: g})
	for _, s := range []string{"## Geo answers beside gdnsd and Knot", "**1 of 2**", "| /16 | 0 | 1 | 0 |", "| federation-geo | 20000 | 0.50 | **40000** |", "Narrower, 1 subnets: unexplained"} {
		if !strings.Contains(md, s) {
			t.Errorf("report lacks %q:\n%s", s, md)
		}
	}
}
