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
		// Another type: NODATA.
		{Qname: srv(""), Qtype: dns.TypeA, Ns: []dns.RR{test.SOA(soaRR)}},
		// Unknown port or protocol, unnamed port, unknown service: NXDOMAIN.
		{Qname: "_https._tcp." + nginx(""), Qtype: dns.TypeSRV, Rcode: dns.RcodeNameError, Ns: []dns.RR{test.SOA(soaRR)}},
		{Qname: "_http._udp." + nginx(""), Qtype: dns.TypeSRV, Rcode: dns.RcodeNameError, Ns: []dns.RR{test.SOA(soaRR)}},
		{Qname: "_http._tcp.other.mynamespace.myfederation.svc.example.com.", Qtype: dns.TypeSRV, Rcode: dns.RcodeNameError, Ns: []dns.RR{test.SOA(soaRR)}},
		{Qname: "_http._tcp.nginx.mynamespace.otherfed.svc.example.com.", Qtype: dns.TypeSRV, Rcode: dns.RcodeNameError, Ns: []dns.RR{test.SOA(soaRR)}},
	})
}
