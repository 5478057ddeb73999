package federation

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"
	"github.com/coredns/coredns/request"

	"github.com/coredns-fed/coredns-fed/internal/fixture"

	"github.com/miekg/dns"
)

// fuzzFederation is a federation with every kind of name: healthy levels, a
// region and zone that fall back for every type (europe, unready), a member
// with IPv6 ingress only (us-east1: per-family fallback), name servers inside
// the zone with glue, one of them named like the apex.
func fuzzFederation(t testing.TB) *Federation {
	cs := seed()
	cs[1].objs[1] = slice("mynamespace", "nginx", fixture.Unready)
	cs[2].objs[0] = fixture.Service("mynamespace", "nginx", "myfederation", "2001:db8::3")
	f, _ := newTestFederation(t, cs, func(f *Federation) {
		f.ns = []nameServer{
			{name: "ns.dns.example.com.", addrs: mustAddrs("192.0.2.53", "2001:db8::53")},
			{name: "example.com.", addrs: mustAddrs("192.0.2.54")},
			{name: "ns.other.net."},
		}
	})
	// What CoreDNS's server does with a name in no zone it serves.
	f.Next = test.NextHandler(dns.RcodeRefused, nil)
	return f
}

// fuzzNames are question names that reach every kind of node.
var fuzzNames = []string{
	"example.com.", "ns.dns.example.com.", "dns.example.com.", "svc.example.com.", "www.example.com.",
	nginx(""), nginx("europe-west1."), nginx("europe-west1-b.europe-west1."), nginx("us-east1."),
	nginx("us-east1-b."), nginx("asia-east1."), nginx("mars-north1."), "mynamespace.myfederation.svc.example.com.",
	"x.nginx.mynamespace.myfederation.svc.example.com.", "NGINX.MyNamespace.MyFederation.SVC.Example.COM.",
	`a\.b.example.com.`, `\000.example.com.`, "svc.svc.svc.svc.example.com.", "example.org.", ".",
}

var fuzzTypes = []uint16{
	dns.TypeA, dns.TypeAAAA, dns.TypeANY, dns.TypeCNAME, dns.TypeSOA, dns.TypeNS, dns.TypeMX, dns.TypeTXT,
	dns.TypeAXFR, dns.TypeIXFR, dns.TypeDS, dns.TypeRRSIG, dns.TypeOPT, dns.TypeTSIG, dns.TypeTKEY,
	dns.TypeMAILA, dns.TypeMAILB, dns.TypeNone, 65535, dns.TypeHTTPS,
}

var fuzzClasses = []uint16{dns.ClassINET, dns.ClassINET, dns.ClassINET, dns.ClassCHAOS, dns.ClassHESIOD, dns.ClassNONE, dns.ClassANY, 0, 65535}

// randomQuery returns a query with random opcode, flags, class, type and EDNS
// options, packed; most are well formed, so that they reach the plugin.
func randomQuery(rng *rand.Rand) []byte {
	m := new(dns.Msg)
	m.SetQuestion(fuzzNames[rng.IntN(len(fuzzNames))], fuzzTypes[rng.IntN(len(fuzzTypes))])
	m.Question[0].Qclass = fuzzClasses[rng.IntN(len(fuzzClasses))]
	m.Id = uint16(rng.Uint32())
	if rng.IntN(3) == 0 {
		m.Opcode = rng.IntN(16)
	}
	if rng.IntN(3) == 0 {
		m.Response, m.Authoritative, m.Truncated = rng.IntN(4) == 0, rng.IntN(2) == 0, rng.IntN(2) == 0
		m.RecursionDesired, m.RecursionAvailable, m.Zero = rng.IntN(2) == 0, rng.IntN(2) == 0, rng.IntN(2) == 0
		m.AuthenticatedData, m.CheckingDisabled = rng.IntN(2) == 0, rng.IntN(2) == 0
		m.Rcode = rng.IntN(16)
	}
	if rng.IntN(2) == 0 {
		o := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
		o.SetUDPSize([]uint16{0, 1, 512, 1232, 4096, 65535}[rng.IntN(6)])
		if rng.IntN(4) == 0 {
			o.SetVersion(uint8(rng.IntN(256)))
		}
		o.SetDo(rng.IntN(2) == 0)
		for range rng.IntN(4) {
			o.Option = append(o.Option, randomOption(rng))
		}
		m.Extra = append(m.Extra, o)
		if rng.IntN(10) == 0 {
			m.Extra = append(m.Extra, dns.Copy(o)) // two OPT records
		}
	}
	switch rng.IntN(10) {
	case 0: // IXFR's SOA in the authority section
		m.Ns = append(m.Ns, test.SOA("example.com. 30 IN SOA ns.dns.example.com. hostmaster.example.com. 1 2 3 4 5"))
	case 1:
		m.Answer = append(m.Answer, test.SOA("example.com. 30 IN SOA ns.dns.example.com. hostmaster.example.com. 1 2 3 4 5"))
	case 2: // a TSIG for a key the server does not have
		m.SetTsig("key.example.com.", dns.HmacSHA256, 300, time.Now().Unix())
	}
	b, err := m.Pack()
	if err != nil {
		// Some combinations do not pack (a TSIG without its key): send the bare question.
		m.Extra, m.Ns, m.Answer = nil, nil, nil
		b, _ = m.Pack()
	}
	return b
}

func randomOption(rng *rand.Rand) dns.EDNS0 {
	data := make([]byte, rng.IntN(12))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	switch rng.IntN(6) {
	case 0:
		return &dns.EDNS0_NSID{Code: dns.EDNS0NSID}
	case 1:
		return &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0123456789abcdef"}
	case 2:
		return &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: 24, Address: net.IPv4(192, 0, 2, 0)}
	case 3:
		return &dns.EDNS0_PADDING{Padding: data}
	default: // unknown and known codes with arbitrary data
		return &dns.EDNS0_LOCAL{Code: uint16(rng.IntN(65536)), Data: data}
	}
}

// mutate returns a copy of b with random damage: bit flips, overwritten or
// inserted bytes, a truncation, or forged section counts (QDCOUNT 0 or 2).
func mutate(rng *rand.Rand, b []byte) []byte {
	b = append([]byte(nil), b...)
	for range 1 + rng.IntN(3) {
		switch rng.IntN(6) {
		case 0:
			if len(b) > 0 {
				i := rng.IntN(len(b))
				b[i] ^= 1 << rng.IntN(8)
			}
		case 1:
			if len(b) > 0 {
				b[rng.IntN(len(b))] = byte(rng.Uint32())
			}
		case 2:
			b = b[:rng.IntN(len(b)+1)]
		case 3:
			if len(b) >= 12 {
				binary.BigEndian.PutUint16(b[4+2*rng.IntN(4):], uint16(rng.IntN(3)))
			}
		case 4:
			i := rng.IntN(len(b) + 1)
			b = append(b[:i], append([]byte{byte(rng.Uint32())}, b[i:]...)...)
		case 5:
			if len(b) >= 4 { // opcode and flags
				b[2], b[3] = byte(rng.Uint32()), byte(rng.Uint32())
			}
		}
	}
	return b
}

// packets returns n deterministic queries, random and mutated.
func packets(n int) [][]byte {
	rng := rand.New(rand.NewPCG(8482, 2308))
	out := make([][]byte, 0, n)
	for len(out) < n {
		b := randomQuery(rng)
		if rng.IntN(2) == 0 {
			b = mutate(rng, b)
		}
		out = append(out, b)
	}
	return out
}

// serveWire hands the packet to f as CoreDNS's server would after unpacking
// it, and returns an error for a SERVFAIL, a panic, or a malformed reply.
// Packets that do not unpack never reach a plugin.
func serveWire(f *Federation, b []byte) (err error) {
	r := new(dns.Msg)
	if r.Unpack(b) != nil {
		return nil
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	rec := dnstest.NewRecorder(&test.ResponseWriter{})
	rcode, _ := f.ServeDNS(context.Background(), rec, r)
	if rec.Msg == nil {
		if plugin.ClientWrite(rcode) {
			return fmt.Errorf("rcode %s returned as written, but nothing was written", dns.RcodeToString[rcode])
		}
		if rcode == dns.RcodeServerFailure {
			return fmt.Errorf("SERVFAIL for\n%s", r)
		}
		return wantRcode(f, r, rcode)
	}
	m := rec.Msg
	switch {
	case m.Rcode == dns.RcodeServerFailure:
		return fmt.Errorf("SERVFAIL written for\n%s", r)
	case m.Id != r.Id || !m.Response || !m.Authoritative || len(m.Question) != 1 || m.Question[0] != r.Question[0]:
		return fmt.Errorf("reply does not match the query\n%s\nreply:\n%s", r, m)
	case m.Rcode != dns.RcodeSuccess && m.Rcode != dns.RcodeNameError:
		return fmt.Errorf("rcode %s written for\n%s", dns.RcodeToString[m.Rcode], r)
	}
	if _, err := m.Pack(); err != nil {
		return fmt.Errorf("reply does not pack: %v\n%s", err, m)
	}
	// The same query through the server's ScrubWriter: what is written (packed
	// compressed by the plugin, wire.go, or truncated by the ScrubWriter)
	// unpacks, with the same rcode.
	conn := &wireConn{}
	f.ServeDNS(context.Background(), request.NewScrubWriter(r, conn), r)
	got := new(dns.Msg)
	if err := got.Unpack(conn.wrote); err != nil {
		return fmt.Errorf("the reply written to the connection does not unpack: %v\n%s", err, r)
	}
	if got.Id != r.Id || got.Rcode != m.Rcode {
		return fmt.Errorf("the reply written to the connection differs: %s\nagainst\n%s", got, m)
	}
	return wantRcode(f, r, dns.RcodeSuccess)
}

// wantRcode checks the rcode that r gets, as RFC 1035, RFC 5936, RFC 6891 and RFC 9619
// give it, against rcode, the one it got (the question of a written reply
// counts as success).
func wantRcode(f *Federation, r *dns.Msg, rcode int) error {
	want := -1 // any
	switch q := r.Question; {
	case len(q) != 1 || multipleOPT(r):
		want = dns.RcodeFormatError
	case !inZone(strings.ToLower(q[0].Name), f.Zone):
		return nil
	case r.Opcode != dns.OpcodeQuery:
		want = dns.RcodeNotImplemented
	case q[0].Qclass != dns.ClassINET, q[0].Qtype == dns.TypeAXFR, q[0].Qtype == dns.TypeIXFR:
		want = dns.RcodeRefused
	}
	if want >= 0 && rcode != want {
		return fmt.Errorf("rcode %s, want %s, for\n%s", dns.RcodeToString[rcode], dns.RcodeToString[want], r)
	}
	return nil
}

// FuzzServeDNS feeds raw packets to ServeDNS on a populated snapshot: no
// packet may get SERVFAIL, panic, or a reply that does not pack. Its seed
// corpus (testdata/fuzz/FuzzServeDNS and the packets below) runs in go test;
// go test -fuzz FuzzServeDNS explores further.
func FuzzServeDNS(f *testing.F) {
	for _, b := range packets(64) {
		f.Add(b)
	}
	fed := fuzzFederation(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := serveWire(fed, b); err != nil {
			t.Error(err)
		}
	})
}

// TestRandomQueries sends 20,000 random and mutated queries to ServeDNS: none
// gets SERVFAIL.
func TestRandomQueries(t *testing.T) {
	f := fuzzFederation(t)
	fails := 0
	for i, b := range packets(20000) {
		if err := serveWire(f, b); err != nil {
			t.Errorf("packet %d %x: %v", i, b, err)
			if fails++; fails > 10 {
				t.Fatal("too many failures")
			}
		}
	}
}

// startServer serves f's zone on a CoreDNS server listening on a loopback UDP
// port, with f alone in the block, and returns its address.
func startServer(t *testing.T, f *Federation) net.Addr {
	t.Helper()
	cfg := &dnsserver.Config{Zone: f.Zone, ListenHosts: []string{"127.0.0.1"}, Port: "0", Transport: "dns"}
	cfg.AddPlugin(func(next plugin.Handler) plugin.Handler { f.Next = next; return f })
	s, err := dnsserver.NewServer("dns://127.0.0.1:0", []*dnsserver.Config{cfg})
	if err != nil {
		t.Fatal(err)
	}
	pc, err := s.ListenPacket()
	if err != nil {
		t.Fatal(err)
	}
	go s.ServePacket(pc)
	t.Cleanup(func() { s.Stop() })
	return pc.LocalAddr()
}

// serverReplies sends the packets to addr, each under its index as message ID,
// and returns the rcode of every reply by ID. Packets go in batches, each
// followed by a short wait, so that the socket buffers do not overflow.
func serverReplies(t *testing.T, addr net.Addr, pkts [][]byte) map[uint16]*dns.Msg {
	t.Helper()
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var (
		mu      sync.Mutex
		replies = map[uint16]*dns.Msg{}
		last    = time.Now()
		done    = make(chan struct{})
	)
	go func() {
		defer close(done)
		buf := make([]byte, 65535)
		for {
			n, _, err := conn.ReadFrom(buf)
			if err != nil {
				return
			}
			m := new(dns.Msg)
			if err := m.Unpack(buf[:n]); err != nil {
				// A header alone (FORMERR for a question that did not parse) is fine.
				if n < 12 {
					t.Errorf("reply of %d bytes: %x", n, buf[:n])
					continue
				}
				m = new(dns.Msg)
				m.Id = binary.BigEndian.Uint16(buf)
				m.Rcode = int(buf[3] & 0xf)
			}
			mu.Lock()
			replies[m.Id] = m
			last = time.Now()
			mu.Unlock()
		}
	}()
	const batch = 100
	for i, b := range pkts {
		if len(b) >= 2 {
			binary.BigEndian.PutUint16(b, uint16(i))
		}
		if _, err := conn.WriteTo(b, addr); err != nil {
			t.Fatal(err)
		}
		if i%batch == batch-1 || i == len(pkts)-1 {
			// Wait until replies stop coming for a moment.
			for {
				time.Sleep(20 * time.Millisecond)
				mu.Lock()
				idle := time.Since(last) >= 20*time.Millisecond
				mu.Unlock()
				if idle {
					break
				}
			}
		}
	}
	conn.Close()
	<-done
	mu.Lock()
	defer mu.Unlock()
	return replies
}

// TestRandomQueriesServer sends the random and mutated queries over UDP to a
// real CoreDNS server with the federation in its block: no reply is SERVFAIL,
// except where CoreDNS's server answers before any plugin runs.
func TestRandomQueriesServer(t *testing.T) {
	f := fuzzFederation(t)
	addr := startServer(t, f)
	pkts := packets(20000)
	replies := serverReplies(t, addr, pkts)
	if len(replies) < len(pkts)/4 {
		t.Fatalf("only %d replies to %d packets", len(replies), len(pkts))
	}
	fails, headerOnly := 0, 0
	for id, m := range replies {
		if m.Rcode != dns.RcodeServerFailure {
			continue
		}
		if len(pkts[id]) == 12 {
			// A header that announces one question and ends: miekg/dns unpacks it
			// as a query without one, which CoreDNS's server answers SERVFAIL
			// itself (core/dnsserver: "len(r.Question) == 0").
			headerOnly++
			continue
		}
		t.Errorf("packet %d %x: SERVFAIL", id, pkts[id])
		if fails++; fails > 10 {
			t.Fatal("too many failures")
		}
	}
	t.Logf("%d packets, %d replies, %d SERVFAIL from CoreDNS's server for a bare header", len(pkts), len(replies), headerOnly)
}
