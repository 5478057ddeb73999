package federation

import (
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// builder turns the members' caches into a Snapshot. It is only used by the
// Federation's build loop, never concurrently.
type builder struct {
	zone    string // origin, e.g. "example.com."
	fed     string
	ttl     uint32
	soa     soaConfig
	ns      []nameServer
	members []*Member
	health  Health
	server  string

	namespaces []string // empty: all
}

// build makes the next snapshot from prev (nil for the first). dirty lists the
// Services (namespace/name) whose inputs changed; all forces a full rebuild.
func (b *builder) build(prev *Snapshot, dirty map[string]struct{}, all bool) *Snapshot {
	start := time.Now()
	s := &Snapshot{fed: b.fed}
	if prev == nil {
		s.Serial = uint32(time.Now().Unix())
	} else {
		s.Serial = prev.Serial + 1
	}
	s.soa = []dns.RR{b.soaRecord(s.Serial)}
	s.ns = b.nsRecords()
	s.glue = b.glueExtra()

	topo := make(map[string][]place, len(b.members))
	for _, m := range b.members {
		topo[m.Name] = m.topology()
	}
	s.levels = levelsOf(b.members, topo)
	s.names = b.fixedNames(s.levels)

	if prev == nil || all || !sameLevels(prev.levels, s.levels) {
		dirty = map[string]struct{}{}
		for _, m := range b.members {
			for _, k := range m.serviceKeys() {
				dirty[k] = struct{}{}
			}
		}
		if prev != nil {
			for _, sa := range prev.services {
				dirty[sa.key] = struct{}{}
			}
		}
		s.services = make(map[string]*serviceAnswers, len(dirty))
	} else {
		s.services = maps.Clone(prev.services)
	}

	for key := range dirty {
		ns, name, _ := strings.Cut(key, "/")
		qkey := name + "." + ns
		old := s.services[qkey]
		sa := b.service(key, s)
		if sa == nil {
			delete(s.services, qkey)
		} else {
			s.services[qkey] = sa
		}
		recordShards(b.server, old, sa)
	}

	s.spaces = make(map[string]int)
	for _, sa := range s.services {
		ns, _, _ := strings.Cut(sa.key, "/")
		s.spaces[ns]++
	}

	snapshotBuilds.WithLabelValues(b.server).Inc()
	snapshotBuildDuration.WithLabelValues(b.server).Observe(time.Since(start).Seconds())
	return s
}

// levelsOf derives the levels from the members' topology. A zone has two names:
// "ZONE." (seed form) and "ZONE.REGION." (Federation v1 form); both fall back to
// the region, or to global when the region is unknown.
func levelsOf(members []*Member, topo map[string][]place) map[string]*level {
	lv := map[string]*level{"": {suffix: "", global: true}}
	add := func(suffix, parent, member string, depth int) {
		l := lv[suffix]
		if l == nil {
			l = &level{suffix: suffix, parent: parent, depth: depth}
			lv[suffix] = l
		}
		if !slices.Contains(l.members, member) {
			l.members = append(l.members, member)
		}
	}
	for _, m := range members {
		lv[""].members = append(lv[""].members, m.Name)
		for _, p := range topo[m.Name] {
			region := ""
			if p.Region != "" {
				region = p.Region + "."
				add(region, "", m.Name, 1)
			}
			if p.Zone != "" {
				add(p.Zone+".", region, m.Name, 2)
				if region != "" {
					add(p.Zone+"."+region, region, m.Name, 2)
				}
			}
		}
	}
	return lv
}

func sameLevels(a, b map[string]*level) bool {
	return maps.EqualFunc(a, b, func(x, y *level) bool {
		return x.parent == y.parent && slices.Equal(x.members, y.members)
	})
}

// fixedNames returns the names that exist apart from services: the apex, the
// name servers, and the empty non-terminals above every level.
func (b *builder) fixedNames(levels map[string]*level) map[string]*nodeAnswers {
	names := map[string]*nodeAnswers{}
	for suffix := range levels {
		for s := suffix; s != ""; {
			names[s] = emptyNode
			_, s, _ = strings.Cut(s, ".")
		}
	}
	names[""] = emptyNode // the apex; SOA and NS are answered from the Snapshot
	for i := range b.ns {
		if rel, ok := strings.CutSuffix(b.ns[i].name, b.zone); ok {
			names[rel] = b.glue(b.ns[i])
		}
	}
	return names
}

// service builds the answers of the Service namespace/name at every level, or
// returns nil when no member has it.
func (b *builder) service(key string, s *Snapshot) *serviceAnswers {
	sa := &serviceAnswers{key: key, levels: make(map[answerKey]*nodeAnswers, len(s.levels))}
	ns, name, _ := strings.Cut(key, "/")
	if len(b.namespaces) > 0 && !slices.Contains(b.namespaces, ns) {
		return nil
	}
	for _, m := range b.members {
		sh := m.shard(key)
		if sh == nil {
			continue
		}
		var usable []netip.Addr
		if sh.Healthy() {
			usable = sh.Addrs
			if b.health != nil {
				usable = b.health.Usable(sh, m.Status())
			}
		}
		sa.shards = append(sa.shards, *sh)
		sa.usable = append(sa.usable, usable)
	}
	if len(sa.shards) == 0 {
		return nil
	}
	prefix := name + "." + ns + "." + s.fed + ".svc."

	// Parents before children: global, then regions, then zones.
	order := slices.SortedFunc(maps.Keys(s.levels), func(x, y string) int {
		return s.levels[x].depth - s.levels[y].depth
	})
	for _, suffix := range order {
		lvl := s.levels[suffix]
		owner := prefix + suffix + b.zone
		addrs := sa.addrsOf(lvl.members)
		var n *nodeAnswers
		switch {
		case len(addrs) > 0:
			n = b.addressNode(owner, addrs)
		case lvl.global:
			n = emptyNode
		default:
			n = b.cnameNode(owner, prefix+lvl.parent+b.zone, sa.levels[answerKey{Level: lvl.parent}])
		}
		sa.levels[answerKey{Level: suffix}] = n
	}
	return sa
}

// addrsOf returns the deduplicated, sorted usable addresses of the members' shards.
func (sa *serviceAnswers) addrsOf(members []string) []netip.Addr {
	var out []netip.Addr
	for i := range sa.shards {
		if slices.Contains(members, sa.shards[i].Member) {
			out = append(out, sa.usable[i]...)
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out)
}

func (b *builder) addressNode(owner string, addrs []netip.Addr) *nodeAnswers {
	n := &nodeAnswers{cname: rrset{nodata: true}, other: rrset{nodata: true}, kind: kindA}
	for _, a := range addrs {
		if a.Is4() {
			n.a.rr = append(n.a.rr, &dns.A{Hdr: b.hdr(owner, dns.TypeA), A: a.AsSlice()})
		} else {
			n.aaaa.rr = append(n.aaaa.rr, &dns.AAAA{Hdr: b.hdr(owner, dns.TypeAAAA), AAAA: a.AsSlice()})
		}
	}
	n.a.nodata = len(n.a.rr) == 0
	n.aaaa.nodata = len(n.aaaa.rr) == 0
	return n
}

// cnameNode points owner at target and carries target's answers behind the CNAME
// (RFC 1034 §4.3.2: the server chases in-zone aliases itself).
func (b *builder) cnameNode(owner, target string, t *nodeAnswers) *nodeAnswers {
	c := &dns.CNAME{Hdr: b.hdr(owner, dns.TypeCNAME), Target: target}
	chain := func(r rrset) rrset {
		return rrset{rr: append([]dns.RR{c}, r.rr...), nodata: r.nodata}
	}
	return &nodeAnswers{
		a:     chain(t.a),
		aaaa:  chain(t.aaaa),
		other: chain(t.other),
		cname: rrset{rr: []dns.RR{c}},
		kind:  kindCNAME,
	}
}

func (b *builder) hdr(owner string, t uint16) dns.RR_Header {
	return dns.RR_Header{Name: owner, Rrtype: t, Class: dns.ClassINET, Ttl: b.ttl}
}
