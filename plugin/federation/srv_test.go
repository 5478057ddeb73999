package federation

import (
	"testing"

	"github.com/coredns/coredns/plugin/test"

	"github.com/coredns-fed/coredns-fed/internal/fixture"

	"github.com/miekg/dns"
	core "k8s.io/api/core/v1"
)

// withPorts gives the seed's nginx Services a named port "http" (TCP 80) and
// an unnamed one.
func withPorts(cs []cluster) []cluster {
	for i := range cs {
		svc := cs[i].objs[0].(*core.Service)
		svc.Spec.Ports = []core.ServicePort{{Name: "HTTP", Protocol: core.ProtocolTCP, Port: 80}, {Protocol: core.ProtocolUDP, Port: 53}}
	}
	return cs
}

func TestSRVNamedPort(t *testing.T) {
	cs := withPorts(seed())
	cs[1].objs[1] = slice("mynamespace", "nginx", fixture.Unready) // europe falls back to global
	f, _ := newTestFederation(t, cs)
	srv := func(level string) string { return "_http._tcp." + nginx(level) }
	globalA := []dns.RR{
		test.A(nginx("") + " 30 IN A 192.0.2.1"), test.A(nginx("") + " 30 IN A 192.0.2.3"), test.A(nginx("") + " 30 IN A 192.0.2.4"),
	}
	regionCNAME := test.CNAME(srv("europe-west1.") + " 30 IN CNAME " + srv(""))
	check(t, f, []test.Case{
		{Qname: srv(""), Qtype: dns.TypeSRV,
			Answer: []dns.RR{test.SRV(srv("") + " 30 IN SRV 0 100 80 " + nginx(""))}, Extra: globalA},
		{Qname: "_HTTP._TCP.nginx.mynamespace.myfederation.svc.asia-east1.example.com.", Qtype: dns.TypeSRV,
			Answer: []dns.RR{test.SRV(srv("asia-east1.") + " 30 IN SRV 0 100 80 " + nginx("asia-east1."))},
			Extra:  []dns.RR{test.A(nginx("asia-east1.") + " 30 IN A 192.0.2.1")}},
		// The same fallback chain as the addresses.
		{Qname: srv("europe-west1."), Qtype: dns.TypeSRV,
			Answer: []dns.RR{regionCNAME, test.SRV(srv("") + " 30 IN SRV 0 100 80 " + nginx(""))}, Extra: globalA},
		{Qname: srv("europe-west1."), Qtype: dns.TypeCNAME, Answer: []dns.RR{regionCNAME}},
		// Two links: the zone, then its region, both without usable shards.
		{Qname: srv("europe-west1-b."), Qtype: dns.TypeSRV,
			Answer: []dns.RR{test.CNAME(srv("europe-west1-b.") + " 30 IN CNAME " + srv("europe-west1.")), regionCNAME,
				test.SRV(srv("") + " 30 IN SRV 0 100 80 " + nginx(""))}, Extra: globalA},
		{Qname: srv("europe-west1-b."), Qtype: dns.TypeANY,
			Answer: []dns.RR{test.CNAME(srv("europe-west1-b.") + " 30 IN CNAME " + srv("europe-west1.")), regionCNAME,
				test.SRV(srv("") + " 30 IN SRV 0 100 80 " + nginx(""))}, Extra: globalA},
		{Qname: srv("europe-west1-b."), Qtype: dns.TypeA,
			Answer: []dns.RR{test.CNAME(srv("europe-west1-b.") + " 30 IN CNAME " + srv("europe-west1.")), regionCNAME},
			Ns:     []dns.RR{test.SOA(soaRR)}},
		// Another type: NODATA.
		{Qname: srv(""), Qtype: dns.TypeA, Ns: []dns.RR{test.SOA(soaRR)}},
		// Unknown port or protocol, unnamed port, unknown service: NXDOMAIN.
		{Qname: "_https._tcp." + nginx(""), Qtype: dns.TypeSRV, Rcode: dns.RcodeNameError, Ns: []dns.RR{test.SOA(soaRR)}},
		{Qname: "_http._udp." + nginx(""), Qtype: dns.TypeSRV, Rcode: dns.RcodeNameError, Ns: []dns.RR{test.SOA(soaRR)}},
		{Qname: "_http._tcp.other.mynamespace.myfederation.svc.example.com.", Qtype: dns.TypeSRV, Rcode: dns.RcodeNameError, Ns: []dns.RR{test.SOA(soaRR)}},
		{Qname: "_http._tcp.nginx.mynamespace.otherfed.svc.example.com.", Qtype: dns.TypeSRV, Rcode: dns.RcodeNameError, Ns: []dns.RR{test.SOA(soaRR)}},
	})
}

// TestSRVPortsDiffer: members whose Services give a named port different
// numbers answer one SRV record per number, sorted, at a level holding both.
func TestSRVPortsDiffer(t *testing.T) {
	cs := withPorts(seed())
	cs[2].objs[0].(*core.Service).Spec.Ports[0].Port = 8080 // one US member
	f, _ := newTestFederation(t, cs)
	name := "_http._tcp." + nginx("")
	rrs := query(t, f, name, dns.TypeSRV).Answer
	var ports []uint16
	for _, rr := range rrs {
		srv, ok := rr.(*dns.SRV)
		if !ok || srv.Hdr.Name != name || srv.Target != nginx("") {
			t.Fatalf("answer %v", rr)
		}
		ports = append(ports, srv.Port)
	}
	if len(ports) != 2 || ports[0] != 80 || ports[1] != 8080 {
		t.Errorf("ports %v, want [80 8080]", ports)
	}
}
