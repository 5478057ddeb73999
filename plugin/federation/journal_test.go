package federation

import (
	"net/netip"
	"testing"

	"github.com/miekg/dns"
)

// transferOf collects what Transfer sends for an IXFR from serial (0: AXFR).
func transferOf(t *testing.T, f *Federation, serial uint32) []dns.RR {
	t.Helper()
	ch, err := f.Transfer(f.Zone, serial)
	if err != nil {
		t.Fatal(err)
	}
	var out []dns.RR
	for rrs := range ch {
		out = append(out, rrs...)
	}
	return out
}

type notifyCount struct{ n chan string }

func (c *notifyCount) Notify(zone string) error { c.n <- zone; return nil }

// An IXFR from a serial the journal holds gets the differences (RFC 1995), one
// from a serial it does not gets the whole zone, and every new serial is
// notified.
func TestIXFRFromJournal(t *testing.T) {
	notes := &notifyCount{n: make(chan string, 16)}
	f, srcs := memoryFederation(t, nil, map[string]string{"a": "192.0.2.1"}, func(f *Federation) { f.notifier = notes })
	first := f.journal.current().Serial

	srcs["a"].SetService(ServiceState{Namespace: "mynamespace", Name: "nginx", LoadBalancer: true,
		Ingress: []netip.Addr{netip.MustParseAddr("192.0.2.8")}}, true)
	waitFor(t, "a new published serial", func() bool { return serialNewer(f.journal.current().Serial, first) })
	second := f.journal.current().Serial
	if z := <-notes.n; z != f.Zone {
		t.Errorf("notified %q, want %q", z, f.Zone)
	}

	ixfr := transferOf(t, f, first)
	// SOA(new) SOA(first) -A(.1)... SOA(new) +A(.8)... SOA(new)
	var soas []uint32
	var del, add []string
	inAdd := false
	for i, rr := range ixfr {
		if soa, ok := rr.(*dns.SOA); ok {
			soas = append(soas, soa.Serial)
			inAdd = len(soas) == 3
			continue
		}
		if i == 0 {
			t.Fatal("IXFR does not start with the SOA")
		}
		if inAdd {
			add = append(add, rr.String())
		} else {
			del = append(del, rr.String())
		}
	}
	if len(soas) != 4 || soas[0] != second || soas[1] != first || soas[2] != second || soas[3] != second {
		t.Fatalf("IXFR SOA serials %v, want [%d %d %d %d]:\n%v", soas, second, first, second, second, ixfr)
	}
	global := "nginx.mynamespace.myfederation.svc.example.com.\t30\tIN\tA\t"
	if !contains(del, global+"192.0.2.1") || !contains(add, global+"192.0.2.8") || len(del) != len(add) {
		t.Errorf("IXFR deletes %v and adds %v", del, add)
	}

	// A serial the journal never held: the whole zone.
	axfr := transferOf(t, f, first-100)
	soaCount := 0
	for _, rr := range axfr {
		if _, ok := rr.(*dns.SOA); ok {
			soaCount++
		}
	}
	if soaCount != 2 || !contains(rrStrings(axfr), global+"192.0.2.8") || !contains(rrStrings(axfr), "example.com.\t30\tIN\tNS\tns1.example.com.") {
		t.Errorf("IXFR from an unknown serial is not the whole zone: %v", axfr)
	}
	// The current serial: the SOA alone.
	if up := transferOf(t, f, second); len(up) != 1 {
		t.Errorf("IXFR from the current serial sent %d records, want the SOA alone", len(up))
	}
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

func rrStrings(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		out = append(out, rr.String())
	}
	return out
}

// Two changes within one second: the second is published, with a newer
// serial, at the start of the next second.
func TestPublishAfterPendingBump(t *testing.T) {
	f, srcs := memoryFederation(t, nil, map[string]string{"a": "192.0.2.1"})
	set := func(addr string) {
		srcs["a"].SetService(ServiceState{Namespace: "mynamespace", Name: "nginx", LoadBalancer: true,
			Ingress: []netip.Addr{netip.MustParseAddr(addr)}}, true)
	}
	global := "nginx.mynamespace.myfederation.svc.example.com.\t30\tIN\tA\t"
	for _, addr := range []string{"192.0.2.2", "192.0.2.3", "192.0.2.4"} {
		set(addr)
		// A rebuild that changes nothing more, as a health check's notice
		// causes, must not lose the change still waiting for its serial.
		f.changed("mynamespace/nginx")
		f.changed("")
		waitFor(t, "change "+addr+" published", func() bool {
			return contains(rrStrings(transferOf(t, f, 0)), global+addr)
		})
	}
}

// TestMinusCopies: the journal's differences are copies of the snapshot's
// records, so that a delta never keeps a snapshot's record arrays alive, and
// records equal but for TTL or the owner's case count as the same.
func TestMinusCopies(t *testing.T) {
	rr := func(s string) dns.RR {
		r, err := dns.NewRR(s)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	x := []dns.RR{
		rr("a.example.com. 30 IN A 192.0.2.1"),
		rr("a.example.com. 30 IN A 192.0.2.2"),
		rr("a.example.com. 30 IN AAAA 2001:db8::1"),
		rr("b.example.com. 30 IN CNAME a.example.com."),
		rr("c.example.com. 30 IN SRV 0 100 80 a.example.com."),
	}
	y := []dns.RR{
		rr("A.example.com. 60 IN A 192.0.2.1"),
		rr("a.example.com. 30 IN AAAA 2001:db8::2"),
		rr("b.example.com. 5 IN CNAME a.example.com."),
		rr("c.example.com. 30 IN SRV 0 100 81 a.example.com."),
	}
	got := minus(x, y)
	want := []dns.RR{x[1], x[2], x[4]}
	if len(got) != len(want) {
		t.Fatalf("minus = %v, want %v", got, want)
	}
	for i := range want {
		if got[i].String() != want[i].String() {
			t.Errorf("minus[%d] = %v, want %v", i, got[i], want[i])
		}
		if got[i] == want[i] {
			t.Errorf("minus[%d] is the snapshot's record itself, not a copy", i)
		}
	}
	if got := minus(nil, y); got != nil {
		t.Errorf("minus(nil, y) = %v", got)
	}
}
