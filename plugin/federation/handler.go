package federation

import (
	"context"
	"strings"

	"github.com/coredns/coredns/plugin"

	"github.com/miekg/dns"
)

// ServeDNS implements plugin.Handler. It only reads the current snapshot: no
// locks, no listing, and no records built per query; a reply takes one
// allocation unless it follows a CNAME chain.
func (f *Federation) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	if len(r.Question) != 1 || multipleOPT(r) {
		// CoreDNS's server routes on the first question; a query has exactly one
		// (RFC 9619) and at most one OPT record, which CoreDNS's server does not
		// check (RFC 6891 §6.1.1: FORMERR), so this one is malformed whatever its
		// zone.
		f.count(ctx, kindFormErr)
		return dns.RcodeFormatError, nil
	}
	// The question name as it came off the wire, lower-cased (no copy when it
	// already is); names keep their escapes, as the snapshot's keys do.
	qname := strings.ToLower(r.Question[0].Name)
	if !inZone(qname, f.Zone) {
		return plugin.NextOrFailure(f.Name(), f.Next, ctx, w, r)
	}
	if rcode := refuse(r); rcode != dns.RcodeSuccess {
		if rcode == rcodeTransfer {
			if f.transfer && qname == f.Zone {
				// The transfer plugin follows in the chain and answers from
				// Transfer (xfr.go). It comes after the federation in the
				// directive order so that its large stack frame is not under
				// every query (docs/benchmarks.md). A transfer plugin that
				// does not serve this zone passes the query on to the plugin
				// after it; with none, the server answers SERVFAIL.
				return plugin.NextOrFailure(f.Name(), f.Next, ctx, w, r)
			}
			// A name below the apex is no zone; without the transfer plugin a
			// secondary must learn that it may not transfer.
			rcode = dns.RcodeRefused
		}
		f.count(ctx, refusedKinds[rcode])
		return rcode, nil
	}
	snap := f.snapshot.Load()
	if snap == nil {
		f.count(ctx, kindSERVFAIL)
		return dns.RcodeServerFailure, nil
	}

	resp := newResponse(r)
	m := &resp.msg
	qtype := r.Question[0].Qtype
	var loc *location
	if f.geo != nil {
		loc = &resp.loc
		if err := locate(w, r, loc); err != nil {
			f.count(ctx, kindFormErr)
			return dns.RcodeFormatError, nil
		}
	}

	rel := qname[:len(qname)-len(f.Zone)]
	n := snap.lookup(rel)
	kind := kindNXDOMAIN
	srv, isSRVName, isSRV := snap.lookupSRV(rel)
	switch {
	case isSRVName:
		kind = snap.srvReply(srv, m, qtype)
	case isSRV || n == nil:
		m.Rcode = dns.RcodeNameError
		m.Ns = snap.negSOA
	case rel == "" && (qtype == dns.TypeSOA || qtype == dns.TypeANY):
		m.Answer = snap.soa // ANY: one RRset (RFC 8482 §4.1)
		kind = kindA
	case rel == "" && qtype == dns.TypeNS:
		m.Answer = snap.ns
		m.Extra = snap.glue
		kind = kindA
	default:
		var nodata bool
		m.Answer, nodata, kind = n.reply(loc, qtype)
		if nodata {
			m.Ns = snap.negSOA
		}
	}
	// Sections are the snapshot's slices, shared by every query and never
	// modified; they are handed out with len == cap, so that a plugin that
	// appends to a section (dnssec adds its signatures) copies it instead of
	// writing into the snapshot under other queries.
	m.Answer = m.Answer[:len(m.Answer):len(m.Answer)]
	m.Ns = m.Ns[:len(m.Ns):len(m.Ns)]
	m.Extra = m.Extra[:len(m.Extra):len(m.Extra)]
	if loc != nil && loc.ecs != nil {
		m.Extra = loc.appendOPT(m.Extra) // ECS echoed with the answer's scope
	}

	f.count(ctx, kind)
	writeReply(w, r, m) // compressed (wire.go)
	return dns.RcodeSuccess, nil
}

// multipleOPT reports whether r has more than one OPT record.
func multipleOPT(r *dns.Msg) bool {
	n := 0
	for _, rr := range r.Extra {
		if rr.Header().Rrtype == dns.TypeOPT {
			n++
		}
	}
	return n > 1
}

// response is the memory of one reply, taken in one allocation: the message,
// its question and the client's place.
type response struct {
	msg      dns.Msg
	question [1]dns.Question
	loc      location // the client's place, when geo answers are on
}

// newResponse starts the authoritative reply to r, which has one question.
func newResponse(r *dns.Msg) *response {
	resp := new(response)
	hdr := dns.Msg{MsgHdr: r.MsgHdr}
	resp.msg.SetReply(&hdr) // the header alone: SetReply would allocate the question
	resp.question[0] = r.Question[0]
	resp.msg.Question = resp.question[:]
	resp.msg.Authoritative = true
	return resp
}

// refusedKinds labels the rcodes of refuse in metrics.
var refusedKinds = map[int]answerKind{
	dns.RcodeNotImplemented: kindNotImp,
	dns.RcodeRefused:        kindRefused,
}

// rcodeTransfer is what refuse returns for AXFR and IXFR: the transfer plugin's
// when it is in the block, else REFUSED.
const rcodeTransfer = -1

// refuse returns the rcode of a query in the zone that is not answered from the
// snapshot (rcodeTransfer for a zone transfer), or RcodeSuccess. The server
// writes the reply.
func refuse(r *dns.Msg) int {
	q := r.Question[0]
	switch {
	case r.Opcode != dns.OpcodeQuery:
		// NOTIFY reaches the plugins (CoreDNS accepts it for secondaries); this
		// zone has no primary to be told about, and UPDATE is not supported.
		return dns.RcodeNotImplemented
	case q.Qclass != dns.ClassINET:
		return dns.RcodeRefused
	case q.Qtype == dns.TypeAXFR || q.Qtype == dns.TypeIXFR:
		return rcodeTransfer
	}
	return dns.RcodeSuccess
}

// inZone reports whether qname is zone or below it; both are lower case and fully
// qualified.
func inZone(qname, zone string) bool {
	if !strings.HasSuffix(qname, zone) {
		return false
	}
	n := len(qname) - len(zone)
	return n == 0 || zone == "." || qname[n-1] == '.'
}
