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

// srvNode is one existing _PORT._PROTO name at one level.
type srvNode struct {
	answer []dns.RR // the SRV records; nil: an alias of parent
	extra  []dns.RR // the target's addresses, within max_answers
	cname  dns.RR
	parent *srvNode
}

// srvKey is the first two labels of a port's names: "_name._proto".
func srvKey(p Port) string { return "_" + p.Name + "._" + p.Protocol }

// ports returns the named ports of the shards, by srvKey; one port number per
// key and member, so members that differ give several SRV records.
func portsOf(shards []Shard) map[string][]int32 {
	out := map[string][]int32{}
	for _, sh := range shards {
		for _, p := range sh.Ports {
			if p.Name == "" {
				continue // an unnamed port has no SRV name (kubernetes plugin)
			}
			k := srvKey(p)
			if !slices.Contains(out[k], p.Port) {
				out[k] = append(out[k], p.Port)
			}
		}
	}
	return out
}

// srv builds the SRV names of sa at every level, after its address nodes
// (levels in index order, parents first).
func (b *builder) srv(sa *serviceAnswers, s *Snapshot, prefix string, byIndex []*level) {
	ports := portsOf(sa.shards)
	if len(ports) == 0 {
		return
	}
	sa.srv = make(map[string][]*srvNode, len(ports))
	for key, nums := range ports {
		slices.Sort(nums)
		nodes := make([]*srvNode, len(byIndex))
		for _, lvl := range byIndex {
			n := sa.levels[lvl.index]
			target := prefix + lvl.suffix + b.zone
			owner := key + "." + target
			sn := &srvNode{}
			if n.answer != nil {
				for _, port := range nums {
					sn.answer = append(sn.answer, &dns.SRV{Hdr: b.hdr(owner, dns.TypeSRV), Priority: 0, Weight: 100, Port: uint16(port), Target: target})
				}
				sn.extra = capFamilies(n.all, b.maxAnswers)
			} else if !lvl.global {
				sn.cname = &dns.CNAME{Hdr: b.hdr(owner, dns.TypeCNAME), Target: key + "." + prefix + lvl.parent + b.zone}
				sn.parent = nodes[s.levels[lvl.parent].index]
			}
			nodes[lvl.index] = sn
		}
		sa.srv[key] = nodes
	}
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

// lookupSRV finds the SRV name rel (relative to the zone); ok is false when
// rel is not of the form _PORT._PROTO.S.N.F.svc.LEVEL. A nil node with ok
// true is a name that does not exist. It does not allocate.
func (s *Snapshot) lookupSRV(rel string) (n *srvNode, ok bool) {
	if !strings.HasPrefix(rel, "_") {
		return nil, false
	}
	i := strings.IndexByte(rel, '.')
	if i < 0 || i+1 >= len(rel) || rel[i+1] != '_' {
		return nil, false
	}
	j := strings.IndexByte(rel[i+1:], '.')
	if j < 0 {
		return nil, false
	}
	key, rest := rel[:i+1+j], rel[i+2+j:]
	prefix, lvl, found := s.splitLevel(rest)
	if !found || strings.Count(prefix, ".") != 3 {
		return nil, true
	}
	// prefix is "S.N.F."
	p := prefix[:len(prefix)-1]
	dot := strings.LastIndexByte(p, '.')
	if p[dot+1:] != s.fed {
		return nil, true
	}
	sa := s.services[p[:dot]]
	if sa == nil {
		return nil, true
	}
	nodes := sa.srv[key]
	if nodes == nil {
		return nil, true
	}
	return nodes[lvl.index], true
}

// reply fills m's sections for a qtype query of n: the SRV records (SRV, ANY)
// with the target's addresses, or the CNAME chain up to them.
func (n *srvNode) reply(m *dns.Msg, qtype uint16, negSOA []dns.RR) answerKind {
	if n.answer == nil && n.cname == nil {
		m.Ns = negSOA // the global level without usable shards
		return kindNODATA
	}
	if n.answer == nil && qtype == dns.TypeCNAME {
		m.Answer = []dns.RR{n.cname}
		return kindCNAME
	}
	end := n
	var chain []dns.RR
	for end.answer == nil && end.cname != nil {
		chain = append(chain, end.cname)
		end = end.parent
	}
	kind := kindA
	if chain != nil {
		kind = kindCNAME
	}
	if (qtype == dns.TypeSRV || qtype == dns.TypeANY) && end.answer != nil {
		if chain == nil {
			m.Answer = end.answer
		} else {
			m.Answer = append(chain, end.answer...)
		}
		m.Extra = end.extra
		return kind
	}
	m.Answer = chain
	m.Ns = negSOA
	if chain == nil {
		return kindNODATA
	}
	return kind
}
