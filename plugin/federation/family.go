package federation

import (
	"net/netip"

	"github.com/miekg/dns"
)

// Per-family fallback. A level whose usable addresses are all of one family
// cannot answer the other family with a CNAME up: its name owns address
// records, and a name that owns a CNAME owns nothing else (RFC 1034 §3.6.2,
// RFC 2181 §10.1). A resolver that cached the CNAME from an A query would
// follow it for AAAA too, and a zone transfer could not carry it. So the
// level answers the family it lacks with the addresses of the nearest level
// above that has that family, under its own name, as a CNAME to there would
// have ended; and a transfer carries them, so secondaries answer the same.

// borrow gives n, a level with addresses of one family, the addresses of the
// other family from the nearest level above whose own shards have it. lvl is
// n's level; parents are built before their children, and b.levelShards holds
// the shards each level answers.
func (b *builder) borrow(n *node, owner string, lvl *level, s *Snapshot) {
	own := b.levelShards[lvl.index]
	f := family4
	if n.has(family4) {
		f = family6
	}
	if n.has(f) {
		return // both families here
	}
	// e is l's node: a level whose records lack f has no shard with it.
	for l, e := s.levels[lvl.parent], n.parent; ; l, e = s.levels[l.parent], e.parent {
		if e.has(f) {
			if shards := familyShards(b.levelShards[l.index], f); len(shards) > 0 {
				b.borrowFrom(n, owner, own, shards, f, l.global)
				return
			}
		}
		if l.global {
			return
		}
	}
}

// borrowFrom gives n the addresses of family f of shards, a level above's
// (global when global is set).
func (b *builder) borrowFrom(n *node, owner string, own, shards []usableShard, f int, global bool) {
	other := b.policy.prepare(owner, shards, ptr(b.records(owner, addrsOf(shards))), b.answer)
	if global && b.geoBuild != nil {
		// Borrowed from global: chosen by client location, as there.
		other = b.geoBuild.picker(owner, shards, other, b.answer)
	}
	// n.answer may be &n.all: it then answers its own family from the new
	// set, whose records of that family are the same.
	n.all = b.records(owner, append(addrsOf(own), addrsOf(shards)...))
	n.answer = &familyPicker{own: n.answer, other: other, otherV6: f == family6}
}

// familyShards returns the shards with their addresses of family f, leaving
// out those that have none.
func familyShards(shards []usableShard, f int) []usableShard {
	var out []usableShard
	for _, s := range shards {
		var addrs []netip.Addr
		for _, a := range s.addrs {
			if a.Is4() == (f == family4) {
				addrs = append(addrs, a)
			}
		}
		if len(addrs) > 0 {
			out = append(out, usableShard{shard: s.shard, addrs: addrs})
		}
	}
	return out
}

// familyPicker answers one family from the level's own shards and the other
// from the shards it borrowed.
type familyPicker struct {
	own, other picker
	otherV6    bool // other answers AAAA (else A)
}

func (p *familyPicker) pick(loc *location, v6 bool) []dns.RR {
	if v6 == p.otherV6 {
		return p.other.pick(loc, v6)
	}
	return p.own.pick(loc, v6)
}

// ptr returns a pointer to a copy of v.
func ptr[T any](v T) *T { return &v }
