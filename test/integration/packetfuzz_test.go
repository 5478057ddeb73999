package integration

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/miekg/dns"

	"github.com/coredns-fed/coredns-fed/internal/lab"
)

// packetFuzzSeed seeds TestPacketFuzzLab; FEDLAB_FUZZ_SEED runs it with
// another seed (the seed is logged, so a failure can be replayed).
const (
	packetFuzzSeed    = 20261205
	packetFuzzSeedEnv = "FEDLAB_FUZZ_SEED"
)

// The waits for a reply: long for a packet the server answers, short for one
// it drops (a response, a packet shorter than a header), where a reply would
// be the failure.
const (
	fuzzReplyWait   = 3 * time.Second
	fuzzNoReplyWait = 300 * time.Millisecond
	fuzzWorkers     = 8
)

// fuzzPacket is one packet of the fuzz and what the server must do with it.
type fuzzPacket struct {
	kind string // the generator that made it, for the table
	wire []byte
	tcp  bool
	// tcpShort, over TCP, announces that many more bytes in the length prefix
	// than are sent before the client closes its side; -1 sends only the
	// first byte of the prefix.
	tcpShort int
	want     fuzzExpectation

	reply []byte // the reply read, nil when none came
	err   error  // a failure to send
}

// fuzzExpectation is what the server does with a packet, derived from the
// packet's bytes alone as CoreDNS's server (miekg/dns) and the federation
// plugin document it (plugin/federation/README.md).
type fuzzExpectation struct {
	// answer: a reply must come (the message parses, or its header alone
	// decides the reply); drop: no reply may come. Neither: a packet that does
	// not parse as DNS, which the server may answer (with rcodes) or drop.
	answer, drop bool
	rcodes       []int    // the rcodes a reply may have
	query        *dns.Msg // the parsed query, nil when it does not parse
	why          string
}

// fuzzZone holds the names the fuzz asks, with what the all-healthy lab
// answers for them: RcodeSuccess (the name exists), RcodeNameError, or -1
// when either may be right.
type fuzzZone struct {
	names []string
	rcode map[string]int
}

func newFuzzZone() *fuzzZone {
	z := &fuzzZone{rcode: map[string]int{}}
	add := func(rcode int, names ...string) {
		for _, n := range names {
			z.names = append(z.names, n)
			z.rcode[strings.ToLower(n)] = rcode
		}
	}
	apex := lab.SeedDomain + "."
	fedSuffix := fmt.Sprintf("%s.svc.%s.", lab.SeedFederation, lab.SeedDomain)
	add(dns.RcodeSuccess, apex, fed.NSName(), globalName(),
		"svc."+apex, fedSuffix, lab.SeedNamespace+"."+fedSuffix)
	levels := []string{globalName()}
	for _, c := range fed.Clusters() {
		add(dns.RcodeSuccess, regionName(c.Region))
		levels = append(levels, regionName(c.Region))
		for _, zn := range c.Zones {
			add(dns.RcodeSuccess, zoneName(zn), zoneRegionName(zn, c.Region))
			levels = append(levels, zoneName(zn), zoneRegionName(zn, c.Region))
		}
	}
	for _, l := range levels {
		add(dns.RcodeSuccess, "_http._tcp."+l) // the lab's Services name port 80 http
		add(dns.RcodeNameError, "_https._tcp."+l, "_http._udp."+l)
	}
	add(dns.RcodeNameError,
		"no-such-name."+apex,
		"other."+lab.SeedNamespace+"."+fedSuffix,
		lab.SeedService+".other."+fedSuffix,
		fmt.Sprintf("%s.%s.otherfed.svc.%s", lab.SeedService, lab.SeedNamespace, apex),
		fmt.Sprintf("%s.%s.%s.svc.nowhere1.%s", lab.SeedService, lab.SeedNamespace, lab.SeedFederation, apex))
	add(-1, "x."+globalName(), "_tcp."+globalName(), "*."+apex, "sub.ns1."+apex)
	// Out of the zone: REFUSED by CoreDNS's server, whatever the rest.
	add(-1, ".", "com.", "example.org.", "nginx.mynamespace.myfederation.svc.example.net.")
	return z
}

// fuzzGen makes the packets from one seed.
type fuzzGen struct {
	rng  *rand.Rand
	zone *fuzzZone
}

func (g *fuzzGen) pick(n int) int        { return g.rng.IntN(n) }
func (g *fuzzGen) chance(p float64) bool { return g.rng.Float64() < p }

func (g *fuzzGen) bytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(g.rng.UintN(256))
	}
	return b
}

var fuzzQtypes = []uint16{
	dns.TypeA, dns.TypeA, dns.TypeA, dns.TypeAAAA, dns.TypeAAAA, dns.TypeSRV, dns.TypeSOA,
	dns.TypeNS, dns.TypeANY, dns.TypeCNAME, dns.TypeTXT, dns.TypeMX, dns.TypePTR, dns.TypeDS,
	dns.TypeDNSKEY, dns.TypeHTTPS, dns.TypeSVCB, dns.TypeCAA, dns.TypeNSEC, dns.TypeRRSIG,
	dns.TypeAXFR, dns.TypeIXFR, dns.TypeOPT, dns.TypeTSIG, dns.TypeNone, dns.TypeMAILA,
	dns.TypeMAILB, dns.TypeReserved,
}

var fuzzQclasses = []uint16{dns.ClassCHAOS, dns.ClassHESIOD, dns.ClassNONE, dns.ClassANY, 0, 2}

// name returns a name of the zone (or, rarely, outside it), in random case
// half of the time (as resolvers using 0x20 send it).
func (g *fuzzGen) name() string {
	n := g.zone.names[g.pick(len(g.zone.names))]
	if g.chance(0.1) { // a name below it, which may not exist
		n = strings.TrimSuffix(fmt.Sprintf("%x.%s", g.rng.Uint32(), n), "..") // under the root: one dot
		if !strings.HasSuffix(n, ".") {
			n += "."
		}
	}
	if g.chance(0.5) {
		b := []byte(n)
		for i, c := range b {
			if c >= 'a' && c <= 'z' && g.chance(0.5) {
				b[i] = c - 'a' + 'A'
			}
		}
		n = string(b)
	}
	return n
}

// query returns a random query: mostly well-formed QUERY of class IN, with
// random flags; odd opcodes, classes and the QR bit now and then.
func (g *fuzzGen) query(odd float64) *dns.Msg {
	m := new(dns.Msg)
	qtype := fuzzQtypes[g.pick(len(fuzzQtypes))]
	if g.chance(0.15) {
		qtype = uint16(g.rng.UintN(65536))
	}
	m.SetQuestion(g.name(), qtype)
	m.Id = uint16(g.rng.UintN(65536))
	m.RecursionDesired = g.chance(0.5)
	m.CheckingDisabled = g.chance(0.3)
	m.AuthenticatedData = g.chance(0.3)
	m.Authoritative = g.chance(0.05)
	m.Truncated = g.chance(0.05)
	m.Zero = g.chance(0.05)
	if g.chance(odd) {
		m.Question[0].Qclass = fuzzQclasses[g.pick(len(fuzzQclasses))]
	}
	if g.chance(odd) {
		m.Opcode = g.pick(16)
	}
	if g.chance(odd / 4) {
		m.Response = true
	}
	return m
}

// ecsOption returns the data of an ECS option: valid, or broken one of the
// ways RFC 7871 §6 and §7.1.1 name (family, prefix longer than the
// address, bits beyond the prefix, a scope in a query, cut short).
func (g *fuzzGen) ecsOption() []byte {
	valid := func(family uint16, bits int) []byte {
		n := 4
		if family == 2 {
			n = 16
		}
		addr := g.bytes(n)
		bits = min(bits, n*8)
		for i := range addr {
			switch {
			case (i+1)*8 <= bits:
			case i*8 >= bits:
				addr[i] = 0
			default:
				addr[i] &= byte(0xFF << (8 - bits%8))
			}
		}
		b := binary.BigEndian.AppendUint16(nil, family)
		b = append(b, byte(bits), 0)
		return append(b, addr[:(bits+7)/8]...)
	}
	switch g.pick(10) {
	case 0, 1:
		return valid(1, g.pick(33))
	case 2:
		return valid(2, g.pick(129))
	case 3: // unknown family, or family 0 with a prefix
		return []byte{0, byte(3 + g.pick(5)), 24, 0, 192, 0, 2}
	case 4:
		return []byte{0, 0, 8, 0, 10}
	case 5: // a prefix longer than the address
		if g.chance(0.5) {
			return append([]byte{0, 1, byte(33 + g.pick(223)), 0}, g.bytes(5)...)
		}
		return append([]byte{0, 2, byte(129 + g.pick(127)), 0}, g.bytes(17)...)
	case 6: // bits set beyond the prefix
		b := valid(1, 20)
		b[len(b)-1] |= 0x0F
		if g.chance(0.5) {
			b = append(b, 0xFF) // and an address byte the prefix does not need
		}
		return b
	case 7: // a scope in the query
		b := valid(1, 24)
		b[3] = byte(1 + g.pick(32))
		return b
	case 8: // cut short
		return valid(1, 24)[:g.pick(4)]
	default: // an address shorter than its prefix
		return []byte{0, 1, 24, 0, 192}
	}
}

// ednsOption returns one EDNS option: ECS, a cookie (well-formed or not),
// padding, keepalive or an option no server knows.
func (g *fuzzGen) ednsOption() dns.EDNS0 {
	switch g.pick(6) {
	case 0, 1:
		return &dns.EDNS0_LOCAL{Code: dns.EDNS0SUBNET, Data: g.ecsOption()}
	case 2:
		n := []int{8, 8, 16, 24, 40, 0, 5, 7, 41, 48}[g.pick(10)]
		return &dns.EDNS0_LOCAL{Code: dns.EDNS0COOKIE, Data: g.bytes(n)}
	case 3:
		return &dns.EDNS0_LOCAL{Code: dns.EDNS0PADDING, Data: make([]byte, g.pick(64))}
	case 4:
		return &dns.EDNS0_LOCAL{Code: dns.EDNS0TCPKEEPALIVE, Data: g.bytes([]int{0, 2, 1, 3}[g.pick(4)])}
	default:
		code := []uint16{0, 15, 20, 65001, 65535, uint16(g.rng.UintN(65536))}[g.pick(6)]
		return &dns.EDNS0_LOCAL{Code: code, Data: g.bytes(g.pick(40))}
	}
}

// opt returns an OPT record of random version, DO bit, UDP size and options.
func (g *fuzzGen) opt() *dns.OPT {
	o := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
	o.SetUDPSize([]uint16{0, 1, 512, 1232, 4096, 65535}[g.pick(6)])
	o.SetDo(g.chance(0.5))
	if g.chance(0.15) {
		o.SetVersion(uint8(1 + g.pick(255))) // BADVERS
	}
	for range g.pick(4) {
		o.Option = append(o.Option, g.ednsOption())
	}
	return o
}

func (g *fuzzGen) pack(m *dns.Msg) []byte {
	b, err := m.Pack()
	if err != nil {
		panic(fmt.Sprintf("packing %s: %v", m, err))
	}
	return b
}

// ednsQuery returns a packed query with one OPT record, or two.
func (g *fuzzGen) ednsQuery() []byte {
	m := g.query(0.05)
	m.Extra = append(m.Extra, g.opt())
	if g.chance(0.08) {
		m.Extra = append(m.Extra, g.opt()) // RFC 6891 §6.1.1: FORMERR
	}
	return g.pack(m)
}

// baseQuery is a packed query for the mutations: with EDNS half the time.
func (g *fuzzGen) baseQuery() []byte {
	if g.chance(0.5) {
		return g.ednsQuery()
	}
	return g.pack(g.query(0.05))
}

// header is a query header with a random ID and the given counts.
func (g *fuzzGen) header(qd, an, ns, ar uint16) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(g.rng.UintN(65536)))
	b = binary.BigEndian.AppendUint16(b, 0x0100) // RD
	for _, c := range []uint16{qd, an, ns, ar} {
		b = binary.BigEndian.AppendUint16(b, c)
	}
	return b
}

// wireName packs labels and the zone's name after them, without checks.
func wireName(labels ...[]byte) []byte {
	var b []byte
	for _, l := range labels {
		b = append(b, byte(len(l)))
		b = append(b, l...)
	}
	b = append(b, 7)
	b = append(b, "example"...)
	b = append(b, 3)
	b = append(b, "com"...)
	return append(b, 0)
}

func label(n int) []byte { return bytes.Repeat([]byte{'a'}, n) }

// craft returns hand-made packets for the question name: compression pointer
// loops, labels over 63 octets, names at and over 255 octets.
func (g *fuzzGen) craft() [][]byte {
	tc := []byte{0, 1, 0, 1} // A IN
	q := func(name []byte) []byte {
		return append(append(g.header(1, 0, 0, 0), name...), tc...)
	}
	long := func(n int) []byte { // a label of length byte n followed by n octets
		return append([]byte{byte(n)}, label(n)...)
	}
	return [][]byte{
		q([]byte{0xC0, 12}),                                     // a pointer to itself
		q([]byte{1, 'a', 0xC0, 12}),                             // a label, then back to it
		q([]byte{1, 'a', 0xC0, 14}),                             // a pointer to itself after a label
		q([]byte{0xC0, 14, 0xC0, 12}),                           // two pointers to each other
		q([]byte{0xC0, 0}),                                      // into the header
		q([]byte{0xC0, 2}),                                      // into the header
		q([]byte{0xC0, 0xFF}),                                   // past the end
		q([]byte{0xFF, 0xFF}),                                   // past the end
		q([]byte{0x80, 1, 'a', 0}),                              // reserved label type 10
		q(append(long(64), wireName()...)),                      // a label of 64 octets (0x40: extended type)
		q(append(long(0x7F), wireName()...)),                    // 127
		q(append(long(0xBF), wireName()...)),                    // 191 (0x80: reserved type)
		q(wireName(label(63), label(63), label(63), label(49))), // 255 octets: the longest name
		q(wireName(label(63), label(63), label(63), label(50))), // 256
		q(wireName(label(63), label(63), label(63), label(63), label(63))),
		q(wireName(slices.Repeat([][]byte{label(1)}, 121)...)), // 255 octets in 1-octet labels
		q(wireName(slices.Repeat([][]byte{label(1)}, 122)...)), // 257
		q(wireName([]byte{0}, []byte{'.'})),                    // labels of octet 0 and of a dot
		q([]byte{3, 'c', 'o', 'm'}),                            // no root label
		q(append(wireName(), 0, 1)),                            // the class cut off
		q(wireName([]byte("a.b"), []byte{0, 0xFF, '\\', '"'})), // octets names escape
	}
}

// mutate returns b with a few random bytes changed: flipped bits, or octets
// that mean something in a header or a name.
func (g *fuzzGen) mutate(b []byte) []byte {
	b = slices.Clone(b)
	for range 1 + g.pick(4) {
		i := g.pick(len(b))
		if g.chance(0.3) {
			b[i] = []byte{0, 0xFF, 0xC0, 0x3F, 0x40, 0x80, 1}[g.pick(7)]
		} else {
			b[i] ^= byte(1 + g.pick(255))
		}
	}
	return b
}

// packets returns the fuzz's packets, in the order they are made.
func (g *fuzzGen) packets() []*fuzzPacket {
	var ps []*fuzzPacket
	add := func(kind string, b []byte, tcp bool) {
		ps = append(ps, &fuzzPacket{kind: kind, wire: b, tcp: tcp})
	}
	// (a) Queries of the zone's names: random types, classes, flags, opcodes.
	for range 900 {
		add("query", g.pack(g.query(0.15)), g.chance(0.1))
	}
	// (b) EDNS: versions, DO, UDP sizes, ECS (good and broken), cookies,
	// padding, keepalive, unknown options, two OPT records.
	for range 800 {
		add("edns", g.ednsQuery(), g.chance(0.1))
	}
	// (c) Mutations of packed queries.
	for range 500 {
		add("flipped bytes", g.mutate(g.baseQuery()), g.chance(0.1))
	}
	// Four queries cut at every length (the last over TCP): without EDNS, and
	// with an OPT record holding a valid ECS option and a cookie.
	for i := range 4 {
		m := g.query(0)
		if i > 0 {
			o := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
			o.SetUDPSize(1232)
			o.Option = []dns.EDNS0{
				&dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: 24, Address: net.IPv4(192, 0, 2, 0)},
				&dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: hex.EncodeToString(g.bytes(8))},
			}
			m.Extra = append(m.Extra, o)
		}
		b := g.pack(m)
		for n := range len(b) {
			add("truncated", b[:n], i == 3)
		}
	}
	for range 100 {
		add("trailing garbage", append(g.baseQuery(), g.bytes(1+g.pick(40))...), g.chance(0.1))
	}
	for range 60 {
		b := g.baseQuery()
		switch g.pick(4) {
		case 0:
			b[4], b[5] = 0, 0 // QDCOUNT 0, the question still there
		case 1:
			b = b[:12:12] // the header alone, announcing its question
		case 2:
			b[4], b[5] = 0, 2 // QDCOUNT 2 with one question
		default:
			m := new(dns.Msg)
			if err := m.Unpack(b); err == nil {
				m.Question = append(m.Question, dns.Question{Name: g.name(), Qtype: dns.TypeA, Qclass: dns.ClassINET})
				b = g.pack(m)
			}
			b[4], b[5] = byte(g.pick(256)), 2
		}
		add("qdcount", b, g.chance(0.2))
	}
	for _, b := range g.craft() {
		add("crafted name", b, false)
		add("crafted name", b, true)
	}
	for range 150 {
		b := g.bytes(g.pick(100))
		if len(b) > 2 && g.chance(0.7) {
			b[2] &^= 0x80 // not a response
		}
		add("random bytes", b, g.chance(0.1))
	}
	// TCP messages the client gives up on: a length prefix announcing more
	// than is sent, a prefix cut in two, an empty message.
	for range 10 {
		p := &fuzzPacket{kind: "tcp cut short", wire: g.baseQuery(), tcp: true, tcpShort: 1 + g.pick(100)}
		ps = append(ps, p)
	}
	ps = append(ps, &fuzzPacket{kind: "tcp cut short", wire: g.baseQuery(), tcp: true, tcpShort: -1},
		&fuzzPacket{kind: "tcp cut short", wire: nil, tcp: true})
	for _, p := range ps {
		p.want = predict(p.wire, g.zone.rcode)
		if p.tcpShort != 0 {
			p.want = fuzzExpectation{drop: true, why: "a TCP message cut short"}
		}
	}
	return ps
}

// predict says what the server does with the packet b. It reads b as the
// server does: the header first (miekg/dns's default accept function), then
// the whole message with the same miekg/dns; then CoreDNS's server's checks
// and the federation plugin's rules, in their order. known holds the
// rcodes of the zone's names that fuzzZone knows.
func predict(b []byte, known map[string]int) fuzzExpectation {
	one := func(answer bool, why string, rcodes ...int) fuzzExpectation {
		return fuzzExpectation{answer: answer, rcodes: rcodes, why: why}
	}
	if len(b) < 12 {
		return fuzzExpectation{drop: true, why: "shorter than a header"}
	}
	flags := binary.BigEndian.Uint16(b[2:])
	qd, an, ns, ar := binary.BigEndian.Uint16(b[4:]), binary.BigEndian.Uint16(b[6:]), binary.BigEndian.Uint16(b[8:]), binary.BigEndian.Uint16(b[10:])
	if flags&0x8000 != 0 {
		return fuzzExpectation{drop: true, why: "QR set: a response"}
	}
	m := new(dns.Msg)
	parsed := m.Unpack(b) == nil
	if opcode := int(flags>>11) & 0xF; opcode != dns.OpcodeQuery && opcode != dns.OpcodeNotify {
		return one(true, "opcode "+strconv.Itoa(opcode), dns.RcodeNotImplemented)
	}
	if qd != 1 || an > 1 || ns > 1 || ar > 2 {
		return one(true, "section counts", dns.RcodeFormatError)
	}
	if !parsed {
		return one(false, "does not parse", dns.RcodeFormatError)
	}
	e := fuzzExpectation{answer: true, query: m}
	if len(m.Question) == 0 {
		// QDCOUNT 1 and no question (a bare header): CoreDNS's server
		// answers SERVFAIL before any plugin, as the plugin's README says.
		e.why, e.rcodes = "no question", []int{dns.RcodeServerFailure}
		return e
	}
	q := m.Question[0]
	opt := m.IsEdns0()
	name := strings.ToLower(q.Name)
	switch {
	case q.Qclass != dns.ClassINET:
		e.why, e.rcodes = "class", []int{dns.RcodeRefused}
	case opt != nil && opt.Version() != 0:
		e.why, e.rcodes = "EDNS version", []int{dns.RcodeBadVers}
	case !dns.IsSubDomain(lab.SeedDomain+".", name):
		e.why, e.rcodes = "out of the zone", []int{dns.RcodeRefused}
	case countOPT(m) > 1:
		e.why, e.rcodes = "two OPT records", []int{dns.RcodeFormatError}
	case m.Opcode == dns.OpcodeNotify:
		e.why, e.rcodes = "NOTIFY", []int{dns.RcodeNotImplemented}
	case q.Qtype == dns.TypeAXFR || q.Qtype == dns.TypeIXFR:
		e.why, e.rcodes = "transfer", []int{dns.RcodeRefused}
	default:
		e.why = "in the zone"
		if rc, ok := known[name]; ok && rc >= 0 {
			e.rcodes = []int{rc}
		} else {
			e.rcodes = []int{dns.RcodeSuccess, dns.RcodeNameError}
		}
	}
	return e
}

func countOPT(m *dns.Msg) int {
	n := 0
	for _, rr := range m.Extra {
		if rr.Header().Rrtype == dns.TypeOPT {
			n++
		}
	}
	return n
}

// send sends p to addr and reads the reply, waiting for it as long as p's
// expectation says.
func (p *fuzzPacket) send(addr string) {
	wait := fuzzReplyWait
	if p.want.drop {
		wait = fuzzNoReplyWait
	}
	if !p.tcp {
		c, err := net.Dial("udp", addr)
		if err != nil {
			p.err = err
			return
		}
		defer c.Close()
		if _, err := c.Write(p.wire); err != nil {
			p.err = err
			return
		}
		c.SetReadDeadline(time.Now().Add(wait))
		buf := make([]byte, 65536)
		if n, err := c.Read(buf); err == nil {
			p.reply = buf[:n]
		}
		return
	}
	c, err := net.DialTimeout("tcp", addr, fuzzReplyWait)
	if err != nil {
		p.err = err
		return
	}
	defer c.Close()
	var out []byte
	switch {
	case p.tcpShort < 0:
		out = binary.BigEndian.AppendUint16(nil, uint16(len(p.wire)))[:1]
	default:
		out = binary.BigEndian.AppendUint16(nil, uint16(len(p.wire)+p.tcpShort))
		out = append(out, p.wire...)
	}
	if _, err := c.Write(out); err != nil {
		p.err = err
		return
	}
	if p.tcpShort != 0 {
		c.(*net.TCPConn).CloseWrite()
	}
	c.SetReadDeadline(time.Now().Add(wait))
	var n [2]byte
	if _, err := io.ReadFull(c, n[:]); err != nil {
		return
	}
	reply := make([]byte, binary.BigEndian.Uint16(n[:]))
	if _, err := io.ReadFull(c, reply); err != nil {
		p.err = fmt.Errorf("a reply cut short: %v", err)
		return
	}
	p.reply = reply
}

// check returns what is wrong with the reply to p, or nil.
func (p *fuzzPacket) check() error {
	w := p.want
	if p.err != nil {
		return p.err
	}
	if p.reply == nil {
		if w.answer {
			return fmt.Errorf("no reply, want %s (%s)", rcodeNames(w.rcodes), w.why)
		}
		return nil
	}
	if w.drop {
		return fmt.Errorf("a reply to a packet the server must drop (%s)", w.why)
	}
	r := new(dns.Msg)
	if err := r.Unpack(p.reply); err != nil {
		return fmt.Errorf("the reply does not parse: %v", err)
	}
	if id := binary.BigEndian.Uint16(p.wire); r.Id != id {
		return fmt.Errorf("reply ID %d, want the query's %d", r.Id, id)
	}
	if !r.Response {
		return errors.New("reply without the QR bit")
	}
	if !slices.Contains(w.rcodes, r.Rcode) {
		return fmt.Errorf("rcode %s, want %s (%s)", rcodeName(r.Rcode), rcodeNames(w.rcodes), w.why)
	}
	if n := countOPT(r); n > 1 {
		return fmt.Errorf("%d OPT records in the reply", n)
	}
	if q := w.query; q != nil && len(q.Question) == 1 && w.why != "no question" {
		if len(r.Question) != 1 || r.Question[0] != q.Question[0] {
			return fmt.Errorf("reply question %v, want the query's %v", r.Question, q.Question[0])
		}
	}
	if !p.tcp {
		limit := dns.MinMsgSize
		if q := w.query; q != nil && q.IsEdns0() != nil {
			limit = max(limit, int(q.IsEdns0().UDPSize()))
		}
		if len(p.reply) > limit {
			return fmt.Errorf("a UDP reply of %d bytes, more than the %d the query allows", len(p.reply), limit)
		}
	}
	return nil
}

func rcodeName(rc int) string {
	if rc == dns.RcodeBadVers {
		return "BADVERS"
	}
	if s, ok := dns.RcodeToString[rc]; ok {
		return s
	}
	return "RCODE" + strconv.Itoa(rc)
}

func rcodeNames(rcs []int) string {
	var s []string
	for _, rc := range rcs {
		s = append(s, rcodeName(rc))
	}
	return strings.Join(s, " or ")
}

// panicRE matches what a Go panic or a recovered one leaves in the log.
var panicRE = regexp.MustCompile(`(?i)panic|runtime error|goroutine \d+`)

// TestPacketFuzzLab sends a few thousand random, odd and broken packets to the
// lab's coredns-fed over UDP and TCP: every reply parses and carries the
// query's ID and the rcode the RFCs and the plugin's README give (never
// SERVFAIL for a query of the zone), every query that parses gets a reply,
// and afterwards the server answers as before, is the same process, and its
// log has no panic.
func TestPacketFuzzLab(t *testing.T) {
	healthy(t)
	d := fed.DNS()
	pid := d.PID()
	logStart := int64(0)
	if fi, err := os.Stat(d.Log()); err == nil {
		logStart = fi.Size()
	}

	seed := uint64(packetFuzzSeed)
	if s := os.Getenv(packetFuzzSeedEnv); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("%s=%q: %v", packetFuzzSeedEnv, s, err)
		}
	}
	t.Logf("seed %d (replay with %s=%d)", seed, packetFuzzSeedEnv, seed)
	zone := newFuzzZone()
	g := &fuzzGen{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), zone: zone}
	ps := g.packets()

	start := time.Now()
	work := make(chan *fuzzPacket)
	var wg sync.WaitGroup
	for range fuzzWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range work {
				p.send(dnsAddr)
			}
		}()
	}
	for _, p := range ps {
		work <- p
	}
	close(work)
	wg.Wait()
	elapsed := time.Since(start)

	// The table: outcomes by generator and transport.
	type key struct{ kind, outcome string }
	counts := map[key]int{}
	var kinds, outcomes []string
	tcp, failures := 0, 0
	for _, p := range ps {
		outcome := "no reply"
		if p.want.drop {
			outcome = "dropped" // as the server must
		}
		if r := new(dns.Msg); p.reply != nil {
			if r.Unpack(p.reply) == nil {
				outcome = rcodeName(r.Rcode)
			} else {
				outcome = "unparsable"
			}
		}
		if !slices.Contains(kinds, p.kind) {
			kinds = append(kinds, p.kind)
		}
		if !slices.Contains(outcomes, outcome) {
			outcomes = append(outcomes, outcome)
		}
		counts[key{p.kind, outcome}]++
		counts[key{"total", outcome}]++
		if p.tcp {
			tcp++
			counts[key{"over TCP", outcome}]++
		}
		if err := p.check(); err != nil {
			failures++
			if failures <= 25 {
				transport := "udp"
				if p.tcp {
					transport = "tcp"
				}
				msg := "(does not parse)"
				if p.want.query != nil {
					msg = p.want.query.String()
				}
				t.Errorf("%s packet over %s: %v\npacket %s\n%s", p.kind, transport, err, hex.EncodeToString(p.wire), msg)
			}
		}
	}
	if failures > 25 {
		t.Errorf("%d more packets failed", failures-25)
	}
	slices.Sort(outcomes)
	var table strings.Builder
	tw := tabwriter.NewWriter(&table, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "\t%s\t\n", strings.Join(outcomes, "\t"))
	for _, k := range append(kinds, "over TCP", "total") {
		fmt.Fprintf(tw, "%s\t", k)
		for _, o := range outcomes {
			fmt.Fprintf(tw, "%d\t", counts[key{k, o}])
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	t.Logf("%d packets (%d over TCP) in %s, replies by rcode (\"dropped\": no reply, as required; \"no reply\": a packet that does not parse):\n%s", len(ps), tcp, elapsed.Round(time.Millisecond), table.String())

	// The server still answers, is the same process, and logged no panic.
	aliveAt(t, d)
	if got := d.PID(); got != pid {
		t.Errorf("coredns-fed's pid is %d, was %d: it restarted", got, pid)
	}
	expect(t, globalName(), dns.TypeA, positive(as(globalName(), fed.Clusters()...)...))
	logged, err := os.ReadFile(d.Log())
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(logged)) >= logStart {
		logged = logged[logStart:]
	}
	lines := strings.Split(strings.TrimSuffix(string(logged), "\n"), "\n")
	for _, line := range lines {
		if panicRE.MatchString(line) {
			t.Fatalf("coredns-fed's log during the fuzz has a panic:\n%s", lab.Tail(d.Log(), 40))
		}
	}
	if len(logged) == 0 {
		lines = nil
	}
	t.Logf("coredns-fed (pid %d) still answers; it logged %d lines during the fuzz, no panic", pid, len(lines))
}
