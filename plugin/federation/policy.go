package federation

import (
	"net/netip"
	"slices"

	"github.com/coredns/coredns/request"
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

// policy prepares the answers of a level from its usable shards (never none).
type policy interface {
	prepare(owner string, shards []usableShard, rr recordMaker) picker
}

// picker chooses the records one query gets.
type picker interface {
	pick(state *request.Request) *rrset
}

// recordMaker makes the address records of an owner name.
type recordMaker func(owner string, addrs []netip.Addr) *rrset

// rrset is a prepared set of address records, A first, then AAAA. A fixed answer
// is its own picker.
type rrset struct {
	rrs []dns.RR
	nA  int // how many of rrs are A records
}

func (s *rrset) pick(*request.Request) *rrset { return s }

// a and aaaa return the records of one type.
func (s *rrset) a() []dns.RR    { return s.rrs[:s.nA] }
func (s *rrset) aaaa() []dns.RR { return s.rrs[s.nA:] }

// allPolicy answers every usable address of the level, deduplicated and sorted
// (IPv4 before IPv6): what Federation v1 put in a cloud DNS record set.
type allPolicy struct{}

func (allPolicy) prepare(owner string, shards []usableShard, rr recordMaker) picker {
	return rr(owner, addrsOf(shards))
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
