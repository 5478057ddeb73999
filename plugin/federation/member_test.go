package federation

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"
)

// memoryFederation starts a Federation whose members are MemorySources, one per
// name, each in region r-NAME with one healthy nginx shard at the given address.
func memoryFederation(t *testing.T, health HealthChecker, members map[string]string, opts ...func(*Federation)) (*Federation, map[string]*MemorySource) {
	t.Helper()
	f := New()
	f.Zone, f.Fed = "example.com.", "myfederation"
	f.ns = []nameServer{{name: "ns1.example.com."}}
	f.soa = soaConfig{mname: "ns1.example.com.", rname: "hostmaster.example.com.", minttl: 30}
	f.StaleAfter = 100 * time.Millisecond
	srcs := map[string]*MemorySource{}
	for name, addr := range members {
		src := NewMemorySource()
		src.SetNode(name+"-node", Place{"r-" + name, ""})
		src.SetService(ServiceState{Namespace: "mynamespace", Name: "nginx", LoadBalancer: true,
			Ingress: []netip.Addr{netip.MustParseAddr(addr)}}, true)
		srcs[name] = src
		f.Members = append(f.Members, &Member{Name: name, Source: src})
	}
	if health != nil {
		f.SetHealth(health)
	}
	for _, o := range opts {
		o(f)
	}
	f.Start()
	t.Cleanup(f.Stop)
	waitFor(t, "first snapshot", f.Ready)
	return f, srcs
}

// vouch is a HealthChecker that vouches for every shard when checked is set.
type vouch struct {
	checked bool
	started bool
	stopped bool
}

func (v *vouch) Usable(s *Shard) ([]netip.Addr, bool) { return s.Addrs, v.checked }
func (v *vouch) Start(HealthSink)                     { v.started = true }
func (v *vouch) Stop()                                { v.stopped = true }

// The federation owns member staleness: a member unreachable for stale_after
// is stale, and its shards leave the answers unless a health check vouches for
// them; they return when the member answers again.
func TestStalePolicy(t *testing.T) {
	global := "nginx.mynamespace.myfederation.svc.example.com."
	both := []test.Case{{Qname: global, Qtype: dns.TypeA, Answer: []dns.RR{
		test.A(global + " 30 IN A 192.0.2.1"), test.A(global + " 30 IN A 192.0.2.2"),
	}}}
	onlyA := []test.Case{{Qname: global, Qtype: dns.TypeA, Answer: []dns.RR{test.A(global + " 30 IN A 192.0.2.1")}}}

	for _, tc := range []struct {
		name   string
		health HealthChecker
		stale  []test.Case
	}{
		{"no health checker: dropped", nil, onlyA},
		{"unchecked: dropped", &vouch{}, onlyA},
		{"checked: kept", &vouch{checked: true}, both},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, srcs := memoryFederation(t, tc.health, map[string]string{"a": "192.0.2.1", "b": "192.0.2.2"})
			eventually(t, f, both)

			srcs["b"].Contact(errors.New("connection refused"))
			waitFor(t, "b stale", func() bool { return statusOf(f, "b").Stale })
			eventually(t, f, tc.stale)

			srcs["b"].Contact(nil)
			if statusOf(f, "b").Stale {
				t.Error("b still stale after a successful request")
			}
			eventually(t, f, both)
		})
	}
}

func statusOf(f *Federation, name string) MemberStatus {
	for _, s := range f.MemberStatuses() {
		if s.Name == name {
			return s
		}
	}
	return MemberStatus{}
}

func TestHealthCheckerLifecycle(t *testing.T) {
	v := &vouch{}
	f, _ := memoryFederation(t, v, map[string]string{"a": "192.0.2.1"})
	if !v.started {
		t.Error("health checker not started before the first snapshot")
	}
	f.Stop()
	if !v.stopped {
		t.Error("health checker not stopped with the federation")
	}
}

// Node labels are lower-cased; values that are not DNS labels are skipped; a
// zone named like a region keeps only its ZONE.REGION form.
func TestTopologyLabels(t *testing.T) {
	f, srcs := memoryFederation(t, nil, map[string]string{"a": "192.0.2.1", "b": "192.0.2.2"})
	srcs["a"].SetNode("a-node", Place{"US-East1", "bad_zone!"})
	srcs["b"].SetNode("b-node", Place{"r-b", "us-east1"}) // b's zone has a's region's name
	name := func(level string) string { return "nginx.mynamespace.myfederation.svc." + level + "example.com." }
	eventually(t, f, []test.Case{
		{Qname: name("us-east1."), Qtype: dns.TypeA, Answer: []dns.RR{test.A(name("us-east1.") + " 30 IN A 192.0.2.1")}},
		{Qname: name("us-east1.r-b."), Qtype: dns.TypeA, Answer: []dns.RR{test.A(name("us-east1.r-b.") + " 30 IN A 192.0.2.2")}},
		{Qname: name("bad_zone!."), Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{test.SOA("example.com. 30 IN SOA ns1.example.com. hostmaster.example.com. 1 0 0 0 30")}},
	})
}

// Idle holds once every change a source reported is in the snapshot: a change
// is answered as soon as the federation is idle again, without waiting more.
func TestIdle(t *testing.T) {
	f, srcs := memoryFederation(t, nil, map[string]string{"a": "192.0.2.1"})
	waitFor(t, "idle after the first snapshot", f.Idle)
	for i := range 20 {
		name := fmt.Sprintf("web%d", i)
		srcs["a"].SetService(ServiceState{Namespace: "mynamespace", Name: name, LoadBalancer: true,
			Ingress: []netip.Addr{netip.AddrFrom4([4]byte{192, 0, 2, byte(10 + i)})}}, true)
		waitFor(t, "idle after "+name, f.Idle)
		owner := name + ".mynamespace.myfederation.svc.example.com."
		check(t, f, []test.Case{{Qname: owner, Qtype: dns.TypeA, Answer: []dns.RR{
			test.A(fmt.Sprintf("%s 30 IN A 192.0.2.%d", owner, 10+i)),
		}}})
	}
}
