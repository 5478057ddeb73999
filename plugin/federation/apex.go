package federation

import (
	"net/netip"

	"github.com/miekg/dns"
)

// soaConfig holds the SOA fields set in the Corefile (or their defaults).
type soaConfig struct {
	mname, rname                   string
	refresh, retry, expire, minttl uint32
}

// nameServer is one NS record of the apex with its glue addresses.
type nameServer struct {
	name  string
	addrs []netip.Addr
}

// soaRecords returns the apex SOA and its copy for negative answers, whose TTL
// is min(TTL, MINIMUM): RFC 2308 §3 caps the negative-caching time by both.
func (b *builder) soaRecords(serial uint32) (soa, negative []dns.RR) {
	rr := b.soaRecord(serial)
	neg := dns.Copy(rr)
	neg.Header().Ttl = min(b.ttl, b.soa.minttl)
	return []dns.RR{rr}, []dns.RR{neg}
}

func (b *builder) soaRecord(serial uint32) dns.RR {
	return &dns.SOA{
		Hdr:     b.hdr(b.zone, dns.TypeSOA),
		Ns:      b.soa.mname,
		Mbox:    b.soa.rname,
		Serial:  serial,
		Refresh: b.soa.refresh,
		Retry:   b.soa.retry,
		Expire:  b.soa.expire,
		Minttl:  b.soa.minttl,
	}
}

// nsRecords returns the apex NS records.
func (b *builder) nsRecords() []dns.RR {
	var rrs []dns.RR
	for i := range b.ns {
		rrs = append(rrs, &dns.NS{Hdr: b.hdr(b.zone, dns.TypeNS), Ns: b.ns[i].name})
	}
	return rrs
}

// glue answers the addresses of an in-zone name server.
func (b *builder) glue(ns nameServer) *node {
	n := &node{all: b.records(ns.name, ns.addrs)}
	n.answer = &n.all
	return n
}

// glueExtra returns the glue records for the additional section of an NS answer.
func (b *builder) glueExtra() []dns.RR {
	var extra []dns.RR
	for i := range b.ns {
		extra = append(extra, b.records(b.ns[i].name, b.ns[i].addrs).rrs...)
	}
	return extra
}
