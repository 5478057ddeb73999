package federation

import (
	"net/netip"
	"strings"

	"github.com/miekg/dns"
)

// Snapshot is an immutable view of the federation, built whenever a source
// changes. ServeDNS only reads it: every answer is precomputed.
type Snapshot struct {
	Serial uint32

	fed      string                     // federation name, lower case
	levels   map[string]*level          // key: the labels after "svc." relative to the zone ("" = global)
	services map[string]*serviceAnswers // key: "service.namespace", as in the query name
	spaces   map[string]int             // namespace -> federated services in it
	names    map[string]*nodeAnswers    // every other existing name relative to the zone ("" = apex)

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
}

// answerKey selects a precomputed answer: the level and the client's region. The
// empty client region means "any client"; per-region answers (geo) can be added
// beside it without changing the lookup.
type answerKey struct {
	Level  string
	Client string
}

// serviceAnswers holds the precomputed answers of one federated Service.
type serviceAnswers struct {
	key    string // namespace/name
	levels map[answerKey]*nodeAnswers
	shards []Shard
	usable [][]netip.Addr // per shard: the addresses answered
}

// nodeAnswers holds the answer sections of one name for each kind of question.
type nodeAnswers struct {
	a, aaaa, cname, other rrset
	kind                  answerKind
}

// rrset is the answer section for one qtype; nodata adds the SOA to the authority.
type rrset struct {
	rr     []dns.RR
	nodata bool
}

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

// emptyNode answers NODATA for every type: empty non-terminals and names with no
// data of their own.
var emptyNode = &nodeAnswers{
	a: rrset{nodata: true}, aaaa: rrset{nodata: true}, cname: rrset{nodata: true}, other: rrset{nodata: true},
	kind: kindNODATA,
}

// pick returns the rrset for qtype.
func (n *nodeAnswers) pick(qtype uint16) *rrset {
	switch qtype {
	case dns.TypeA, dns.TypeANY:
		return &n.a
	case dns.TypeAAAA:
		return &n.aaaa
	case dns.TypeCNAME:
		return &n.cname
	}
	return &n.other
}

// lookup finds the answers for rel, the query name relative to the zone (with a
// trailing dot, "" for the apex). It does not allocate: keys are substrings of rel.
func (s *Snapshot) lookup(rel, client string) *nodeAnswers {
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
				return s.lookupService(rel[:start], lvl.suffix, client)
			}
		}
		start = end + 1
	}
	return s.names[rel]
}

// lookupService resolves prefix ("", "F.", "N.F." or "S.N.F.") at a level.
func (s *Snapshot) lookupService(prefix, level, client string) *nodeAnswers {
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
	if client != "" {
		if n := sa.levels[answerKey{level, client}]; n != nil {
			return n
		}
	}
	return sa.levels[answerKey{Level: level}]
}
