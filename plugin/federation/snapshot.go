package federation

import (
	"net/netip"
	"strings"

	"github.com/coredns/coredns/request"
	"github.com/miekg/dns"
)

// Snapshot is an immutable view of the federation, built whenever a source
// changes. ServeDNS only reads it: every answer is precomputed.
type Snapshot struct {
	Serial      uint32
	bumpPending bool // the content changed within the serial's second: bump it at the next

	fed      string                     // federation name, lower case
	levels   map[string]*level          // key: the labels after "svc." relative to the zone ("" = global)
	services map[string]*serviceAnswers // key: "service.namespace", as in the query name
	spaces   map[string]int             // namespace -> federated services in it
	names    map[string]*node           // every other existing name relative to the zone ("" = apex)

	soa  []dns.RR // the SOA, for the authority section of negative answers
	ns   []dns.RR // the apex NS records
	glue []dns.RR // their in-zone addresses
}

// level is one place a service name can be asked for: global, a region or a zone.
type level struct {
	suffix  string   // e.g. "", "us-central1.", "us-central1-b.", "us-central1-b.us-central1."
	parent  string   // suffix of the level a CNAME fallback points to; unused for global
	members []string // members whose shards count here
	global  bool
	depth   int // 0 global, 1 region, 2 zone: parents are built first
	index   int // position of this level's node in serviceAnswers.levels
}

// serviceAnswers holds the precomputed answers of one federated Service.
type serviceAnswers struct {
	key    string  // namespace/name
	levels []*node // by level.index
	shards []Shard
	usable [][]netip.Addr // per shard: the addresses answered
}

// node is one existing name. It either has addresses (possibly none: NODATA) or
// is an alias (CNAME) of its parent level's node. Whole answers are assembled
// from the chain when asked, into the one slice a response needs anyway, so the
// snapshot stores every record once.
type node struct {
	shards []usableShard // the usable shards the answer is chosen from
	all    *rrset        // every usable address: what a zone transfer sends
	answer picker        // nil: no addresses (NODATA)
	cname  dns.RR        // non-nil: this name is an alias of parent
	parent *node
}

// emptyNode answers NODATA for every type: empty non-terminals and names with no
// data of their own.
var emptyNode = &node{}

// answerKind labels answers in metrics.
type answerKind string

const (
	kindA        answerKind = "a"
	kindCNAME    answerKind = "cname"
	kindNODATA   answerKind = "nodata"
	kindNXDOMAIN answerKind = "nxdomain"
	kindSERVFAIL answerKind = "servfail"
	kindRefused  answerKind = "refused"
)

// records returns the terminal records of n for the query (following no alias).
// loc is the client's location when geo answers are on, else nil.
func (n *node) records(state *request.Request, loc *location, qtype uint16) []dns.RR {
	if n.answer == nil || (qtype != dns.TypeA && qtype != dns.TypeANY && qtype != dns.TypeAAAA) {
		return nil
	}
	var set *rrset
	if g, ok := n.answer.(*geoPicker); ok && loc != nil {
		set = g.pickAt(state, loc, qtype == dns.TypeAAAA)
	} else {
		set = n.answer.pick(state)
	}
	if qtype == dns.TypeAAAA {
		return set.aaaa()
	}
	return set.a()
}

// answer assembles the answer section for qtype into a new slice: the CNAME
// chain (RFC 1034 §4.3.2: in-zone aliases are chased by the server) and the
// records at its end. nodata reports an empty end, for the SOA in the authority.
func (n *node) reply(state *request.Request, loc *location, qtype uint16) (rrs []dns.RR, nodata bool, kind answerKind) {
	if qtype == dns.TypeCNAME {
		if n.cname == nil {
			return nil, true, kindNODATA
		}
		return []dns.RR{n.cname}, false, kindCNAME
	}
	size, end := 0, n
	for ; end.cname != nil; end = end.parent {
		size++
	}
	last := end.records(state, loc, qtype)
	size += len(last)
	if size > 0 {
		rrs = make([]dns.RR, 0, size)
		for x := n; x.cname != nil; x = x.parent {
			rrs = append(rrs, x.cname)
		}
		rrs = append(rrs, last...)
	}
	switch {
	case n.cname != nil:
		kind = kindCNAME
	case len(last) > 0:
		kind = kindA
	default:
		kind = kindNODATA
	}
	return rrs, len(last) == 0, kind
}

// lookup finds the answers for rel, the query name relative to the zone (with a
// trailing dot, "" for the apex). It does not allocate: keys are substrings of rel.
func (s *Snapshot) lookup(rel string) *node {
	// Find "svc" among the first four labels such that what follows is a level;
	// the labels before it are (service, namespace, federation).
	start := 0
	for i := 0; i < 4 && start < len(rel); i++ {
		end := strings.IndexByte(rel[start:], '.')
		if end < 0 {
			break
		}
		end += start
		if rel[start:end] == "svc" {
			if lvl, ok := s.levels[rel[end+1:]]; ok {
				return s.lookupService(rel[:start], lvl)
			}
		}
		start = end + 1
	}
	return s.names[rel]
}

// lookupService resolves prefix ("", "F.", "N.F." or "S.N.F.") at a level.
func (s *Snapshot) lookupService(prefix string, lvl *level) *node {
	if prefix == "" {
		return emptyNode
	}
	p := prefix[:len(prefix)-1]
	dot := strings.LastIndexByte(p, '.')
	if p[dot+1:] != s.fed {
		return nil
	}
	if dot < 0 {
		return emptyNode // F.svc.LEVEL
	}
	p = p[:dot] // "N" or "S.N"
	dot = strings.IndexByte(p, '.')
	if dot < 0 {
		if s.spaces[p] > 0 {
			return emptyNode // N.F.svc.LEVEL
		}
		return nil
	}
	sa := s.services[p]
	if sa == nil {
		return nil
	}
	return sa.levels[lvl.index]
}
