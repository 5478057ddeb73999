package federation

import (
	"math/rand/v2"
	"net/netip"
	"slices"

	"github.com/miekg/dns"
)

// The answer step: a level's node holds its usable shards; a policy turns them,
// when the snapshot is built, into a picker, and the picker chooses per query
// the records that query gets. Whatever does not depend on the query is
// computed by the policy, so that a picker only chooses among prepared sets.

// usableShard is a shard whose addresses a level may answer.
type usableShard struct {
	shard *Shard
	addrs []netip.Addr // after health checks and the stale policy; never empty
}

// policy prepares the answers of a level from its usable shards (never none)
// and all, the records of every usable address (what a zone transfer sends).
type policy interface {
	prepare(owner string, shards []usableShard, all *rrset, rr recordMaker) picker
}

// picker chooses the records one query gets: of an A (v6 false) or AAAA (v6
// true) query from loc, the client's place (nil when geo answers are on). A
// picker may set loc's ECS scope. It runs per query: it must not allocate, and
// the slice it returns is the snapshot's, with len == cap.
type picker interface {
	pick(loc *location, v6 bool) []dns.RR
}

// recordMaker makes the answer of an owner name from shards: the records of
// their addresses within max_answers, by weight when they have weights
// (traffic.go).
type recordMaker func(owner string, shards []usableShard) picker

// rrset is a prepared set of address records, A first, then AAAA. A fixed answer
// is its own picker.
type rrset struct {
	rrs []dns.RR
	nA  int // how many of rrs are A records
}

func (s *rrset) pick(_ *location, v6 bool) []dns.RR {
	if v6 {
		return s.aaaa()
	}
	return s.a()
}

// a and aaaa return the records of one type, with len == cap.
func (s *rrset) a() []dns.RR    { return s.rrs[:s.nA:s.nA] }
func (s *rrset) aaaa() []dns.RR { return s.rrs[s.nA:] }

// rotation answers at most max records of a family that has more, a window of
// consecutive records from a random start, so that every address is answered
// as often over many queries (Route 53 and gdnsd answer 8 of a larger set).
// Each family's records are held twice in a ring, so a window is a subslice.
type rotation struct {
	ring [2][]dns.RR // by family: its records twice when it has more than max, else once
	n    [2]int      // records of the family
	max  int
}

// limit returns a picker that answers at most max records of each family of s;
// s itself when no family has more (or max is 0: no limit).
func limit(s *rrset, max int) picker {
	n4, n6 := s.nA, len(s.rrs)-s.nA
	if max <= 0 || n4 <= max && n6 <= max {
		return s
	}
	r := &rotation{n: [2]int{n4, n6}, max: max}
	for f, recs := range [2][]dns.RR{s.a(), s.aaaa()} {
		r.ring[f] = recs
		if len(recs) > max {
			r.ring[f] = append(slices.Clip(recs), recs...)
		}
	}
	return r
}

func (r *rotation) pick(_ *location, v6 bool) []dns.RR {
	f := family4
	if v6 {
		f = family6
	}
	n := r.n[f]
	if n <= r.max {
		return r.ring[f][:n:n]
	}
	i := rand.IntN(n)
	return r.ring[f][i : i+r.max : i+r.max]
}

// allPolicy answers every usable address of the level, deduplicated and sorted
// (IPv4 before IPv6), within max_answers: what Federation v1 put in a cloud DNS
// record set.
type allPolicy struct{ max int }

func (p allPolicy) prepare(owner string, shards []usableShard, all *rrset, rr recordMaker) picker {
	if weighted(shards) {
		return rr(owner, shards)
	}
	return limit(all, p.max)
}

// addrsOf returns the deduplicated, sorted addresses of shards.
func addrsOf(shards []usableShard) []netip.Addr {
	var out []netip.Addr
	for _, s := range shards {
		out = append(out, s.addrs...)
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out)
}

// rrAddr returns the address of an A or AAAA record of a prepared set.
func rrAddr(rr dns.RR) netip.Addr {
	var a netip.Addr
	switch r := rr.(type) {
	case *dns.A:
		a, _ = netip.AddrFromSlice(r.A)
	case *dns.AAAA:
		a, _ = netip.AddrFromSlice(r.AAAA)
	}
	return a
}
