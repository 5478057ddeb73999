package federation

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"

	"github.com/coredns-fed/coredns-fed/internal/fixture"

	"github.com/miekg/dns"
	discovery "k8s.io/api/discovery/v1"
	meta "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

func TestAllHealthy(t *testing.T) {
	f, _ := newTestFederation(t, seed())
	check(t, f, []test.Case{
		{Qname: nginx(""), Qtype: dns.TypeA, Answer: []dns.RR{
			test.A(nginx("") + " 30 IN A 192.0.2.1"), test.A(nginx("") + " 30 IN A 192.0.2.2"),
			test.A(nginx("") + " 30 IN A 192.0.2.3"), test.A(nginx("") + " 30 IN A 192.0.2.4"),
		}},
		{Qname: nginx("europe-west1."), Qtype: dns.TypeA, Answer: []dns.RR{test.A(nginx("europe-west1.") + " 30 IN A 192.0.2.2")}},
		{Qname: nginx("us-central1-b."), Qtype: dns.TypeA, Answer: []dns.RR{test.A(nginx("us-central1-b.") + " 30 IN A 192.0.2.4")}},
		{Qname: nginx("us-central1-b.us-central1."), Qtype: dns.TypeA, Answer: []dns.RR{test.A(nginx("us-central1-b.us-central1.") + " 30 IN A 192.0.2.4")}},
		// Case is not significant.
		{Qname: "NGINX.MyNamespace.myfederation.svc.Asia-East1.example.com.", Qtype: dns.TypeA, Answer: []dns.RR{test.A(nginx("asia-east1.") + " 30 IN A 192.0.2.1")}},
		// Other types on an existing name: NODATA with the SOA.
		{Qname: nginx(""), Qtype: dns.TypeAAAA, Ns: []dns.RR{test.SOA(soaRR)}},
		{Qname: nginx("asia-east1."), Qtype: dns.TypeTXT, Ns: []dns.RR{test.SOA(soaRR)}},
		{Qname: nginx(""), Qtype: dns.TypeCNAME, Ns: []dns.RR{test.SOA(soaRR)}},
		// No level has an IPv6 address: AAAA is NODATA where asked, without a CNAME.
		{Qname: nginx("asia-east1-b."), Qtype: dns.TypeAAAA, Ns: []dns.RR{test.SOA(soaRR)}},
	})
}

func TestFallback(t *testing.T) {
	cs := seed()
	cs[1].objs[1] = slice("mynamespace", "nginx", fixture.Unready, fixture.Unready) // europe: no ready endpoint
	f, _ := newTestFederation(t, cs)
	globalA := []dns.RR{
		test.A(nginx("") + " 30 IN A 192.0.2.1"), test.A(nginx("") + " 30 IN A 192.0.2.3"), test.A(nginx("") + " 30 IN A 192.0.2.4"),
	}
	regionCNAME := test.CNAME(nginx("europe-west1.") + " 30 IN CNAME " + nginx(""))
	check(t, f, []test.Case{
		{Qname: nginx(""), Qtype: dns.TypeA, Answer: globalA},
		{Qname: nginx("europe-west1."), Qtype: dns.TypeA, Answer: append([]dns.RR{regionCNAME}, globalA...)},
		{Qname: nginx("europe-west1-b."), Qtype: dns.TypeA, Answer: append([]dns.RR{
			test.CNAME(nginx("europe-west1-b.") + " 30 IN CNAME " + nginx("europe-west1.")), regionCNAME,
		}, globalA...)},
		{Qname: nginx("europe-west1-b.europe-west1."), Qtype: dns.TypeA, Answer: append([]dns.RR{
			test.CNAME(nginx("europe-west1-b.europe-west1.") + " 30 IN CNAME " + nginx("europe-west1.")), regionCNAME,
		}, globalA...)},
		// A CNAME question gets the CNAME alone.
		{Qname: nginx("europe-west1."), Qtype: dns.TypeCNAME, Answer: []dns.RR{regionCNAME}},
		// Another type follows the chain and ends in NODATA.
		{Qname: nginx("europe-west1."), Qtype: dns.TypeMX, Answer: []dns.RR{regionCNAME}, Ns: []dns.RR{test.SOA(soaRR)}},
	})
	// The chain is in order: each CNAME's target is the next owner.
	if err := test.CNAMEOrder(query(t, f, nginx("europe-west1-b.europe-west1."), dns.TypeA)); err != nil {
		t.Error(err)
	}
}

func TestHealthRules(t *testing.T) {
	t.Run("unready endpoints", func(t *testing.T) {
		cs := seed()[:1]
		cs[0].objs[1] = slice("mynamespace", "nginx", fixture.Unready)
		f, _ := newTestFederation(t, cs)
		check(t, f, []test.Case{{Qname: nginx(""), Qtype: dns.TypeA, Ns: []dns.RR{test.SOA(soaRR)}}})
	})
	t.Run("ready unset counts as ready", func(t *testing.T) {
		cs := seed()[:1]
		cs[0].objs[1] = slice("mynamespace", "nginx", nil)
		f, _ := newTestFederation(t, cs)
		check(t, f, []test.Case{{Qname: nginx(""), Qtype: dns.TypeA, Answer: []dns.RR{test.A(nginx("") + " 30 IN A 192.0.2.1")}}})
	})
	t.Run("not a load balancer", func(t *testing.T) {
		cs := seed()[:1]
		cs[0].objs[0] = clusterIPService("mynamespace", "nginx", "192.0.2.1")
		f, _ := newTestFederation(t, cs)
		check(t, f, []test.Case{{Qname: nginx(""), Qtype: dns.TypeA, Ns: []dns.RR{test.SOA(soaRR)}}})
	})
	t.Run("no ingress yet", func(t *testing.T) {
		cs := seed()[:1]
		cs[0].objs[0] = fixture.LoadBalancer("mynamespace", "nginx", "myfederation")
		f, _ := newTestFederation(t, cs)
		check(t, f, []test.Case{{Qname: nginx(""), Qtype: dns.TypeA, Ns: []dns.RR{test.SOA(soaRR)}}})
	})
	t.Run("healthy nowhere", func(t *testing.T) {
		cs := seed()
		for i := range cs {
			cs[i].objs = cs[i].objs[:1]
		}
		f, _ := newTestFederation(t, cs)
		check(t, f, []test.Case{
			{Qname: nginx(""), Qtype: dns.TypeA, Ns: []dns.RR{test.SOA(soaRR)}},
			{Qname: nginx("us-east1."), Qtype: dns.TypeA, Answer: []dns.RR{
				test.CNAME(nginx("us-east1.") + " 30 IN CNAME " + nginx("")),
			}, Ns: []dns.RR{test.SOA(soaRR)}},
		})
	})
}

func TestDedupAndIPv6(t *testing.T) {
	cs := seed()[:2]
	// Both clusters behind one anycast address, plus an IPv6 one and a duplicate.
	cs[0].objs[0] = fixture.Service("mynamespace", "nginx", "myfederation", "192.0.2.10", "2001:db8::1", "192.0.2.10")
	cs[1].objs[0] = fixture.Service("mynamespace", "nginx", "myfederation", "192.0.2.10")
	f, _ := newTestFederation(t, cs)
	check(t, f, []test.Case{
		{Qname: nginx(""), Qtype: dns.TypeA, Answer: []dns.RR{test.A(nginx("") + " 30 IN A 192.0.2.10")}},
		{Qname: nginx(""), Qtype: dns.TypeAAAA, Answer: []dns.RR{test.AAAA(nginx("") + " 30 IN AAAA 2001:db8::1")}},
		// europe-west1 has no IPv6 address: AAAA answers global's, under its own name.
		{Qname: nginx("europe-west1."), Qtype: dns.TypeAAAA, Answer: []dns.RR{test.AAAA(nginx("europe-west1.") + " 30 IN AAAA 2001:db8::1")}},
	})
}

func TestMultiZone(t *testing.T) {
	cs := seed()[:2]
	// gce-asia-east1 has nodes in two zones: it is a shard of both.
	cs[0].nodes = []Place{{"asia-east1", "asia-east1-a"}, {"asia-east1", "asia-east1-b"}}
	f, _ := newTestFederation(t, cs)
	check(t, f, []test.Case{
		{Qname: nginx("asia-east1-a."), Qtype: dns.TypeA, Answer: []dns.RR{test.A(nginx("asia-east1-a.") + " 30 IN A 192.0.2.1")}},
		{Qname: nginx("asia-east1-b."), Qtype: dns.TypeA, Answer: []dns.RR{test.A(nginx("asia-east1-b.") + " 30 IN A 192.0.2.1")}},
		{Qname: nginx("asia-east1-a.asia-east1."), Qtype: dns.TypeA, Answer: []dns.RR{test.A(nginx("asia-east1-a.asia-east1.") + " 30 IN A 192.0.2.1")}},
		// A zone does not belong to another region.
		{Qname: nginx("asia-east1-a.europe-west1."), Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{test.SOA(soaRR)}},
	})
}

func TestConfiguredTopology(t *testing.T) {
	cs := seed()[:1]
	cs[0].nodes = nil // no labels to discover
	f, _ := newTestFederation(t, cs, func(f *Federation) {
		f.Members[0].Region = "asia-east1"
		f.Members[0].Zones = []string{"asia-east1-c"}
	})
	check(t, f, []test.Case{
		{Qname: nginx("asia-east1-c.asia-east1."), Qtype: dns.TypeA, Answer: []dns.RR{test.A(nginx("asia-east1-c.asia-east1.") + " 30 IN A 192.0.2.1")}},
		{Qname: nginx("asia-east1-b."), Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{test.SOA(soaRR)}},
	})
}

func TestNXDOMAINAndEmptyNonTerminals(t *testing.T) {
	f, _ := newTestFederation(t, seed())
	nx := func(name string) test.Case {
		return test.Case{Qname: name, Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{test.SOA(soaRR)}}
	}
	nodata := func(name string) test.Case {
		return test.Case{Qname: name, Qtype: dns.TypeA, Ns: []dns.RR{test.SOA(soaRR)}}
	}
	check(t, f, []test.Case{
		nx("apache.mynamespace.myfederation.svc.example.com."),            // unknown service
		nx("nginx.othernamespace.myfederation.svc.example.com."),          // unknown namespace
		nx("nginx.mynamespace.otherfederation.svc.example.com."),          // unknown federation
		nx("nginx.mynamespace.myfederation.svc.mars-north1.example.com."), // unknown region
		nx("nginx.mynamespace.myfederation.svc.mars-north1-b.us-east1.example.com."),
		nx("x.nginx.mynamespace.myfederation.svc.example.com."), // below a service
		nx("www.example.com."),
		nodata("svc.example.com."),
		nodata("myfederation.svc.example.com."),
		nodata("mynamespace.myfederation.svc.example.com."),
		nodata("mynamespace.myfederation.svc.us-east1-b.us-east1.example.com."),
		nodata("svc.us-east1.example.com."),
		nodata("us-east1.example.com."),
		nodata("us-east1-b.us-east1.example.com."),
		nodata("us-east1-b.example.com."),
	})
}

func TestApex(t *testing.T) {
	f, _ := newTestFederation(t, seed(), func(f *Federation) {
		f.ns = []nameServer{{name: "ns1.example.com.", addrs: mustAddrs("192.0.2.53", "2001:db8::53")}, {name: "ns.other.net."}}
	})
	check(t, f, []test.Case{
		{Qname: "example.com.", Qtype: dns.TypeSOA, Answer: []dns.RR{test.SOA(soaRR)}},
		{Qname: "example.com.", Qtype: dns.TypeNS,
			Answer: []dns.RR{test.NS("example.com. 30 IN NS ns1.example.com."), test.NS("example.com. 30 IN NS ns.other.net.")},
			Extra:  []dns.RR{test.A("ns1.example.com. 30 IN A 192.0.2.53"), test.AAAA("ns1.example.com. 30 IN AAAA 2001:db8::53")},
		},
		{Qname: "example.com.", Qtype: dns.TypeA, Ns: []dns.RR{test.SOA(soaRR)}},
		{Qname: "ns1.example.com.", Qtype: dns.TypeA, Answer: []dns.RR{test.A("ns1.example.com. 30 IN A 192.0.2.53")}},
		{Qname: "ns1.example.com.", Qtype: dns.TypeAAAA, Answer: []dns.RR{test.AAAA("ns1.example.com. 30 IN AAAA 2001:db8::53")}},
	})
}

func TestFamilyFallback(t *testing.T) {
	cs := seed()
	cs[1].objs[0] = fixture.Service("mynamespace", "nginx", "myfederation", "2001:db8::2") // europe: IPv6 ingress only
	f, _ := newTestFederation(t, cs)
	as := func(owner string, last ...string) []dns.RR {
		var rrs []dns.RR
		for _, a := range last {
			rrs = append(rrs, test.A(owner+" 30 IN A 192.0.2."+a))
		}
		return rrs
	}
	aaaa := func(owner string) []dns.RR { return []dns.RR{test.AAAA(owner + " 30 IN AAAA 2001:db8::2")} }
	europe, europeB, asia, asiaB := nginx("europe-west1."), nginx("europe-west1-b."), nginx("asia-east1."), nginx("asia-east1-b.")
	soa := []dns.RR{test.SOA(soaRR)}
	check(t, f, []test.Case{
		{Qname: nginx(""), Qtype: dns.TypeA, Answer: as(nginx(""), "1", "3", "4")},
		{Qname: nginx(""), Qtype: dns.TypeAAAA, Answer: aaaa(nginx(""))},
		// europe has no IPv4 address: A gets global's, under europe's own name
		// (no CNAME beside its AAAA); AAAA is its own.
		{Qname: europe, Qtype: dns.TypeA, Answer: as(europe, "1", "3", "4")},
		{Qname: europe, Qtype: dns.TypeAAAA, Answer: aaaa(europe)},
		{Qname: europeB, Qtype: dns.TypeA, Answer: as(europeB, "1", "3", "4")},
		{Qname: nginx("europe-west1-b.europe-west1."), Qtype: dns.TypeAAAA, Answer: aaaa(nginx("europe-west1-b.europe-west1."))},
		// And the other way round: an IPv4-only level answers global's IPv6.
		{Qname: asia, Qtype: dns.TypeA, Answer: as(asia, "1")},
		{Qname: asia, Qtype: dns.TypeAAAA, Answer: aaaa(asia)},
		{Qname: asiaB, Qtype: dns.TypeAAAA, Answer: aaaa(asiaB)},
		// The name owns addresses, not a CNAME: other types are NODATA, ANY its A RRset.
		{Qname: europe, Qtype: dns.TypeCNAME, Ns: soa},
		{Qname: europe, Qtype: dns.TypeMX, Ns: soa},
		{Qname: europe, Qtype: dns.TypeANY, Answer: as(europe, "1", "3", "4")},
	})
	checkOwnership(t, f)

	// Only europe is healthy: no level has IPv4, so A is NODATA where it is asked.
	for i := range cs {
		if i != 1 {
			cs[i].objs[1] = slice("mynamespace", "nginx", fixture.Unready)
		}
	}
	f, _ = newTestFederation(t, cs)
	check(t, f, []test.Case{
		{Qname: europe, Qtype: dns.TypeA, Ns: soa},
		{Qname: nginx(""), Qtype: dns.TypeA, Ns: soa},
		{Qname: asia, Qtype: dns.TypeAAAA, Answer: []dns.RR{test.CNAME(asia + " 30 IN CNAME " + nginx("")), aaaa(nginx(""))[0]}},
	})
	checkOwnership(t, f)
}

// checkOwnership asserts, for every Service name of f's snapshot, that no name
// answers a CNAME to one query type and records of its own to another (RFC
// 2181 §10.1), and that what a zone transfer sends at the name is what its A
// and AAAA queries answer there.
func checkOwnership(t *testing.T, f *Federation) {
	t.Helper()
	s := f.snapshot.Load()
	for _, sa := range s.services {
		ns, name, _ := strings.Cut(sa.key, "/")
		for suffix, l := range s.levels {
			owner := name + "." + ns + "." + s.fed + ".svc." + suffix + f.Zone
			var cname, data bool
			var answered []dns.RR
			for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA} {
				for _, rr := range query(t, f, owner, qt).Answer {
					if rr.Header().Name != owner {
						continue
					}
					if rr.Header().Rrtype == dns.TypeCNAME {
						cname = true
					} else {
						data = true
						answered = append(answered, rr)
					}
				}
			}
			if cname && data {
				t.Errorf("%s owns a CNAME and address records", owner)
			}
			if sent := nodeRecords(sa.levels[l.index]); !cname && len(sent) != len(answered) {
				t.Errorf("%s: a transfer sends %d records, queries answer %d: %v", owner, len(sent), len(answered), answered)
			}
		}
	}
}

// staticFederation answers from the snapshot b builds once, without sources:
// for replies whose shape depends on the configuration alone.
func staticFederation(b *builder) *Federation {
	if b.policy == nil {
		b.policy = allPolicy{}
	}
	if b.usable == nil {
		b.usable = func(sh *Shard, _ MemberStatus) []netip.Addr { return sh.Addrs }
	}
	f := New()
	f.Zone, f.Fed = b.zone, b.fed
	f.snapshot.Store(b.build(nil, nil, true, false))
	return f
}

func TestNegativeSOATTL(t *testing.T) {
	for _, tc := range []struct {
		minttl, negTTL uint32
	}{
		{minttl: 10, negTTL: 10},   // MINIMUM below the TTL: MINIMUM
		{minttl: 3600, negTTL: 30}, // above: the SOA's own TTL
	} {
		f := staticFederation(&builder{zone: "example.com.", fed: "myfederation", ttl: 30,
			soa: soaConfig{mname: "ns1.example.com.", rname: "hostmaster.example.com.", refresh: 7200, retry: 1800, expire: 86400, minttl: tc.minttl},
			ns:  []nameServer{{name: "ns1.example.com.", addrs: mustAddrs("192.0.2.53")}}})
		soa := fmt.Sprintf("example.com. %%d IN SOA ns1.example.com. hostmaster.example.com. 1 7200 1800 86400 %d", tc.minttl)
		neg := []dns.RR{test.SOA(fmt.Sprintf(soa, tc.negTTL))}
		check(t, f, []test.Case{
			{Qname: "example.com.", Qtype: dns.TypeSOA, Answer: []dns.RR{test.SOA(fmt.Sprintf(soa, 30))}},
			{Qname: "www.example.com.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: neg},
			{Qname: "example.com.", Qtype: dns.TypeTXT, Ns: neg},
			{Qname: "ns1.example.com.", Qtype: dns.TypeAAAA, Ns: neg},
			{Qname: "svc.example.com.", Qtype: dns.TypeA, Ns: neg},
		})
	}
}

func TestEmptyNonTerminalsAboveNameServers(t *testing.T) {
	f := staticFederation(&builder{zone: "example.com.", fed: "myfederation", ttl: 30,
		soa: soaConfig{mname: "ns.dns.example.com.", rname: "hostmaster.example.com.", minttl: 30},
		ns: []nameServer{
			{name: "ns.dns.example.com.", addrs: mustAddrs("192.0.2.53")},
			{name: "a.b.c.example.com.", addrs: mustAddrs("192.0.2.54")},
			{name: "ns.other.net."},
		}})
	soa := []dns.RR{test.SOA("example.com. 30 IN SOA ns.dns.example.com. hostmaster.example.com. 0 0 0 0 30")}
	check(t, f, []test.Case{
		{Qname: "ns.dns.example.com.", Qtype: dns.TypeA, Answer: []dns.RR{test.A("ns.dns.example.com. 30 IN A 192.0.2.53")}},
		// RFC 8020: the names above a name server exist; NXDOMAIN would deny it.
		{Qname: "dns.example.com.", Qtype: dns.TypeA, Ns: soa},
		{Qname: "b.c.example.com.", Qtype: dns.TypeAAAA, Ns: soa},
		{Qname: "c.example.com.", Qtype: dns.TypeNS, Ns: soa},
		{Qname: "x.dns.example.com.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: soa},
		{Qname: "other.example.com.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: soa},
	})
}

func TestApexNamedNameServer(t *testing.T) {
	f, _ := newTestFederation(t, seed(), func(f *Federation) {
		f.ns = []nameServer{{name: "example.com.", addrs: mustAddrs("192.0.2.53", "2001:db8::53")}, {name: "ns1.example.com.", addrs: mustAddrs("192.0.2.54")}}
	})
	soa := "example.com. 30 IN SOA example.com. hostmaster.example.com. 1 7200 1800 86400 30"
	check(t, f, []test.Case{
		// The apex is a name server: its addresses are the apex's A and AAAA.
		{Qname: "example.com.", Qtype: dns.TypeA, Answer: []dns.RR{test.A("example.com. 30 IN A 192.0.2.53")}},
		{Qname: "example.com.", Qtype: dns.TypeAAAA, Answer: []dns.RR{test.AAAA("example.com. 30 IN AAAA 2001:db8::53")}},
		{Qname: "example.com.", Qtype: dns.TypeNS,
			Answer: []dns.RR{test.NS("example.com. 30 IN NS example.com."), test.NS("example.com. 30 IN NS ns1.example.com.")},
			Extra: []dns.RR{test.A("example.com. 30 IN A 192.0.2.53"), test.AAAA("example.com. 30 IN AAAA 2001:db8::53"),
				test.A("ns1.example.com. 30 IN A 192.0.2.54")},
		},
		{Qname: "example.com.", Qtype: dns.TypeSOA, Answer: []dns.RR{test.SOA(soa)}},
		{Qname: "example.com.", Qtype: dns.TypeTXT, Ns: []dns.RR{test.SOA(soa)}},
	})
}

// appendingWriter appends to every section of the reply it is given, as the
// dnssec plugin does with its signatures, and records a section that had room
// to grow in place: such an append writes into memory the reply may share.
type appendingWriter struct {
	test.ResponseWriter
	got    *dns.Msg
	spare  []string
	signer string
}

func (w *appendingWriter) WriteMsg(m *dns.Msg) error {
	for name, sec := range map[string]*[]dns.RR{"answer": &m.Answer, "authority": &m.Ns, "additional": &m.Extra} {
		if cap(*sec) > len(*sec) {
			w.spare = append(w.spare, name)
		}
		*sec = append(*sec, &dns.RRSIG{Hdr: dns.RR_Header{Name: w.signer, Rrtype: dns.TypeRRSIG, Class: dns.ClassINET}})
	}
	w.got = m
	return nil
}

// TestSectionsNotShared: the snapshot's slices reach the reply with len == cap,
// so a plugin that appends to a reply never writes into the snapshot that other
// queries read at the same time (run with -race).
func TestSectionsNotShared(t *testing.T) {
	f, _ := newTestFederation(t, seed(), func(f *Federation) {
		f.ns = []nameServer{ // three NS records: a slice grown by append has room for a fourth
			{name: "ns1.example.com.", addrs: mustAddrs("192.0.2.53", "2001:db8::53", "192.0.2.153")},
			{name: "ns2.example.com.", addrs: mustAddrs("192.0.2.54")},
			{name: "ns3.example.com.", addrs: mustAddrs("192.0.2.55")},
		}
	})
	questions := []dns.Question{
		{Name: "example.com.", Qtype: dns.TypeNS, Qclass: dns.ClassINET},
		{Name: "example.com.", Qtype: dns.TypeSOA, Qclass: dns.ClassINET},
		{Name: "example.com.", Qtype: dns.TypeANY, Qclass: dns.ClassINET},
		{Name: "ns1.example.com.", Qtype: dns.TypeA, Qclass: dns.ClassINET},
		{Name: "www.example.com.", Qtype: dns.TypeA, Qclass: dns.ClassINET},
		{Name: nginx(""), Qtype: dns.TypeAAAA, Qclass: dns.ClassINET},
		{Name: nginx("us-east1-b."), Qtype: dns.TypeA, Qclass: dns.ClassINET},
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			signer := fmt.Sprintf("signer-%d.", g)
			for i := range 200 {
				q := questions[(g+i)%len(questions)]
				m := new(dns.Msg)
				m.Question = []dns.Question{q}
				w := &appendingWriter{signer: signer}
				f.ServeDNS(context.Background(), w, m)
				if len(w.spare) > 0 {
					t.Errorf("%s %s: sections %v have spare capacity", q.Name, dns.TypeToString[q.Qtype], w.spare)
					return
				}
				for _, sec := range [][]dns.RR{w.got.Answer, w.got.Ns, w.got.Extra} {
					if last := sec[len(sec)-1]; last.Header().Name != signer {
						t.Errorf("%s %s: the appended record was overwritten by another query's: %s", q.Name, dns.TypeToString[q.Qtype], last)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	// The snapshot still has what it had.
	check(t, f, []test.Case{{Qname: "example.com.", Qtype: dns.TypeNS,
		Answer: []dns.RR{test.NS("example.com. 30 IN NS ns1.example.com."), test.NS("example.com. 30 IN NS ns2.example.com."), test.NS("example.com. 30 IN NS ns3.example.com.")},
		Extra: []dns.RR{test.A("ns1.example.com. 30 IN A 192.0.2.53"), test.A("ns1.example.com. 30 IN A 192.0.2.153"), test.AAAA("ns1.example.com. 30 IN AAAA 2001:db8::53"),
			test.A("ns2.example.com. 30 IN A 192.0.2.54"), test.A("ns3.example.com. 30 IN A 192.0.2.55")},
	}})
}

func TestOddQueries(t *testing.T) {
	f, _ := newTestFederation(t, seed(), func(f *Federation) {
		f.ns = []nameServer{{name: "ns1.example.com.", addrs: mustAddrs("192.0.2.53", "2001:db8::53")}}
	})
	question := func(name string, qtype uint16, edit func(m *dns.Msg)) *dns.Msg {
		m := new(dns.Msg)
		m.SetQuestion(name, qtype)
		if edit != nil {
			edit(m)
		}
		return m
	}
	class := func(c uint16) func(*dns.Msg) { return func(m *dns.Msg) { m.Question[0].Qclass = c } }
	opcode := func(op int) func(*dns.Msg) { return func(m *dns.Msg) { m.Opcode = op } }
	// Queries the snapshot does not answer: the rcode is returned for the
	// server to write, and never SERVFAIL.
	for _, tc := range []struct {
		name  string
		query *dns.Msg
		rcode int
	}{
		{"class CH", question(nginx(""), dns.TypeA, class(dns.ClassCHAOS)), dns.RcodeRefused},
		{"class ANY", question(nginx(""), dns.TypeA, class(dns.ClassANY)), dns.RcodeRefused},
		{"class NONE", question(nginx(""), dns.TypeA, class(dns.ClassNONE)), dns.RcodeRefused},
		{"class 0", question(nginx(""), dns.TypeA, class(0)), dns.RcodeRefused},
		{"NOTIFY", question("example.com.", dns.TypeSOA, opcode(dns.OpcodeNotify)), dns.RcodeNotImplemented},
		{"UPDATE", question("example.com.", dns.TypeSOA, opcode(dns.OpcodeUpdate)), dns.RcodeNotImplemented},
		{"IQUERY", question(nginx(""), dns.TypeA, opcode(dns.OpcodeIQuery)), dns.RcodeNotImplemented},
		{"STATUS", question(nginx(""), dns.TypeA, opcode(dns.OpcodeStatus)), dns.RcodeNotImplemented},
		{"opcode 15", question(nginx(""), dns.TypeA, opcode(15)), dns.RcodeNotImplemented},
		// Without the transfer plugin in front: a secondary learns it may not.
		{"AXFR", question("example.com.", dns.TypeAXFR, nil), dns.RcodeRefused},
		{"IXFR", question("example.com.", dns.TypeIXFR, nil), dns.RcodeRefused},
		{"no question", question("example.com.", dns.TypeA, func(m *dns.Msg) { m.Question = nil }), dns.RcodeFormatError},
		{"two questions", question(nginx(""), dns.TypeA, func(m *dns.Msg) { m.Question = append(m.Question, m.Question[0]) }), dns.RcodeFormatError},
		// RFC 6891 §6.1.1; CoreDNS's server passes such a query on (found by
		// TestPacketFuzzLab, which got NOERROR and NXDOMAIN for it).
		{"two OPT records", question(nginx(""), dns.TypeA, func(m *dns.Msg) {
			m.SetEdns0(1232, false)
			m.Extra = append(m.Extra, &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT, Class: 512}})
		}), dns.RcodeFormatError},
		{"two OPT records, NOTIFY", question("example.com.", dns.TypeSOA, func(m *dns.Msg) {
			m.Opcode = dns.OpcodeNotify
			m.SetEdns0(1232, true)
			m.Extra = append([]dns.RR{&dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}}, m.Extra...)
		}), dns.RcodeFormatError},
	} {
		rec := dnstest.NewRecorder(&test.ResponseWriter{})
		rcode, err := f.ServeDNS(context.Background(), rec, tc.query)
		if rcode != tc.rcode || err != nil || rec.Msg != nil {
			t.Errorf("%s: rcode %s, error %v, reply written %v; want %s for the server to write",
				tc.name, dns.RcodeToString[rcode], err, rec.Msg != nil, dns.RcodeToString[tc.rcode])
		}
	}

	// ANY gets one RRset of the name (RFC 8482 §4.1): A, else AAAA; at the apex
	// the SOA; at an alias its CNAME.
	soa := []dns.RR{test.SOA(soaRR)}
	check(t, f, []test.Case{
		{Qname: nginx("asia-east1."), Qtype: dns.TypeANY, Answer: []dns.RR{test.A(nginx("asia-east1.") + " 30 IN A 192.0.2.1")}},
		{Qname: "example.com.", Qtype: dns.TypeANY, Answer: soa},
		{Qname: "ns1.example.com.", Qtype: dns.TypeANY, Answer: []dns.RR{test.A("ns1.example.com. 30 IN A 192.0.2.53")}},
		{Qname: "svc.example.com.", Qtype: dns.TypeANY, Ns: soa},
		{Qname: "www.example.com.", Qtype: dns.TypeANY, Rcode: dns.RcodeNameError, Ns: soa},
	})
	cs := seed()
	cs[1].objs[1] = slice("mynamespace", "nginx", fixture.Unready)
	fallback, _ := newTestFederation(t, cs)
	check(t, fallback, []test.Case{
		{Qname: nginx("europe-west1."), Qtype: dns.TypeANY, Answer: []dns.RR{test.CNAME(nginx("europe-west1.") + " 30 IN CNAME " + nginx(""))}},
	})

	// Outside the zone: passed to the next plugin.
	f.Next = test.NextHandler(dns.RcodeBadCookie, nil)
	if rcode, _ := f.ServeDNS(context.Background(), &test.ResponseWriter{}, question("example.org.", dns.TypeA, nil)); rcode != dns.RcodeBadCookie {
		t.Errorf("out of zone: rcode %d, want the next plugin's", rcode)
	}
}

func TestServfailBeforeSync(t *testing.T) {
	f := New()
	f.Zone, f.Fed = "example.com.", "myfederation"
	f.Members = []*Member{{Name: "unsynced", client: blockedClient()}}
	f.StartupTimeout = time.Hour
	f.Start()
	t.Cleanup(f.Stop)
	if f.Ready() {
		t.Fatal("ready before any member synced")
	}
	for _, name := range []string{nginx(""), "unknown.example.com."} {
		if r := query(t, f, name, dns.TypeA); r.Rcode != dns.RcodeServerFailure {
			t.Errorf("%s before sync: rcode %s, want SERVFAIL", name, dns.RcodeToString[r.Rcode])
		}
	}
}

func TestStartupTimeout(t *testing.T) {
	f := New()
	f.Zone, f.Fed = "example.com.", "myfederation"
	f.ns = []nameServer{{name: "ns1.example.com."}}
	f.soa = soaConfig{mname: "ns1.example.com.", rname: "hostmaster.example.com.", minttl: 30}
	healthy := seed()[0]
	f.Members = []*Member{
		{Name: "unreachable", client: blockedClient()},
		{Name: healthy.name, client: fakeClient(healthy)},
	}
	f.StartupTimeout = 100 * time.Millisecond
	f.Start()
	t.Cleanup(f.Stop)
	waitFor(t, "ready after the startup timeout", f.Ready)
	check(t, f, []test.Case{{Qname: nginx(""), Qtype: dns.TypeA, Answer: []dns.RR{test.A(nginx("") + " 30 IN A 192.0.2.1")}}})
}

func TestChangesFollowObjects(t *testing.T) {
	f, clients := newTestFederation(t, seed())
	europe := clients["gce-europe-west1"]
	ctx := context.Background()
	serial := query(t, f, "example.com.", dns.TypeSOA).Answer[0].(*dns.SOA).Serial

	// Europe's endpoints become unready: its region falls back to global.
	_, err := europe.DiscoveryV1().EndpointSlices("mynamespace").Update(ctx, slice("mynamespace", "nginx", fixture.Unready), meta.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, f, []test.Case{{Qname: nginx("europe-west1."), Qtype: dns.TypeCNAME, Answer: []dns.RR{
		test.CNAME(nginx("europe-west1.") + " 30 IN CNAME " + nginx("")),
	}}})
	// A change gets a newer serial, at the latest in the next second.
	waitFor(t, "a newer SOA serial", func() bool {
		return query(t, f, "example.com.", dns.TypeSOA).Answer[0].(*dns.SOA).Serial > serial
	})

	// Recovery.
	_, err = europe.DiscoveryV1().EndpointSlices("mynamespace").Update(ctx, slice("mynamespace", "nginx", fixture.Ready), meta.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, f, []test.Case{{Qname: nginx("europe-west1."), Qtype: dns.TypeA, Answer: []dns.RR{test.A(nginx("europe-west1.") + " 30 IN A 192.0.2.2")}}})

	// A second federated service appears in one cluster only.
	_, err = europe.CoreV1().Services("web").Create(ctx, fixture.Service("web", "shop", "myfederation", "192.0.2.99"), meta.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = europe.DiscoveryV1().EndpointSlices("web").Create(ctx, slice("web", "shop", fixture.Ready), meta.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, f, []test.Case{
		{Qname: "shop.web.myfederation.svc.example.com.", Qtype: dns.TypeA, Answer: []dns.RR{test.A("shop.web.myfederation.svc.example.com. 30 IN A 192.0.2.99")}},
		{Qname: "shop.web.myfederation.svc.us-east1.example.com.", Qtype: dns.TypeA, Answer: []dns.RR{
			test.CNAME("shop.web.myfederation.svc.us-east1.example.com. 30 IN CNAME shop.web.myfederation.svc.example.com."),
			test.A("shop.web.myfederation.svc.example.com. 30 IN A 192.0.2.99"),
		}},
	})

	// The service is deleted everywhere: NXDOMAIN.
	for _, c := range clients {
		if err := c.CoreV1().Services("mynamespace").Delete(ctx, "nginx", meta.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, f, []test.Case{
		{Qname: nginx(""), Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{test.SOA(soaRR)}},
		{Qname: "mynamespace.myfederation.svc.example.com.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{test.SOA(soaRR)}},
	})

	// Nodes move the europe cluster to another zone: the old zone name is gone.
	node := fixture.Node("gce-europe-west1-node-0", "europe-west1", "europe-west1-c")
	if _, err := europe.CoreV1().Nodes().Update(ctx, node, meta.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, f, []test.Case{
		{Qname: "shop.web.myfederation.svc.europe-west1-c.example.com.", Qtype: dns.TypeA, Answer: []dns.RR{test.A("shop.web.myfederation.svc.europe-west1-c.example.com. 30 IN A 192.0.2.99")}},
		{Qname: "shop.web.myfederation.svc.europe-west1-b.example.com.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{test.SOA(soaRR)}},
	})
}

func TestNamespacesRestriction(t *testing.T) {
	cs := seed()[:1]
	cs[0].objs = append(cs[0].objs, fixture.Service("other", "nginx", "myfederation", "192.0.2.77"), slice("other", "nginx", fixture.Ready))
	f, _ := newTestFederation(t, cs, func(f *Federation) { f.Namespaces = []string{"mynamespace"} })
	check(t, f, []test.Case{
		{Qname: nginx(""), Qtype: dns.TypeA, Answer: []dns.RR{test.A(nginx("") + " 30 IN A 192.0.2.1")}},
		{Qname: "nginx.other.myfederation.svc.example.com.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{test.SOA(soaRR)}},
	})
}

func TestUnlabeledServiceIgnored(t *testing.T) {
	cs := seed()[:1]
	plain := fixture.Service("mynamespace", "plain", "myfederation", "192.0.2.88")
	plain.Labels = nil
	cs[0].objs = append(cs[0].objs, plain, slice("mynamespace", "plain", fixture.Ready))
	f, _ := newTestFederation(t, cs)
	check(t, f, []test.Case{
		{Qname: "plain.mynamespace.myfederation.svc.example.com.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{test.SOA(soaRR)}},
	})
}

func fakeClient(c cluster) kubernetes.Interface {
	objs := append([]runtime.Object{}, c.objs...)
	for i, p := range c.nodes {
		objs = append(objs, fixture.Node(fmt.Sprintf("%s-node-%d", c.name, i), p.Region, p.Zone))
	}
	return fake.NewClientset(objs...)
}

// blockedClient is an API server that refuses every list: it never syncs.
func blockedClient() kubernetes.Interface {
	c := fake.NewClientset()
	c.PrependReactor("list", "*", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("connection refused")
	})
	return c
}

func mustAddrs(s ...string) []netip.Addr {
	var out []netip.Addr
	for _, a := range s {
		out = append(out, netip.MustParseAddr(a))
	}
	return out
}

func TestSeveralEndpointSlices(t *testing.T) {
	cs := seed()[:1]
	second := slice("mynamespace", "nginx", fixture.Unready)
	second.Name = "nginx-fghij"
	cs[0].objs = append(cs[0].objs, second)
	f, clients := newTestFederation(t, cs)
	c := clients["gce-asia-east1"].DiscoveryV1().EndpointSlices("mynamespace")
	ctx := context.Background()
	healthy := []test.Case{{Qname: nginx(""), Qtype: dns.TypeA, Answer: []dns.RR{test.A(nginx("") + " 30 IN A 192.0.2.1")}}}
	nodata := []test.Case{{Qname: nginx(""), Qtype: dns.TypeA, Ns: []dns.RR{test.SOA(soaRR)}}}
	check(t, f, healthy)

	// The ready slice goes: the unready one alone leaves the shard unhealthy.
	if err := c.Delete(ctx, "nginx-abcde", meta.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, f, nodata)
	// The other slice turns ready.
	second.Endpoints[0].Conditions.Ready = fixture.Ready
	if _, err := c.Update(ctx, second, meta.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, f, healthy)
	// A slice moved to another service (label change) no longer counts for this one.
	second.Labels[discovery.LabelServiceName] = "other"
	if _, err := c.Update(ctx, second, meta.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, f, nodata)
}

// BenchmarkServeDNSStatic answers from a snapshot built once from synthetic
// members, with nothing running beside it: allocations are the query path's
// alone (BenchmarkServeDNS also counts its informers' late snapshot builds).
func BenchmarkServeDNSStatic(b *testing.B) {
	var members []*memberRun
	for c, r := range []string{"asia-east1", "europe-west1", "us-east1", "us-central1"} {
		members = append(members, syntheticMember("gce-"+r, r, r+"-b", 1000, c))
	}
	f := staticFederation(&builder{zone: "example.com.", fed: "myfederation", ttl: 30, members: members,
		ns: []nameServer{{name: "ns.dns.example.com.", addrs: mustAddrs("192.0.2.53")}}, soa: soaConfig{mname: "ns.dns.example.com.", rname: "hostmaster.example.com."}})
	var msgs []*dns.Msg
	for _, lvl := range []string{"", "europe-west1.", "us-east1-b.", "europe-west1-b.europe-west1.", "mars-north1."} {
		for s := range 8 {
			m := new(dns.Msg)
			m.SetQuestion(fmt.Sprintf("svc-%d.ns.myfederation.svc.%sexample.com.", s, lvl), dns.TypeA)
			msgs = append(msgs, m)
		}
	}
	ctx := context.Background()
	w := &discardWriter{}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		f.ServeDNS(ctx, w, msgs[i%len(msgs)])
	}
}

// TestMaxAnswers: a level with more addresses of a family than max_answers
// answers a window of max_answers of them per query, every address as often
// over many queries; a zone transfer still sends them all.
func TestMaxAnswers(t *testing.T) {
	cs := seed()
	for i := range cs {
		var ips []string
		for j := range 5 {
			ips = append(ips, fmt.Sprintf("192.0.%d.%d", i, j+1), fmt.Sprintf("2001:db8:%d::%d", i, j+1))
		}
		cs[i].objs = []runtime.Object{fixture.Service("mynamespace", "nginx", "myfederation", ips...), slice("mynamespace", "nginx", fixture.Ready)}
	}
	for _, tc := range []struct {
		max, want int
	}{{DefaultMaxAnswers, DefaultMaxAnswers}, {3, 3}, {0, 20}, {20, 20}} {
		f, _ := newTestFederation(t, cs, func(f *Federation) { f.MaxAnswers = tc.max })
		for _, qtype := range []uint16{dns.TypeA, dns.TypeAAAA} {
			seen := map[string]int{}
			const queries = 400
			for range queries {
				resp := query(t, f, nginx(""), qtype)
				if len(resp.Answer) != tc.want {
					t.Fatalf("max_answers %d, %s: %d records, want %d\n%s", tc.max, dns.TypeToString[qtype], len(resp.Answer), tc.want, resp)
				}
				names := map[string]bool{}
				for _, rr := range resp.Answer {
					if rr.Header().Rrtype != qtype {
						t.Fatalf("max_answers %d: %s in a %s answer", tc.max, rr, dns.TypeToString[qtype])
					}
					v := strings.Fields(rr.String())[4]
					if names[v] {
						t.Fatalf("max_answers %d: %s twice in one answer\n%s", tc.max, v, resp)
					}
					names[v] = true
					seen[v]++
				}
			}
			// Every address is answered, each about as often (a random window
			// start: each appears in want/20 of the answers, here within ±50 %).
			if len(seen) != 20 {
				t.Errorf("max_answers %d, %s: %d distinct addresses over %d queries, want 20", tc.max, dns.TypeToString[qtype], len(seen), queries)
			}
			expect := queries * tc.want / 20
			for v, n := range seen {
				if n < expect/2 || n > expect*3/2 {
					t.Errorf("max_answers %d, %s: %s answered %d times, expected about %d", tc.max, dns.TypeToString[qtype], v, n, expect)
				}
			}
		}
		// The zone's data is every address: a transfer sends all 40.
		if n := len(f.snapshot.Load().lookup("nginx.mynamespace.myfederation.svc.").all.rrs); n != 40 {
			t.Errorf("max_answers %d: the global name's records hold %d addresses, want 40", tc.max, n)
		}
	}
}
