package federation

import (
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"

	"github.com/coredns-fed/coredns-fed/internal/fixture"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus/testutil"
	meta "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// writeGeoDB writes fixture.GeoWorld (or nets) to a temporary database.
func writeGeoDB(t testing.TB, nets ...fixture.GeoNetwork) string {
	t.Helper()
	if nets == nil {
		nets = fixture.GeoWorld
	}
	path := filepath.Join(t.TempDir(), "city.mmdb")
	if err := fixture.WriteGeoCity(path, "", nets); err != nil {
		t.Fatal(err)
	}
	return path
}

// withGeo turns geo answers on with the database at path; edit adjusts the options.
func withGeo(t testing.TB, path string, edit func(*geoConfig)) func(*Federation) {
	return func(f *Federation) {
		cfg := newGeoConfig()
		cfg.path = path
		cfg.poll = 10 * time.Millisecond
		if edit != nil {
			edit(cfg)
		}
		g, err := newGeo(cfg)
		if err != nil {
			t.Fatal(err)
		}
		f.geo = g
	}
}

// geoQuery asks for name with an ECS option of subnet ("" for none).
func geoQuery(t *testing.T, f *Federation, name, subnet string, scope uint8) (*dns.Msg, int) {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	if subnet != "" {
		p := netip.MustParsePrefix(subnet)
		e := &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: uint8(p.Bits()), SourceScope: scope, Address: net.IP(p.Addr().AsSlice())}
		if p.Addr().Is6() {
			e.Family = 2
		}
		o := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
		o.Option = append(o.Option, e)
		m.Extra = append(m.Extra, o)
	}
	rec := dnstest.NewRecorder(&test.ResponseWriter{})
	rcode, err := f.ServeDNS(context.Background(), rec, m)
	if err != nil {
		t.Fatal(err)
	}
	return rec.Msg, rcode
}

// replyScope returns the reply's ECS option, or nil.
func replyECS(m *dns.Msg) *dns.EDNS0_SUBNET {
	if o := m.IsEdns0(); o != nil {
		for _, opt := range o.Option {
			if e, ok := opt.(*dns.EDNS0_SUBNET); ok {
				return e
			}
		}
	}
	return nil
}

func answerAddrs(m *dns.Msg) []string {
	var out []string
	for _, rr := range m.Answer {
		if a, ok := rr.(*dns.A); ok {
			out = append(out, a.A.String())
		}
	}
	return out
}

type geoCase struct {
	subnet string
	want   []string // addresses answered
	scope  uint8
}

func checkGeo(t *testing.T, f *Federation, name string, cases []geoCase) {
	t.Helper()
	for _, tc := range cases {
		m, rcode := geoQuery(t, f, name, tc.subnet, 0)
		if m == nil {
			t.Errorf("%s from %s: no reply, rcode %s", name, tc.subnet, dns.RcodeToString[rcode])
			continue
		}
		if got := answerAddrs(m); !equalStrings(got, tc.want) {
			t.Errorf("%s from %s: answered %v, want %v", name, tc.subnet, got, tc.want)
		}
		e := replyECS(m)
		switch {
		case tc.subnet == "" && e != nil:
			t.Errorf("%s without ECS: reply has ECS %s", name, e)
		case tc.subnet != "" && e == nil:
			t.Errorf("%s from %s: reply has no ECS", name, tc.subnet)
		case e != nil && e.SourceScope != tc.scope:
			t.Errorf("%s from %s: scope %d, want %d", name, tc.subnet, e.SourceScope, tc.scope)
		}
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

var allSeed = []string{"192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"}

func TestGeoNearestRegion(t *testing.T) {
	f, _ := newTestFederation(t, seed(), withGeo(t, writeGeoDB(t), nil))
	checkGeo(t, f, nginx(""), []geoCase{
		{"81.2.69.0/24", []string{"192.0.2.2"}, 24},     // London: europe-west1
		{"1.0.16.0/24", []string{"192.0.2.1"}, 20},      // Tokyo: asia-east1; the database network is a /20
		{"12.0.0.0/24", []string{"192.0.2.3"}, 16},      // New York: us-east1
		{"12.1.2.0/24", []string{"192.0.2.4"}, 16},      // Chicago: us-central1
		{"12.2.5.0/24", []string{"192.0.2.3"}, 15},      // New York: two sibling /16s of one answer merge
		{"12.0.0.0/8", []string{"192.0.2.3"}, 8},        // never wider than the source prefix
		{"8.8.8.0/24", []string{"192.0.2.4"}, 24},       // Mountain View: us-central1
		{"2001:db8:e0::/56", []string{"192.0.2.2"}, 48}, // Paris over IPv6
		{"203.0.113.0/24", allSeed, 7},                  // no coordinates: everything, over the unknown block around it
		{"0.0.0.0/0", allSeed, 0},                       // SOURCE PREFIX-LENGTH 0: the answer for everybody
		{"", allSeed, 0},                                // the test writer's source 10.240.0.1 is not in the database
	})
	// Region and zone names are unchanged: the client asked for that place.
	checkGeo(t, f, nginx("europe-west1."), []geoCase{{"1.0.16.0/24", []string{"192.0.2.2"}, 0}})
	checkGeo(t, f, nginx("us-east1-b."), []geoCase{{"81.2.69.0/24", []string{"192.0.2.3"}, 0}})
}

func TestGeoRegionLosesShards(t *testing.T) {
	f, clients := newTestFederation(t, seed(), withGeo(t, writeGeoDB(t), nil))
	before := testutil.ToFloat64(geoAnswers.WithLabelValues("", "us-east1"))
	_, err := clients["gce-europe-west1"].DiscoveryV1().EndpointSlices("mynamespace").Update(context.Background(), slice("mynamespace", "nginx", fixture.Unready), meta.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "London moved", func() bool {
		m, _ := geoQuery(t, f, nginx(""), "81.2.69.0/24", 0)
		return equalStrings(answerAddrs(m), []string{"192.0.2.3"})
	})
	checkGeo(t, f, nginx(""), []geoCase{
		{"81.2.69.0/24", []string{"192.0.2.3"}, 24}, // London: the next nearest, us-east1, not every region
		{"1.0.16.0/24", []string{"192.0.2.1"}, 20},  // Tokyo is unaffected
	})
	if got := testutil.ToFloat64(geoAnswers.WithLabelValues("", "us-east1")) - before; got < 2 {
		t.Errorf("geo_answers_total{region=us-east1} grew by %v, want at least 2", got)
	}
	// Zone transfers send the unfiltered set (once its serial is published:
	// within a second).
	globalAs := func() int {
		ch, err := f.Transfer("example.com.", 0)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for rrs := range ch {
			for _, rr := range rrs {
				if rr.Header().Name == nginx("") && rr.Header().Rrtype == dns.TypeA {
					n++
				}
			}
		}
		return n
	}
	waitFor(t, "the AXFR with the 3 usable shards", func() bool { return globalAs() == 3 })
}

func TestGeoNearestNAndSpill(t *testing.T) {
	f, _ := newTestFederation(t, seed(), withGeo(t, writeGeoDB(t), func(c *geoConfig) { c.nearest = 2 }))
	checkGeo(t, f, nginx(""), []geoCase{
		{"81.2.69.0/24", []string{"192.0.2.2", "192.0.2.3"}, 24}, // europe-west1, us-east1
	})
	f, _ = newTestFederation(t, seed(), withGeo(t, writeGeoDB(t), func(c *geoConfig) { c.spillKm = 1000 }))
	checkGeo(t, f, nginx(""), []geoCase{
		{"12.0.0.0/24", []string{"192.0.2.3", "192.0.2.4"}, 16}, // New York: us-east1 at 990 km, us-central1 at 1830 km
		{"81.2.69.0/24", []string{"192.0.2.2"}, 24},             // London: the next region is 6000 km farther
	})
}

func TestGeoMap(t *testing.T) {
	f, _ := newTestFederation(t, seed(), withGeo(t, writeGeoDB(t), func(c *geoConfig) {
		c.maps["AS"] = []string{"europe-west1", "us-east1"}
		c.maps["NA/US"] = []string{"us-central1"}
		c.maps["OC"] = []string{"asia-east1"}
	}))
	checkGeo(t, f, nginx(""), []geoCase{
		{"1.0.16.0/24", []string{"192.0.2.2"}, 20},    // Tokyo by continent
		{"12.0.0.0/24", []string{"192.0.2.4"}, 14},    // New York by country: with Chicago, one answer for 12.0.0.0/14
		{"81.2.69.0/24", []string{"192.0.2.2"}, 24},   // Europe by distance
		{"203.0.113.0/24", []string{"192.0.2.1"}, 24}, // placed by the map though it has no coordinates
	})
}

func TestGeoMalformedECS(t *testing.T) {
	f, _ := newTestFederation(t, seed(), withGeo(t, writeGeoDB(t), nil))
	if _, rcode := geoQuery(t, f, nginx(""), "81.2.69.0/24", 8); rcode != dns.RcodeFormatError {
		t.Errorf("ECS with a scope in the query: rcode %s, want FORMERR", dns.RcodeToString[rcode])
	}
	m := new(dns.Msg)
	m.SetQuestion(nginx(""), dns.TypeA)
	o := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
	o.Option = []dns.EDNS0{&dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: 16, Address: net.ParseIP("81.2.69.0")}}
	m.Extra = []dns.RR{o}
	rcode, _ := f.ServeDNS(context.Background(), dnstest.NewRecorder(&test.ResponseWriter{}), m)
	if rcode != dns.RcodeFormatError {
		t.Errorf("ECS address with bits beyond its prefix: rcode %s, want FORMERR", dns.RcodeToString[rcode])
	}
}

func TestGeoReload(t *testing.T) {
	path := writeGeoDB(t)
	f, _ := newTestFederation(t, seed(), withGeo(t, path, nil))
	checkGeo(t, f, nginx(""), []geoCase{{"81.2.69.0/24", []string{"192.0.2.2"}, 24}})

	// London moves to Taipei: the file is swapped and the answers follow.
	moved := []fixture.GeoNetwork{{Prefix: "81.2.69.0/24", Continent: "AS", Country: "TW", Lat: 25.03, Lon: 121.57}}
	if err := fixture.WriteGeoCity(path, "", moved); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "reloaded database", func() bool {
		m, _ := geoQuery(t, f, nginx(""), "81.2.69.0/24", 0)
		return equalStrings(answerAddrs(m), []string{"192.0.2.1"})
	})

	// A broken file keeps the database that works.
	if err := os.WriteFile(path, []byte("not a database"), 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // several polls
	checkGeo(t, f, nginx(""), []geoCase{{"81.2.69.0/24", []string{"192.0.2.1"}, 24}})
}

func TestGeoTableMerge(t *testing.T) {
	m := newNetMerger(netip.MustParseAddr("0.0.0.0"))
	m.add(netip.MustParsePrefix("10.0.0.0/25"), 1)
	m.add(netip.MustParsePrefix("10.0.0.128/25"), 1)
	m.add(netip.MustParsePrefix("10.0.1.0/24"), 2)
	m.add(netip.MustParsePrefix("10.0.1.0/25"), 2) // overlaps: skipped
	nets := m.finish(netip.MustParseAddr("255.255.255.255"))
	want := map[string]int32{"10.0.0.0/24": 1, "10.0.1.0/24": 2, "0.0.0.0/5": -1, "128.0.0.0/1": -1}
	got := map[string]int32{}
	next := netip.MustParseAddr("0.0.0.0")
	for _, n := range nets {
		if n.prefix.Addr() != next {
			t.Fatalf("partition has a gap or overlap at %s (expected %s)", n.prefix, next)
		}
		got[n.prefix.String()] = n.class
		next = lastAddr(n.prefix).Next()
	}
	for p, c := range want {
		if got[p] != c {
			t.Errorf("%s: class %d, want %d (partition %v)", p, got[p], c, got)
		}
	}
	if m.skip != 1 {
		t.Errorf("skipped %d networks, want 1", m.skip)
	}
}

func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Addr().AsSlice()
	for i := p.Bits(); i < len(a)*8; i++ {
		a[i/8] |= 1 << (7 - i%8)
	}
	r, _ := netip.AddrFromSlice(a)
	return r
}

func TestGeoDatabaseLayout(t *testing.T) {
	path := filepath.Join(t.TempDir(), "asn.mmdb")
	if err := fixture.WriteGeoCity(path, "GeoLite2-ASN", fixture.GeoWorld); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, err string }{
		{path, "is not a GeoIP2/GeoLite2 City database"},
		{filepath.Join(t.TempDir(), "missing.mmdb"), "no such file"},
	} {
		_, err := openGeoDB(tc.path)
		if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), tc.path) {
			t.Errorf("openGeoDB(%s): %v, want an error naming the path and %q", tc.path, err, tc.err)
		}
	}
}

func TestParseGeo(t *testing.T) {
	db := writeGeoDB(t)
	asn := filepath.Join(t.TempDir(), "asn.mmdb")
	if err := fixture.WriteGeoCity(asn, "GeoLite2-ASN", fixture.GeoWorld); err != nil {
		t.Fatal(err)
	}
	member := "member a {\n kubeconfig " + kc + "\n}\nns ns1.example.com. 192.0.2.53\n"
	tests := []struct {
		geo     string
		errText string // "" : no error
		check   func(t *testing.T, g *geoConfig)
	}{
		{"geo " + db + "\n", "", func(t *testing.T, g *geoConfig) {
			if g.path != db || g.nearest != 1 || g.spillKm != 0 || g.poll != 5*time.Second {
				t.Errorf("defaults: %+v", g)
			}
		}},
		{"geo {\n database " + db + "\n coordinates dc1 48.1 11.6\n map EU/DE dc1 europe-west1\n map AS asia-east1\n nearest 2\n spill 800km\n reload 1m\n}\n", "", func(t *testing.T, g *geoConfig) {
			if g.override["dc1"] != (coord{48.1, 11.6}) || !slices.Equal(g.maps["EU/DE"], []string{"dc1", "europe-west1"}) ||
				!slices.Equal(g.maps["AS"], []string{"asia-east1"}) || g.nearest != 2 || g.spillKm != 800 || g.poll != time.Minute {
				t.Errorf("options: %+v", g)
			}
		}},
		{"geo " + db + " { nearest 3 }\n", "", func(t *testing.T, g *geoConfig) {
			if g.nearest != 3 {
				t.Errorf("one-line block: %+v", g)
			}
		}},
		{"geo {\n nearest 2\n}\n", "geo needs a database", nil},
		{"geo /nonexistent/city.mmdb\n", "/nonexistent/city.mmdb", nil},
		{"geo " + asn + "\n", "is not a GeoIP2/GeoLite2 City database", nil},
		{"geo {\n database " + db + "\n coordinates dc1 95 11\n}\n", "latitude must be a number in [-90, 90]", nil},
		{"geo {\n database " + db + "\n map XX dc1\n}\n", `"XX" is not a continent code`, nil},
		{"geo {\n database " + db + "\n map EU/Germany dc1\n}\n", "not an ISO 3166 two-letter country code", nil},
		{"geo {\n database " + db + "\n map EU\n}\n", "map needs CONTINENT[/COUNTRY] and at least one REGION", nil},
		{"geo {\n database " + db + "\n nearest 0\n}\n", "nearest needs one number of regions in [1, 64]", nil},
		{"geo {\n database " + db + "\n spill far\n}\n", "spill needs one distance in kilometres", nil},
		{"geo {\n database " + db + "\n closest 2\n}\n", `geo: unknown option "closest"`, nil},
		{"geo " + db + "\ngeo " + db + "\n", "geo given twice", nil},
	}
	for _, tc := range tests {
		c := caddy.NewTestController("dns", "federation myfederation {\n"+member+tc.geo+"}")
		c.ServerBlockKeys = []string{"example.com."}
		f, err := parse(c)
		if tc.errText != "" {
			if err == nil || !strings.Contains(err.Error(), tc.errText) || !strings.Contains(err.Error(), "Testfile:") {
				t.Errorf("%q: error %v, want one naming the line and %q", tc.geo, err, tc.errText)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.geo, err)
			continue
		}
		tc.check(t, f.geo.cfg)
		f.geo.close()
	}
}

// BenchmarkGlobalAnswer compares the global name's answer without geo and with
// geo, by ECS and by source address.
func BenchmarkGlobalAnswer(b *testing.B) {
	db := writeGeoDB(b)
	ecs := func(m *dns.Msg, subnet string) *dns.Msg {
		p := netip.MustParsePrefix(subnet)
		o := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
		o.Option = []dns.EDNS0{&dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: uint8(p.Bits()), Address: net.IP(p.Addr().AsSlice())}}
		m.Extra = []dns.RR{o}
		return m
	}
	for _, bc := range []struct {
		name   string
		geo    bool
		subnet string
	}{
		{"plain", false, ""},
		{"plain-ecs", false, "81.2.69.0/24"},
		{"geo-ecs", true, "81.2.69.0/24"},
		{"geo-source", true, ""},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var opts []func(*Federation)
			if bc.geo {
				opts = append(opts, withGeo(b, db, nil))
			}
			f, _ := newTestFederation(b, seed(), opts...)
			m := new(dns.Msg)
			m.SetQuestion(nginx(""), dns.TypeA)
			if bc.subnet != "" {
				m = ecs(m, bc.subnet)
			}
			ctx := context.Background()
			w := &discardWriter{}
			b.ReportAllocs()
			for b.Loop() {
				f.ServeDNS(ctx, w, m)
			}
		})
	}
}

// BenchmarkGeoTableBuild measures building the table from a database of
// 65536 /24 networks over 4096 places, for the seed's four regions.
func BenchmarkGeoTableBuild(b *testing.B) {
	var nets []fixture.GeoNetwork
	for i := range 1 << 16 {
		place := i * 7919 % 4096
		nets = append(nets, fixture.GeoNetwork{
			Prefix:    netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(20 + i>>16), byte(i >> 8), byte(i), 0}), 24).String(),
			Continent: "EU", Country: "DE",
			Lat: float64(place%180) - 89.5, Lon: float64(place/180)*15 - 179,
		})
	}
	db, err := openGeoDB(writeGeoDB(b, nets...))
	if err != nil {
		b.Fatal(err)
	}
	defer db.reader.Close()
	cfg := newGeoConfig()
	regions := []string{"asia-east1", "europe-west1", "us-central1", "us-east1"}
	b.ReportAllocs()
	var t *geoTable
	for b.Loop() {
		if t, err = buildGeoTable(db, cfg, regions); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(t.v4)), "v4-networks")
	b.ReportMetric(float64(len(t.classes)), "classes")
}

// BenchmarkGeoPick measures what geo adds to a query: reading the ECS
// option, the table lookup and the choice of the prepared records.
func BenchmarkGeoPick(b *testing.B) {
	f, _ := newTestFederation(b, seed(), withGeo(b, writeGeoDB(b), nil))
	n := f.snapshot.Load().lookup("nginx.mynamespace.myfederation.svc.")
	g, ok := n.answer.(*geoPicker)
	if !ok {
		b.Fatalf("global answer is a %T", n.answer)
	}
	m := new(dns.Msg)
	m.SetQuestion(nginx(""), dns.TypeA)
	o := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
	o.Option = []dns.EDNS0{&dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: 24, Address: net.ParseIP("81.2.69.0")}}
	m.Extra = []dns.RR{o}
	w := &test.ResponseWriter{}
	b.ReportAllocs()
	for b.Loop() {
		var loc location
		if err := locate(w, m, &loc); err != nil {
			b.Fatal(err)
		}
		if s := g.pick(&loc, false); len(s) != 1 {
			b.Fatal(s)
		}
	}
}

// TestGeoAddressFamilies: each family is chosen on its own: an AAAA query
// gets the nearest region with IPv6 addresses, not NODATA because the nearest
// region has none.
func TestGeoAddressFamilies(t *testing.T) {
	cs := seed()
	cs[2].objs[0] = fixture.Service("mynamespace", "nginx", "myfederation", "192.0.2.3", "2001:db8::3") // us-east1
	f, _ := newTestFederation(t, cs, withGeo(t, writeGeoDB(t), nil))
	london := func(qtype uint16) *dns.Msg {
		m := new(dns.Msg)
		m.SetQuestion(nginx(""), qtype)
		o := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
		o.Option = []dns.EDNS0{&dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: 24, Address: net.ParseIP("81.2.69.0").To4()}}
		m.Extra = []dns.RR{o}
		rec := dnstest.NewRecorder(&test.ResponseWriter{})
		if _, err := f.ServeDNS(context.Background(), rec, m); err != nil {
			t.Fatal(err)
		}
		return rec.Msg
	}
	for _, tc := range []test.Case{
		{Qname: nginx(""), Qtype: dns.TypeA, Answer: []dns.RR{test.A(nginx("") + " 30 IN A 192.0.2.2")}},
		{Qname: nginx(""), Qtype: dns.TypeAAAA, Answer: []dns.RR{test.AAAA(nginx("") + " 30 IN AAAA 2001:db8::3")}},
	} {
		resp := london(tc.Qtype)
		resp.Extra = nil // the ECS option is checked elsewhere
		if err := test.SortAndCheck(resp, tc); err != nil {
			t.Errorf("London %s: %v\n%s", dns.TypeToString[tc.Qtype], err, resp)
		}
	}
}

// TestGeoECSFamilyZero: dig +subnet=0 sends FAMILY 0 with SOURCE
// PREFIX-LENGTH 0; the answer is everybody's, with scope 0.
func TestGeoECSFamilyZero(t *testing.T) {
	f, _ := newTestFederation(t, seed(), withGeo(t, writeGeoDB(t), nil))
	m := new(dns.Msg)
	m.SetQuestion(nginx(""), dns.TypeA)
	o := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
	o.Option = []dns.EDNS0{&dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 0, SourceNetmask: 0, Address: net.IPv4zero}}
	m.Extra = []dns.RR{o}
	rec := dnstest.NewRecorder(&test.ResponseWriter{})
	if _, err := f.ServeDNS(context.Background(), rec, m); err != nil {
		t.Fatal(err)
	}
	if got := answerAddrs(rec.Msg); !equalStrings(got, allSeed) {
		t.Errorf("answered %v, want %v", got, allSeed)
	}
	if e := replyECS(rec.Msg); e == nil || e.SourceScope != 0 || e.Family != 0 {
		t.Errorf("reply ECS %v, want family 0 with scope 0", e)
	}
}
