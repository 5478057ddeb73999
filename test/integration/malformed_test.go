package integration

import (
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/coredns-fed/coredns-fed/internal/lab"
)

// rawExchange sends b over UDP to coredns-fed and returns the reply, or nil when
// none came within a second.
func rawExchange(t *testing.T, b []byte) *dns.Msg {
	t.Helper()
	c, err := net.Dial("udp", dnsAddr)
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

// TestMalformedQueries sends broken and odd queries to the real server: each
// gets a correct rcode, and the server keeps answering afterwards.
func TestMalformedQueries(t *testing.T) {
	query := func(name string) []byte {
		m := new(dns.Msg)
		m.SetQuestion(name, dns.TypeA)
		m.Id = 4242
		b, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	good := query(globalName())

	// A label whose length byte says 64 (0x40: the reserved extended label type).
	overflow := append([]byte(nil), good[:12]...)
	overflow = append(overflow, 0x40)
	overflow = append(overflow, make([]byte, 64)...)
	overflow = append(overflow, 0, 0, 1, 0, 1)

	// A question cut off in the middle of its name.
	truncated := good[:20]

	// Two questions (QDCOUNT 2), which no server answers.
	two := append([]byte(nil), good...)
	two[5] = 2
	two = append(two, good[12:]...)

	for _, tc := range []struct {
		name  string
		query []byte
	}{
		{"label overflow", overflow},
		{"truncated question", truncated},
		{"two questions", two},
	} {
		r := rawExchange(t, tc.query)
		if r == nil {
			t.Errorf("%s: no reply, want FORMERR", tc.name)
			continue
		}
		if r.Rcode != dns.RcodeFormatError || r.Id != 4242 {
			t.Errorf("%s: rcode %s id %d, want FORMERR for id 4242", tc.name, dns.RcodeToString[r.Rcode], r.Id)
		}
	}

	// Class CH on a federation name: refused, not answered from IN data.
	m := new(dns.Msg)
	m.SetQuestion(globalName(), dns.TypeA)
	m.Question[0].Qclass = dns.ClassCHAOS
	r, err := dns.Exchange(m, dnsAddr)
	if err != nil {
		t.Fatal(err)
	}
	if r.Rcode != dns.RcodeRefused || len(r.Answer) != 0 {
		t.Errorf("class CH: rcode %s with %d answers, want REFUSED and none", dns.RcodeToString[r.Rcode], len(r.Answer))
	}

	// ANY gets one RRset (RFC 8482): the A records of a level, the SOA at the apex.
	r, err = exchange(globalName(), dns.TypeANY)
	if err != nil {
		t.Fatal(err)
	}
	if err := match(r, positive(as(globalName(), fed.Clusters()...)...)); err != nil {
		t.Errorf("ANY: %v\n%s", err, r)
	}
	r, err = exchange(lab.SeedDomain+".", dns.TypeANY)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Answer) != 1 || r.Answer[0].Header().Rrtype != dns.TypeSOA {
		t.Errorf("ANY at the apex: want the SOA alone\n%s", r)
	}

	testOddQueries(t)

	// The server still answers normally.
	r = rawExchange(t, good)
	if r == nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 {
		t.Errorf("after the malformed queries: %v", r)
	}
}

// testOddQueries sends well-formed queries that the zone does not answer with
// data, over UDP (and TCP for transfers): each gets the rcode its RFC gives,
// never SERVFAIL.
func testOddQueries(t *testing.T) {
	apex := lab.SeedDomain + "."
	query := func(name string, qtype uint16, edit func(*dns.Msg)) *dns.Msg {
		m := new(dns.Msg)
		m.SetQuestion(name, qtype)
		if edit != nil {
			edit(m)
		}
		return m
	}
	class := func(c uint16) func(*dns.Msg) { return func(m *dns.Msg) { m.Question[0].Qclass = c } }
	opcode := func(op int) func(*dns.Msg) { return func(m *dns.Msg) { m.Opcode = op } }
	edns := func(version uint8, opts ...dns.EDNS0) func(*dns.Msg) {
		return func(m *dns.Msg) {
			m.SetEdns0(1232, false)
			o := m.IsEdns0()
			o.SetVersion(version)
			o.Option = opts
		}
	}
	for _, tc := range []struct {
		name  string
		net   string
		query *dns.Msg
		rcode int
	}{
		// A NOTIFY reaches the plugins (CoreDNS accepts it for secondaries): this
		// zone has no primary to hear from.
		{"NOTIFY", "udp", query(apex, dns.TypeSOA, opcode(dns.OpcodeNotify)), dns.RcodeNotImplemented},
		{"UPDATE", "udp", query(apex, dns.TypeSOA, opcode(dns.OpcodeUpdate)), dns.RcodeNotImplemented},
		{"class ANY", "udp", query(globalName(), dns.TypeA, class(dns.ClassANY)), dns.RcodeRefused},
		{"class NONE", "udp", query(globalName(), dns.TypeA, class(dns.ClassNONE)), dns.RcodeRefused},
		// Without the transfer plugin: a secondary is told it may not transfer.
		{"AXFR over TCP", "tcp", query(apex, dns.TypeAXFR, nil), dns.RcodeRefused},
		{"AXFR over UDP", "udp", query(apex, dns.TypeAXFR, nil), dns.RcodeRefused},
		{"IXFR", "tcp", query(apex, dns.TypeIXFR, nil), dns.RcodeRefused},
		{"EDNS version 1", "udp", query(globalName(), dns.TypeA, edns(1)), dns.RcodeBadVers},
		{"unknown EDNS option", "udp", query(globalName(), dns.TypeA, edns(0, &dns.EDNS0_LOCAL{Code: 65001, Data: []byte{1, 2, 3}})), dns.RcodeSuccess},
	} {
		c := &dns.Client{Net: tc.net, Timeout: 2 * time.Second}
		r, _, err := c.Exchange(tc.query, dnsAddr)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if r.Rcode != tc.rcode || (tc.rcode != dns.RcodeSuccess && len(r.Answer) > 0) {
			t.Errorf("%s: rcode %s with %d answers, want %s\n%s", tc.name, dns.RcodeToString[r.Rcode], len(r.Answer), dns.RcodeToString[tc.rcode], r)
		}
	}

	// A message with the QR bit set is a response: no reply at all.
	m := query(globalName(), dns.TypeA, func(m *dns.Msg) { m.Response = true })
	m.Id = 4243
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	if r := rawExchange(t, b); r != nil {
		t.Errorf("QR set: got a reply, want none\n%s", r)
	}
}
