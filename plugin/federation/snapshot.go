package federation

import (
	"net/netip"
	"strings"

	"github.com/miekg/dns"
)

// Snapshot is an immutable view of the federation, built whenever a source
// changes. ServeDNS only reads it: every answer is precomputed.
type Snapshot struct {
	Serial      uint32
	bumpPending bool // the content changed within the serial's second: bump it at the next

	fed        string                     // federation name, lower case
	zone       string                     // origin, e.g. "example.com."
	ttl        uint32                     // of the records made per query (SRV)
	maxAnswers int                        // addresses of a family in an SRV reply's additional section; 0: all
	levels     map[string]*level          // key: the labels after "svc." relative to the zone ("" = global)
	services   map[string]*serviceAnswers // key: "service.namespace", as in the query name
	spaces     map[string]int             // namespace -> federated services in it
	names      map[string]*node           // every other existing name relative to the zone ("" = apex)

	soa    []dns.RR // the SOA, as the apex answers and a transfer sends it
	negSOA []dns.RR // the SOA with the negative-caching TTL, for NXDOMAIN and NODATA (RFC 2308 §3)
	ns     []dns.RR // the apex NS records
	glue   []dns.RR // their in-zone addresses
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
	srv    []srvPort      // the named ports, whose SRV names exist at every level (srv.go)
}

// node is one existing name. It either has addresses (possibly none: NODATA) or
// is an alias (CNAME) of its parent level's node. Whole answers are assembled
// from the chain when asked, into the one slice a response needs anyway, so the
// snapshot stores every record once.
//
// A level with addresses of one family only answers the other family with the
// addresses of the nearest level above that has it, under its own name
// (family.go): an IPv4-only client of a level whose shards have only IPv6
// ingress gets the IPv4 addresses a CNAME up would have led to, without the
// name owning a CNAME beside its AAAA records (RFC 2181 §10.1).
//
// A snapshot holds a node per Service and level (a million at 10,000 Services
// in 50 members), so a node is kept to 64 bytes: the shards an answer was made
// from are not kept, status and explain derive them again (levelShards).
type node struct {
	all    rrset      // every address answered here: what a zone transfer sends
	answer picker     // nil: no addresses (NODATA, or an alias when cname is set); often &all
	cname  *dns.CNAME // the CNAME to parent, when answer is nil
	parent *node      // the level above; nil for global
}

// Address families.
const (
	family4 = 0
	family6 = 1
)

// emptyNode answers NODATA for every type: empty non-terminals and names with no
// data of their own.
var emptyNode = &node{}

// answerKind labels answers in metrics.
type answerKind uint8

const (
	kindA answerKind = iota
	kindCNAME
	kindNODATA
	kindNXDOMAIN
	kindSERVFAIL
	kindRefused
	kindNotImp
	kindFormErr
	numKinds
)

// kindNames are the label values of the answer kinds.
var kindNames = [numKinds]string{"a", "cname", "nodata", "nxdomain", "servfail", "refused", "notimp", "formerr"}

func (k answerKind) String() string { return kindNames[k] }

// alias reports whether n is a CNAME for every type: a level with no usable address.
func (n *node) alias() bool { return n.cname != nil && n.answer == nil }

// next returns the node a qtype query at n continues at (the CNAME's target), or
// nil when n answers it itself.
func (n *node) next(_ uint16) *node {
	if n.cname == nil {
		return nil
	}
	return n.parent
}

// records returns the terminal records of n for the query (following no alias).
// loc is the client's location when geo answers are on, else nil. ANY gets one
// RRset (RFC 8482 §4.1): the A records, or the AAAA records when there are none.
// The slice is the snapshot's, with len == cap.
func (n *node) records(loc *location, qtype uint16) []dns.RR {
	if n.answer == nil {
		return nil
	}
	switch qtype {
	case dns.TypeA:
		return n.answer.pick(loc, false)
	case dns.TypeAAAA:
		return n.answer.pick(loc, true)
	case dns.TypeANY:
		if rrs := n.answer.pick(loc, false); len(rrs) > 0 {
			return rrs
		}
		return n.answer.pick(loc, true)
	}
	return nil
}

// reply returns the answer section for qtype: the CNAME chain (RFC 1034
// §4.3.2: in-zone aliases are chased by the server) and the records at its end.
// nodata reports an empty end, for the SOA in the authority.
//
// An answer without a chain is the snapshot's own slice, as CoreDNS's file
// plugin answers from its tree: plugins that reorder or extend a section
// (loadbalance, dnssec) copy it first, and len == cap makes an append copy. Only
// a chain is assembled into a new slice.
func (n *node) reply(loc *location, qtype uint16) (rrs []dns.RR, nodata bool, kind answerKind) {
	if qtype == dns.TypeCNAME || qtype == dns.TypeANY && n.alias() {
		// The CNAME is the alias's one RRset; a name with addresses owns none.
		if !n.alias() {
			return nil, true, kindNODATA
		}
		return []dns.RR{n.cname}, false, kindCNAME
	}
	size, end := 0, n
	for x := n.next(qtype); x != nil; x = end.next(qtype) {
		size++
		end = x
	}
	last := end.records(loc, qtype)
	switch {
	case end != n:
		kind = kindCNAME
		rrs = make([]dns.RR, 0, size+len(last))
		for x := n; x != end; x = x.next(qtype) {
			rrs = append(rrs, x.cname)
		}
		rrs = append(rrs, last...)
	case len(last) > 0:
		kind, rrs = kindA, last
	default:
		kind = kindNODATA
	}
	return rrs, len(last) == 0, kind
}

// lookup finds the answers for rel, the query name relative to the zone (with a
// trailing dot, "" for the apex). It does not allocate: keys are substrings of rel.
func (s *Snapshot) lookup(rel string) *node {
	if prefix, lvl, ok := s.splitLevel(rel); ok {
		return s.lookupService(prefix, lvl)
	}
	return s.names[rel]
}

// splitLevel finds "svc" among the first four labels of rel such that what
// follows is a level, and returns the labels before it (service, namespace,
// federation, each with its dot) and the level. It does not allocate.
func (s *Snapshot) splitLevel(rel string) (prefix string, lvl *level, ok bool) {
	start := 0
	for i := 0; i < 4 && start < len(rel); i++ {
		end := strings.IndexByte(rel[start:], '.')
		if end < 0 {
			break
		}
		end += start
		if rel[start:end] == "svc" {
			if lvl, ok := s.levels[rel[end+1:]]; ok {
				return rel[:start], lvl, true
			}
		}
		start = end + 1
	}
	return "", nil, false
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
