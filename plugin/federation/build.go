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
	members []*memberRun
	usable  func(sh *Shard, st MemberStatus) []netip.Addr
	policy  policy
	// maxAnswers caps the addresses of a family in one answer; 0: no cap.
	maxAnswers int
	geo        *geo // nil: no geo answers
	server     string

	namespaces []string // empty: all

	ingress   []IngressRule     // which ingress addresses may be answered (ingress.go)
	refused   *ingressLog       // nil: refusals are not logged
	hostnames *hostnameResolver // nil: ingress hostnames are refused (hostname.go)
	drain     []string          // members the Corefile drains
	ignored   *trafficLog       // nil: ignored annotations are not logged
	geoBuild  *geoBuild         // this build's geo step; nil: none

	// Scratch space of service, reused from one Service to the next so that
	// what a snapshot keeps is allocated at its exact size.
	scratchShards []Shard
	scratchUsable [][]netip.Addr
	scratchIndex  []int
	scratchNames  []byte
	levelShards   [][]usableShard      // by level index: the answered shards of the Service being built
	srvKeys       map[[2]string]string // port name and protocol -> "_name._proto", shared
}

// build makes the next snapshot from prev (nil for the first). dirty lists the
// Services (namespace/name) whose inputs changed; all forces a full rebuild.
// bump asks for a new serial even when nothing changed (see nextSerial).
func (b *builder) build(prev *Snapshot, dirty map[string]struct{}, all, bump bool) *Snapshot {
	start := time.Now()
	s := &Snapshot{fed: b.fed, zone: b.zone, ttl: b.ttl, maxAnswers: b.maxAnswers}
	s.ns = b.nsRecords()
	s.glue = b.glueExtra()

	topo := make(map[string][]Place, len(b.members))
	for _, m := range b.members {
		topo[m.m.Name] = m.topo.current()
	}
	b.geoBuild = b.geo.forBuild(topo, b.server)
	s.levels = levelsOf(b.members, topo)
	full := prev == nil || all || !sameLevels(prev.levels, s.levels)
	changed := prev == nil || full && !sameNames(prev.levels, s.levels)
	if !full {
		s.levels = prev.levels // same levels, same indices: unchanged services are reused
	}
	s.names = b.fixedNames(s.levels)

	if full {
		dirty = map[string]struct{}{}
		for _, m := range b.members {
			if m.Status().Synced {
				for _, k := range m.src.ServiceKeys() {
					dirty[k] = struct{}{}
				}
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

	counts := shardCounts{}
	for key := range dirty {
		ns, name, _ := strings.Cut(key, "/")
		qkey := name + "." + ns
		var old *serviceAnswers
		if prev != nil {
			old = prev.services[qkey] // not s.services: a full rebuild starts from an empty map
		}
		sa := b.service(key, s)
		if sa == nil {
			delete(s.services, qkey)
		} else {
			s.services[qkey] = sa
		}
		if !changed && !sameAnswers(old, sa) {
			changed = true
		}
		recordShards(counts, b.server, old, sa)
	}
	counts.apply(b.server)
	var prevSerial uint32
	if prev != nil {
		prevSerial = prev.Serial
	}
	// A change still waiting for its serial stays a change until it has one.
	pending := prev != nil && prev.bumpPending
	s.Serial, s.bumpPending = nextSerial(prevSerial, changed || bump || pending, start)
	s.soa, s.negSOA = b.soaRecords(s.Serial)

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
func levelsOf(members []*memberRun, topo map[string][]Place) map[string]*level {
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
		name := m.m.Name
		lv[""].members = append(lv[""].members, name)
		for _, p := range topo[name] {
			if p.Region != "" {
				add(p.Region+".", "", name, 1)
			}
		}
	}
	for _, m := range members {
		name := m.m.Name
		for _, p := range topo[name] {
			if p.Zone == "" {
				continue
			}
			region := ""
			if p.Region != "" {
				region = p.Region + "."
				add(p.Zone+"."+region, region, name, 2)
			}
			// The seed form ZONE. is left out when a region has that name: the
			// name is the region's, and the zone keeps its ZONE.REGION. form.
			if l := lv[p.Zone+"."]; l != nil && l.depth == 1 {
				m.topo.warnOnce("zone "+p.Zone, "Member %s: zone %s has the name of a region; it is answered only as %s%s", name, p.Zone, p.Zone+".", region)
				continue
			}
			add(p.Zone+".", region, name, 2)
		}
	}
	// Index parents before children, so a service's nodes can be built in order.
	order := slices.SortedFunc(maps.Values(lv), func(x, y *level) int {
		if x.depth != y.depth {
			return x.depth - y.depth
		}
		return strings.Compare(x.suffix, y.suffix)
	})
	for i, l := range order {
		l.index = i
	}
	return lv
}

// maxSerialLead is how far, in seconds, the SOA serial may run ahead of the
// clock. A change within the serial's second takes the next serial at once,
// rather than wait for the next second to NOTIFY its secondaries; a burst of
// more changes than that waits for the clock.
const maxSerialLead = 3

// nextSerial returns the SOA serial of a snapshot after one with serial prev (0:
// none). The serial is the time of the last change in seconds, so that it never
// goes backwards across restarts and replicas that saw the same change in the
// same second agree; it changes only when what a secondary would transfer
// changed. A change within the second of prev (or before the clock caught up
// with it) takes prev+1 while that is at most maxSerialLead seconds ahead of
// the clock; beyond, it keeps prev and reports pending: the build loop bumps
// the serial when the clock allows it (serialDue).
//
// The first serial of a process is the clock plus maxSerialLead: the last
// serial of a process that ran before it was at most its clock plus
// maxSerialLead, so a restart that takes a second or more never goes back.
func nextSerial(prev uint32, changed bool, now time.Time) (serial uint32, pending bool) {
	t := uint32(now.Unix())
	switch {
	case prev == 0:
		return t + maxSerialLead, false
	case !changed:
		return prev, false
	case serialNewer(t, prev):
		return t, false
	case serialNewer(t+maxSerialLead, prev):
		return prev + 1, false
	}
	return prev, true
}

// serialDue is when a change waiting on serial (pending from nextSerial) can
// have the next one.
func serialDue(serial uint32) time.Time {
	return time.Unix(int64(serial)+1-maxSerialLead, 0)
}

// sameNames reports whether two sets of levels give the same names (the same
// suffixes falling back to the same parents): indices and members may differ.
func sameNames(a, b map[string]*level) bool {
	return maps.EqualFunc(a, b, func(x, y *level) bool { return x.parent == y.parent })
}

// sameAnswers reports whether two versions of a Service's answers transfer the
// same records.
func sameAnswers(a, b *serviceAnswers) bool {
	if a == nil || b == nil {
		return a == b
	}
	if len(a.levels) != len(b.levels) {
		return false
	}
	for i := range a.levels {
		x, y := nodeRecords(a.levels[i]), nodeRecords(b.levels[i])
		if len(x) != len(y) {
			return false
		}
		for j := range x {
			if !dns.IsDuplicate(x[j], y[j]) {
				return false
			}
		}
	}
	return true
}

func sameLevels(a, b map[string]*level) bool {
	return maps.EqualFunc(a, b, func(x, y *level) bool {
		return x.parent == y.parent && x.index == y.index && slices.Equal(x.members, y.members)
	})
}

// fixedNames returns the names that exist apart from services: the apex, the
// name servers, and the empty non-terminals above every level and every
// in-zone name server (RFC 8020: an NXDOMAIN there would deny the name below).
func (b *builder) fixedNames(levels map[string]*level) map[string]*node {
	names := map[string]*node{}
	nonTerminals := func(rel string) {
		for s := rel; s != ""; {
			if names[s] == nil {
				names[s] = emptyNode
			}
			_, s, _ = strings.Cut(s, ".")
		}
	}
	for suffix := range levels {
		nonTerminals(suffix)
	}
	names[""] = emptyNode // the apex; SOA and NS are answered from the Snapshot
	glue := map[string][]netip.Addr{}
	for i := range b.ns {
		if rel, ok := strings.CutSuffix(b.ns[i].name, b.zone); ok {
			glue[rel] = append(glue[rel], b.ns[i].addrs...)
		}
	}
	for rel, addrs := range glue {
		_, above, _ := strings.Cut(rel, ".")
		nonTerminals(above)
		// A name server named like the apex gives the apex its addresses.
		names[rel] = b.glue(nameServer{name: rel + b.zone, addrs: slices.Compact(slices.SortedFunc(slices.Values(addrs), netip.Addr.Compare))})
	}
	return names
}

// service builds the answers of the Service namespace/name at every level, or
// returns nil when no member has it.
func (b *builder) service(key string, s *Snapshot) *serviceAnswers {
	ns, name, _ := strings.Cut(key, "/")
	if len(b.namespaces) > 0 && !slices.Contains(b.namespaces, ns) {
		return nil
	}
	var refused []refusal
	var ignored []annotationError
	var names []string // the ingress hostnames of every shard
	defer func() {
		b.refused.note(b.server, key, refused)
		b.ignored.note(b.server, key, ignored)
		b.hostnames.done(key, names)
	}()
	shards, usables := b.scratchShards[:0], b.scratchUsable[:0]
	for _, m := range b.members {
		st := m.Status()
		if !st.Synced {
			continue
		}
		svc, ready, ok := m.src.Service(key)
		if !ok {
			continue
		}
		sh := Shard{Member: m.m.Name, ServiceState: svc, Ready: ready}
		if svc.LoadBalancer {
			// Refused addresses leave before the shard is built: health checks
			// see only the shard, so they are never probed either.
			ingress, hostnames := b.resolveHostnames(svc, &sh, &names)
			sh.Addrs = filterIngress(b.ingress, m.m.Name, ingress, hostnames, &refused)
		}
		var errs []annotationError
		sh.traffic, errs = trafficOf(&sh, b.drain)
		ignored = append(ignored, errs...)
		var usable []netip.Addr
		if sh.Healthy() {
			usable = b.usable(&sh, st)
		}
		shards = append(shards, sh)
		usables = append(usables, usable)
	}
	b.scratchShards, b.scratchUsable = shards, usables
	if len(shards) == 0 {
		return nil
	}
	sa := &serviceAnswers{key: key, levels: make([]*node, len(s.levels)),
		shards: slices.Clone(shards), usable: slices.Clone(usables)}
	clear(shards) // the scratch must not keep the last Service's strings alive
	clear(usables)
	all := sa.allUsable()

	// Parents before children: global, then regions, then zones (level.index order).
	byIndex := make([]*level, len(s.levels))
	for _, l := range s.levels {
		byIndex[l.index] = l
	}
	owners := b.owners(name+"."+ns+"."+s.fed+".svc.", byIndex)
	b.levelShards = slices.Grow(b.levelShards[:0], len(byIndex))[:len(byIndex)]
	defer clear(b.levelShards) // the scratch must not keep this Service's shards alive
	for _, lvl := range byIndex {
		owner := owners[lvl.index]
		shards := selectShards(b.usableAt(all, lvl.members))
		b.levelShards[lvl.index] = shards
		var n *node
		switch {
		case len(shards) > 0:
			n = b.levelNode(owner, shards)
			if lvl.global && b.geoBuild != nil {
				n.answer = b.geoBuild.picker(owner, shards, n.answer, b.answer)
			}
		case lvl.global:
			n = emptyNode
		default:
			n = &node{}
		}
		if !lvl.global {
			parent := s.levels[lvl.parent].index
			b.fallBack(n, owner, owners[parent], sa.levels[parent], lvl, s)
		}
		sa.levels[lvl.index] = n
	}
	sa.srv = b.srvPorts(sa.shards)
	return sa
}

// owners returns the names of a Service at the levels (by index), prefix being
// "SERVICE.NAMESPACE.FEDERATION.svc.". They are substrings of one string: a
// snapshot holds a name per Service and level, and one allocation per Service
// wastes no space to rounding.
func (b *builder) owners(prefix string, levels []*level) []string {
	buf := b.scratchNames[:0]
	for _, l := range levels {
		buf = append(append(append(buf, prefix...), l.suffix...), b.zone...)
	}
	b.scratchNames = buf
	all := string(buf)
	owners := make([]string, len(levels))
	for i, l := range levels {
		n := len(prefix) + len(l.suffix) + len(b.zone)
		owners[i], all = all[:n], all[n:]
	}
	return owners
}

// fallBack makes n, a region's or zone's node, an alias of parent (named
// target) when it has no address at all. A level with addresses of one family
// only borrows the other family from the nearest level above that has it (see
// borrow): a name owns either a CNAME or addresses, never both (RFC 2181 §10.1).
// lvl is n's level.
func (b *builder) fallBack(n *node, owner, target string, parent *node, lvl *level, s *Snapshot) {
	n.parent = parent
	if n.answer != nil {
		b.borrow(n, owner, lvl, s)
		return
	}
	n.cname = &dns.CNAME{Hdr: b.hdr(owner, dns.TypeCNAME), Target: target}
}

// has reports whether n has usable addresses of family f.
func (n *node) has(f int) bool {
	if f == family4 {
		return n.all.nA > 0
	}
	return len(n.all.rrs) > n.all.nA
}

// allUsable returns the usable shards of sa, in shard order.
func (sa *serviceAnswers) allUsable() []usableShard {
	n := 0
	for _, u := range sa.usable {
		if len(u) > 0 {
			n++
		}
	}
	out := make([]usableShard, 0, n)
	for i := range sa.shards {
		if len(sa.usable[i]) > 0 {
			out = append(out, usableShard{shard: &sa.shards[i], addrs: sa.usable[i]})
		}
	}
	return out
}

// levelShards returns the shards level l answers from: usable, not drained
// and of the best priority, as the build chose them. Status and explain use it;
// the snapshot does not keep them per node.
func (sa *serviceAnswers) levelShards(l *level) []usableShard {
	var b builder // its scratch only
	return selectShards(b.usableAt(sa.allUsable(), l.members))
}

// usableAt returns the usable shards of the members: a subslice of all (the
// Service's usable shards) when they are consecutive in it, as a zone's one
// shard always is, else a new slice of exact size. Levels share all's array.
func (b *builder) usableAt(all []usableShard, members []string) []usableShard {
	idx := b.scratchIndex[:0]
	for i := range all {
		if slices.Contains(members, all[i].shard.Member) {
			idx = append(idx, i)
		}
	}
	b.scratchIndex = idx
	if len(idx) == 0 {
		return nil
	}
	first, last := idx[0], idx[len(idx)-1]
	if last-first+1 == len(idx) {
		return all[first : last+1 : last+1]
	}
	out := make([]usableShard, len(idx))
	for k, i := range idx {
		out[k] = all[i]
	}
	return out
}

// levelNode is the node of a level with usable shards: the policy decides what
// each query gets.
func (b *builder) levelNode(owner string, shards []usableShard) *node {
	n := &node{all: b.records(owner, addrsOf(shards))}
	n.answer = b.policy.prepare(owner, shards, &n.all, b.answer)
	return n
}

// answer is the recordMaker of policies: the records of the shards within
// max_answers, by weight when they have weights.
func (b *builder) answer(owner string, shards []usableShard) picker {
	if weighted(shards) {
		return newWeightedPicker(owner, shards, b.shardAnswer)
	}
	all := b.records(owner, addrsOf(shards))
	return limit(&all, b.maxAnswers)
}

// shardAnswer is the records of one shard within max_answers.
func (b *builder) shardAnswer(owner string, s usableShard) picker {
	all := b.records(owner, s.addrs)
	return limit(&all, b.maxAnswers)
}

// records makes the address records of owner, A before AAAA.
func (b *builder) records(owner string, addrs []netip.Addr) rrset {
	if len(addrs) == 1 {
		return b.record(owner, addrs[0])
	}
	addrs = slices.SortedFunc(slices.Values(addrs), netip.Addr.Compare)
	nA := 0
	for _, a := range addrs {
		if a.Is4() {
			nA++
		}
	}
	// One allocation each for the records of a type and for their addresses,
	// instead of two per record: a snapshot holds millions of them.
	s := rrset{rrs: make([]dns.RR, 0, len(addrs)), nA: nA}
	as, aaaas := make([]dns.A, nA), make([]dns.AAAA, len(addrs)-nA)
	ip := make([]byte, 4*nA+16*(len(addrs)-nA))
	for _, a := range addrs {
		if a.Is4() {
			r := &as[0]
			as = as[1:]
			v := a.As4()
			r.Hdr, r.A = b.hdr(owner, dns.TypeA), ip[:4:4]
			ip = ip[copy(ip, v[:]):]
			s.rrs = append(s.rrs, r)
		} else {
			r := &aaaas[0]
			aaaas = aaaas[1:]
			v := a.As16()
			r.Hdr, r.AAAA = b.hdr(owner, dns.TypeAAAA), ip[:16:16]
			ip = ip[copy(ip, v[:]):]
			s.rrs = append(s.rrs, r)
		}
	}
	return s
}

// oneA and oneAAAA are the set of one address record in one allocation: a
// zone's one shard with one address, the most common set of a snapshot.
type oneA struct {
	rrs [1]dns.RR
	rr  dns.A
	ip  [4]byte
}

type oneAAAA struct {
	rrs [1]dns.RR
	rr  dns.AAAA
	ip  [16]byte
}

// record makes the set of owner's one address a.
func (b *builder) record(owner string, a netip.Addr) rrset {
	if a.Is4() {
		o := &oneA{ip: a.As4()}
		o.rr = dns.A{Hdr: b.hdr(owner, dns.TypeA), A: o.ip[:]}
		o.rrs[0] = &o.rr
		return rrset{rrs: o.rrs[:], nA: 1}
	}
	o := &oneAAAA{ip: a.As16()}
	o.rr = dns.AAAA{Hdr: b.hdr(owner, dns.TypeAAAA), AAAA: o.ip[:]}
	o.rrs[0] = &o.rr
	return rrset{rrs: o.rrs[:]}
}

func (b *builder) hdr(owner string, t uint16) dns.RR_Header {
	return dns.RR_Header{Name: owner, Rrtype: t, Class: dns.ClassINET, Ttl: b.ttl}
}
