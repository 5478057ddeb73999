package federation

import (
	"context"
	"strings"

	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/metrics"
	"github.com/coredns/coredns/request"

	"github.com/miekg/dns"
)

// ServeDNS implements plugin.Handler. It only reads the current snapshot: no
// locks, no listing, and no records built per query.
func (f *Federation) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	state := request.Request{W: w, Req: r}
	if len(r.Question) != 1 {
		return plugin.NextOrFailure(f.Name(), f.Next, ctx, w, r)
	}
	// The question name as it came off the wire, lower-cased (no copy when it
	// already is); names keep their escapes, as the snapshot's keys do.
	qname := strings.ToLower(r.Question[0].Name)
	if !inZone(qname, f.Zone) {
		return plugin.NextOrFailure(f.Name(), f.Next, ctx, w, r)
	}
	server := metrics.WithServer(ctx)

	if state.QClass() != dns.ClassINET {
		answers.WithLabelValues(server, string(kindRefused)).Inc()
		return dns.RcodeRefused, nil
	}
	snap := f.snapshot.Load()
	if snap == nil {
		answers.WithLabelValues(server, string(kindSERVFAIL)).Inc()
		return dns.RcodeServerFailure, nil
	}

	var loc *location
	if f.geo != nil {
		loc = new(location)
		if err := locate(w, r, loc); err != nil {
			return dns.RcodeFormatError, nil
		}
	}

	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true

	rel := qname[:len(qname)-len(f.Zone)]
	n := snap.lookup(rel)
	kind := kindNXDOMAIN
	switch {
	case n == nil:
		m.Rcode = dns.RcodeNameError
		m.Ns = snap.soa
	case rel == "":
		kind = kindNODATA
		switch state.QType() {
		case dns.TypeSOA:
			m.Answer = snap.soa
			kind = kindA
		case dns.TypeNS:
			m.Answer = snap.ns
			m.Extra = snap.glue
			kind = kindA
		default:
			m.Ns = snap.soa
		}
	default:
		// The answer is assembled into a new slice (plugins before us may reorder
		// it in place, as loadbalance does); the records themselves are shared
		// and never modified.
		var nodata bool
		m.Answer, nodata, kind = n.reply(&state, loc, state.QType())
		if nodata {
			m.Ns = snap.soa
		}
	}
	// Shared slices are handed out with len == cap so that a later append copies.
	m.Ns = m.Ns[:len(m.Ns):len(m.Ns)]
	m.Extra = m.Extra[:len(m.Extra):len(m.Extra)]
	if loc != nil && loc.ecs != nil {
		m.Extra = loc.appendOPT(m.Extra) // ECS echoed with the answer's scope
	}

	answers.WithLabelValues(server, string(kind)).Inc()
	w.WriteMsg(m)
	return dns.RcodeSuccess, nil
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
