package federation

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"

	"github.com/coredns-fed/coredns-fed/internal/fixture"
)

func TestTransfer(t *testing.T) {
	cs := seed()
	cs[1].objs[1] = slice("mynamespace", "nginx", fixture.Unready)
	f, _ := newTestFederation(t, cs, func(f *Federation) {
		f.ns = []nameServer{{name: "ns1.example.com.", addrs: mustAddrs("192.0.2.53")}}
	})
	if _, err := f.Transfer("example.org.", 0); err == nil {
		t.Error("transfer of another zone: no error")
	}
	ch, err := f.Transfer("example.com.", 0)
	if err != nil {
		t.Fatal(err)
	}
	var rrs []dns.RR
	for part := range ch {
		rrs = append(rrs, part...)
	}
	var lines []string
	for _, rr := range rrs {
		lines = append(lines, rr.String())
	}
	text := strings.Join(lines, "\n")
	if rrs[0].Header().Rrtype != dns.TypeSOA || rrs[len(rrs)-1].Header().Rrtype != dns.TypeSOA {
		t.Errorf("transfer does not start and end with the SOA:\n%s", text)
	}
	for _, want := range []string{
		"example.com.\t30\tIN\tNS\tns1.example.com.",
		"ns1.example.com.\t30\tIN\tA\t192.0.2.53",
		nginx("") + "\t30\tIN\tA\t192.0.2.1",
		nginx("europe-west1.") + "\t30\tIN\tCNAME\t" + nginx(""),
		nginx("europe-west1-b.europe-west1.") + "\t30\tIN\tCNAME\t" + nginx("europe-west1."),
		nginx("us-east1-b.") + "\t30\tIN\tA\t192.0.2.3",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("transfer lacks %q:\n%s", want, text)
		}
	}
	// 1 SOA + NS + glue + global 3 A + 4 regions + 8 zone names + SOA.
	if len(rrs) != 1+1+1+3+4+8+1 {
		t.Errorf("transfer has %d records, want 19:\n%s", len(rrs), text)
	}
	// IXFR from the current serial: the SOA alone.
	serial := rrs[0].(*dns.SOA).Serial
	ch, _ = f.Transfer("example.com.", serial)
	n := 0
	for part := range ch {
		n += len(part)
	}
	if n != 1 {
		t.Errorf("IXFR at the current serial sent %d records, want the SOA only", n)
	}
}

// A transfer asked for while the members are still syncing waits for the first
// snapshot. It used to return ErrNotAuthoritative, which hands the AXFR to the
// next plugin: an AXFR right after a fresh start got SERVFAIL (dig: "Transfer
// failed"), and a secondary would have waited its retry interval.
func TestTransferBeforeFirstSnapshot(t *testing.T) {
	src := NewMemorySource()
	src.SetSynced(false)
	src.SetNode("a-node", Place{"r1", "z1"})
	src.SetService(ServiceState{Namespace: "mynamespace", Name: "nginx", LoadBalancer: true,
		Ingress: []netip.Addr{netip.MustParseAddr("192.0.2.1")}}, true)
	f := New()
	f.Zone, f.Fed = "example.com.", "myfederation"
	f.ns = []nameServer{{name: "ns1.example.com.", addrs: mustAddrs("192.0.2.53")}}
	f.soa = soaConfig{mname: "ns1.example.com.", rname: "hostmaster.example.com.", minttl: 30}
	f.Members = []*Member{{Name: "a", Source: src}}
	f.Start()
	t.Cleanup(f.Stop)
	if f.Ready() {
		t.Fatal("ready before its member synced")
	}
	go func() {
		time.Sleep(50 * time.Millisecond) // only orders the sync after the Transfer call below
		src.SetSynced(true)
	}()
	ch, err := f.Transfer("example.com.", 0)
	if err != nil {
		t.Fatalf("transfer before the first snapshot: %v", err)
	}
	var rrs []dns.RR
	for part := range ch {
		rrs = append(rrs, part...)
	}
	// SOA, NS, glue, global, region, two zone names, SOA.
	if len(rrs) != 8 || rrs[0].Header().Rrtype != dns.TypeSOA || rrs[len(rrs)-1].Header().Rrtype != dns.TypeSOA {
		t.Errorf("transfer after the first snapshot: %v", rrs)
	}
}

// TestTransferFamilyFallback: a level with addresses of one family is sent with
// them, not as a CNAME (a name cannot own both); the fallback of the other
// family is made at query time.
func TestTransferFamilyFallback(t *testing.T) {
	cs := seed()
	cs[1].objs[0] = fixture.Service("mynamespace", "nginx", "myfederation", "2001:db8::2") // europe: IPv6 only
	f, _ := newTestFederation(t, cs)
	ch, err := f.Transfer("example.com.", 0)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for part := range ch {
		for _, rr := range part {
			lines = append(lines, rr.String())
		}
	}
	text := strings.Join(lines, "\n")
	for _, want := range []string{
		nginx("europe-west1.") + "\t30\tIN\tAAAA\t2001:db8::2",
		nginx("europe-west1-b.") + "\t30\tIN\tAAAA\t2001:db8::2",
		nginx("") + "\t30\tIN\tAAAA\t2001:db8::2",
		nginx("asia-east1.") + "\t30\tIN\tA\t192.0.2.1",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("transfer lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "CNAME") {
		t.Errorf("transfer has a CNAME beside addresses:\n%s", text)
	}
}

// TestTransferHandedOn: with the transfer plugin in the block, which follows
// the federation in the chain, AXFR and IXFR of the apex go to it; a transfer
// of a name below the apex is REFUSED, and other queries never reach it.
func TestTransferHandedOn(t *testing.T) {
	next := &countingHandler{}
	f, _ := newTestFederation(t, seed(), func(f *Federation) { f.transfer, f.Next = true, next })
	for _, tc := range []struct {
		name   string
		qtype  uint16
		rcode  int
		handed bool
	}{
		{"example.com.", dns.TypeAXFR, dns.RcodeSuccess, true},
		{"example.com.", dns.TypeIXFR, dns.RcodeSuccess, true},
		{"svc.example.com.", dns.TypeAXFR, dns.RcodeRefused, false},
		{nginx(""), dns.TypeA, dns.RcodeSuccess, false},
		{"example.com.", dns.TypeSOA, dns.RcodeSuccess, false},
	} {
		next.n = 0
		r := new(dns.Msg)
		r.SetQuestion(tc.name, tc.qtype)
		rcode, _ := f.ServeDNS(context.Background(), dnstest.NewRecorder(&test.ResponseWriter{}), r)
		if rcode != tc.rcode || (next.n == 1) != tc.handed {
			t.Errorf("%s %s: rcode %s, handed on %d times; want %s, handed on: %v",
				tc.name, dns.TypeToString[tc.qtype], dns.RcodeToString[rcode], next.n, dns.RcodeToString[tc.rcode], tc.handed)
		}
	}
}

// countingHandler stands in for the transfer plugin: it counts the queries it
// gets and answers them NOERROR without writing.
type countingHandler struct{ n int }

func (h *countingHandler) Name() string { return "counting" }

func (h *countingHandler) ServeDNS(context.Context, dns.ResponseWriter, *dns.Msg) (int, error) {
	h.n++
	return dns.RcodeSuccess, nil
}
