package federation

import (
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// SRV records of named ports, as the kubernetes plugin answers them:
// _PORT._PROTO.S.N.F.svc.LEVEL.DOMAIN has an SRV record (priority 0, weight
// 100) whose target is the level's own name S.N.F.svc.LEVEL.DOMAIN and whose
// port is the Service's named port. A level without usable shards is an alias
// (CNAME) of the same port at the level above, as the address names are. A
// port or protocol no member's Service has: NXDOMAIN. The additional section
// carries the target's addresses.

// Port is a named port of a Service: its name and protocol, lower case.
type Port struct {
	Name     string
	Protocol string // "tcp", "udp" or "sctp"
	Port     int32
}

// srvPort is one SRV name of a Service: "_name._proto" and its port
// numbers, sorted; one per member whose Service differs.
type srvPort struct {
	key   string
	ports []uint16
}

// srvKey is the first two labels of a port's names: "_name._proto".
func srvKey(p Port) string { return "_" + p.Name + "._" + p.Protocol }

// srvPorts returns the named ports of the shards, by srvKey. Only these are
// kept per Service: the SRV records of a level are made when asked (srvReply),
// since SRV queries are few and a record set per port and level would cost
// more memory than every address answer of the Service.
func (b *builder) srvPorts(shards []Shard) []srvPort {
	var out []srvPort
	for _, sh := range shards {
		for _, p := range sh.Ports {
			if p.Name == "" {
				continue // an unnamed port has no SRV name (kubernetes plugin)
			}
			k := [2]string{p.Name, p.Protocol}
			key, ok := b.srvKeys[k]
			if !ok {
				if b.srvKeys == nil {
					b.srvKeys = map[[2]string]string{}
				}
				key = srvKey(p)
				b.srvKeys[k] = key
			}
			i := slices.IndexFunc(out, func(sp srvPort) bool { return sp.key == key })
			if i < 0 {
				out = append(out, srvPort{key: key})
				i = len(out) - 1
			}
			if !slices.Contains(out[i].ports, uint16(p.Port)) {
				out[i].ports = append(out[i].ports, uint16(p.Port))
			}
		}
	}
	for i := range out {
		slices.Sort(out[i].ports)
		out[i].ports = slices.Clip(out[i].ports)
	}
	return slices.Clip(out)
}

// capFamilies returns the first max records of each family of s (all when max
// is 0), with len == cap.
func capFamilies(s *rrset, max int) []dns.RR {
	a, aaaa := s.a(), s.aaaa()
	if max > 0 {
		a, aaaa = a[:min(len(a), max)], aaaa[:min(len(aaaa), max)]
	}
	out := append(slices.Clip(a), aaaa...)
	return out[:len(out):len(out)]
}

// srvName is an SRV name that exists: a named port of a Service at a level.
type srvName struct {
	sa     *serviceAnswers
	port   *srvPort
	lvl    *level
	prefix string // "S.N.F.svc."
}

// lookupSRV finds the SRV name rel (relative to the zone); ok is false when
// rel is not of the form _PORT._PROTO.S.N.F.svc.LEVEL. A nil name with ok
// true is a name that does not exist. It does not allocate.
func (s *Snapshot) lookupSRV(rel string) (n srvName, found, ok bool) {
	if !strings.HasPrefix(rel, "_") {
		return n, false, false
	}
	i := strings.IndexByte(rel, '.')
	if i < 0 || i+1 >= len(rel) || rel[i+1] != '_' {
		return n, false, false
	}
	j := strings.IndexByte(rel[i+1:], '.')
	if j < 0 {
		return n, false, false
	}
	key, rest := rel[:i+1+j], rel[i+2+j:]
	prefix, lvl, found := s.splitLevel(rest)
	if !found || strings.Count(prefix, ".") != 3 {
		return n, false, true
	}
	// prefix is "S.N.F."
	p := prefix[:len(prefix)-1]
	dot := strings.LastIndexByte(p, '.')
	if p[dot+1:] != s.fed {
		return n, false, true
	}
	sa := s.services[p[:dot]]
	if sa == nil {
		return n, false, true
	}
	for k := range sa.srv {
		if sa.srv[k].key == key {
			return srvName{sa: sa, port: &sa.srv[k], lvl: lvl, prefix: prefix + "svc."}, true, true
		}
	}
	return n, false, true
}

// srvReply fills m's sections for a qtype query of the SRV name n: the SRV
// records (SRV, ANY) with the target's addresses, or the CNAME chain up to
// them, following the address names' chain: a level without usable shards is
// an alias of the same port at the level above.
func (s *Snapshot) srvReply(n srvName, m *dns.Msg, qtype uint16) answerKind {
	lvl, at := n.lvl, n.sa.levels[n.lvl.index]
	if at.answer == nil && at.cname == nil {
		m.Ns = s.negSOA // the global level without usable shards
		return kindNODATA
	}
	hdr := func(owner string, t uint16) dns.RR_Header {
		return dns.RR_Header{Name: owner, Rrtype: t, Class: dns.ClassINET, Ttl: s.ttl}
	}
	target := n.prefix + lvl.suffix + s.zone
	owner := n.port.key + "." + target
	var chain []dns.RR
	for at.answer == nil && at.cname != nil {
		up := s.levels[lvl.parent]
		target = n.prefix + up.suffix + s.zone
		next := n.port.key + "." + target
		chain = append(chain, &dns.CNAME{Hdr: hdr(owner, dns.TypeCNAME), Target: next})
		if qtype == dns.TypeCNAME {
			m.Answer = chain
			return kindCNAME
		}
		owner, lvl, at = next, up, at.parent
	}
	kind := kindA
	if chain != nil {
		kind = kindCNAME
	}
	if (qtype == dns.TypeSRV || qtype == dns.TypeANY) && at.answer != nil {
		for _, port := range n.port.ports {
			chain = append(chain, &dns.SRV{Hdr: hdr(owner, dns.TypeSRV), Priority: 0, Weight: 100, Port: port, Target: target})
		}
		m.Answer = chain
		m.Extra = capFamilies(&at.all, s.maxAnswers)
		return kind
	}
	m.Answer = chain
	m.Ns = s.negSOA
	if chain == nil {
		return kindNODATA
	}
	return kind
}
