package federation

import (
	"fmt"
	"net/netip"
	"testing"
	"unsafe"

	"github.com/miekg/dns"
	core "k8s.io/api/core/v1"
	meta "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// A snapshot holds a node per Service and level and a shard per Service and
// member: millions at 10,000 Services in 50 members. Their sizes are what the
// synthetic benchmark's memory figure is made of; a field added to them shows
// here first.
func TestSnapshotSizes(t *testing.T) {
	for _, tc := range []struct {
		what      string
		size, max uintptr
	}{
		{"node", unsafe.Sizeof(node{}), 64},
		{"Shard", unsafe.Sizeof(Shard{}), 80},
		{"traffic", unsafe.Sizeof(traffic{}), 8},
		{"oneA", unsafe.Sizeof(oneA{}), 80},
		{"oneAAAA", unsafe.Sizeof(oneAAAA{}), 96},
	} {
		if tc.size > tc.max {
			t.Errorf("%s is %d bytes, more than %d", tc.what, tc.size, tc.max)
		}
	}
}

// A set of one address is one allocation, and reads as a set of several does.
func TestOneRecordSet(t *testing.T) {
	b := &builder{ttl: 30}
	owner := "nginx.mynamespace.myfederation.svc.z.example.com."
	for _, tc := range []struct {
		addr string
		v6   bool
	}{{"192.0.2.1", false}, {"2001:db8::1", true}} {
		a := netip.MustParseAddr(tc.addr)
		s := b.records(owner, []netip.Addr{a})
		if len(s.rrs) != 1 || cap(s.rrs) != 1 {
			t.Fatalf("%s: %d records, capacity %d; want 1, 1", tc.addr, len(s.rrs), cap(s.rrs))
		}
		got := s.pick(nil, tc.v6)
		if len(got) != 1 || rrAddr(got[0]) != a || got[0].Header().Name != owner || got[0].Header().Ttl != 30 {
			t.Errorf("%s: picked %v", tc.addr, got)
		}
		if other := s.pick(nil, !tc.v6); len(other) != 0 {
			t.Errorf("%s: the other family has %v", tc.addr, other)
		}
		want := dns.TypeA
		if tc.v6 {
			want = dns.TypeAAAA
		}
		if got[0].Header().Rrtype != want {
			t.Errorf("%s: type %d, want %d", tc.addr, got[0].Header().Rrtype, want)
		}
		if n := testing.AllocsPerRun(10, func() { b.records(owner, []netip.Addr{a}) }); n > 2 { // addrs, and the set
			t.Errorf("%s: %.0f allocations, want at most 2", tc.addr, n)
		}
	}
}

// The owner names of a Service's levels are substrings of one string.
func TestOwnersOneString(t *testing.T) {
	b := &builder{zone: "example.com."}
	levels := []*level{{suffix: ""}, {suffix: "r."}, {suffix: "z.r."}, {suffix: "z."}}
	got := b.owners("nginx.ns.fed.svc.", levels)
	want := []string{"nginx.ns.fed.svc.example.com.", "nginx.ns.fed.svc.r.example.com.", "nginx.ns.fed.svc.z.r.example.com.", "nginx.ns.fed.svc.z.example.com."}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("owner %d: %q, want %q", i, got[i], want[i])
		}
	}
	if unsafe.Pointer(unsafe.StringData(got[1])) != unsafe.Add(unsafe.Pointer(unsafe.StringData(got[0])), len(got[0])) {
		t.Errorf("owners are separate strings")
	}
}

func portService(name string, ports ...core.ServicePort) *core.Service {
	return &core.Service{ObjectMeta: meta.ObjectMeta{Namespace: "ns", Name: name}, Spec: core.ServiceSpec{Ports: ports}}
}

// Services with the same ports (a Service's copies in every member, and
// Services alike) share one port list; one with other ports has its own.
func TestPortListsShared(t *testing.T) {
	http := core.ServicePort{Name: "HTTP", Protocol: core.ProtocolTCP, Port: 80}
	dnsPort := core.ServicePort{Name: "dns", Protocol: core.ProtocolUDP, Port: 53}
	slim := func(s *core.Service) *service {
		out, err := toService(s)
		if err != nil {
			t.Fatal(err)
		}
		return out.(*service)
	}
	a, b := slim(portService("a", http, dnsPort)), slim(portService("b", http, dnsPort))
	if want := []Port{{"http", "tcp", 80}, {"dns", "udp", 53}}; fmt.Sprint(a.Ports) != fmt.Sprint(want) {
		t.Fatalf("ports %v, want %v", a.Ports, want)
	}
	if &a.Ports[0] != &b.Ports[0] {
		t.Errorf("two Services with the same ports have two lists")
	}
	c := slim(portService("c", http, core.ServicePort{Name: "dns", Protocol: core.ProtocolUDP, Port: 5353}))
	if &c.Ports[0] == &a.Ports[0] || c.Ports[1].Port != 5353 {
		t.Errorf("other ports: %v shares %v's list", c.Ports, a.Ports)
	}
	if d := slim(portService("d")); d.Ports != nil {
		t.Errorf("no ports: %v", d.Ports)
	}

	// Once full, a table still answers, without keeping what it did not hold.
	full := portLists{lists: map[string][]Port{}}
	for i := range maxPortLists {
		full.lists[fmt.Sprint(i)] = nil
	}
	got := full.of([]core.ServicePort{http})
	if len(got) != 1 || got[0] != (Port{"http", "tcp", 80}) || len(full.lists) != maxPortLists {
		t.Errorf("full table: %v, %d lists", got, len(full.lists))
	}
}
