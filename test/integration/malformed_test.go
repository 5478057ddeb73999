package integration

import (
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"
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

	// ANY is answered like A.
	r, err = exchange(globalName(), dns.TypeANY)
	if err != nil {
		t.Fatal(err)
	}
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 || r.Answer[0].Header().Rrtype != dns.TypeA {
		t.Errorf("ANY: %s", r)
	}

	// The server still answers normally.
	r = rawExchange(t, good)
	if r == nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 {
		t.Errorf("after the malformed queries: %v", r)
	}
}
