package federation

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"github.com/miekg/dns"
)

// Traffic policy: which usable shards of a level are answered, and how often.
// A shard's weight, priority and drain come from annotations of its Service in
// its member, and drain also from the Corefile (drain MEMBER...). They apply in
// the answer step in this order, after the health checks:
//
//	drain    -> a drained shard is never answered, though its endpoints are ready
//	priority -> a level answers its shards of the best (lowest) priority only
//	geo      -> the global name by client location (geo.go)
//	weight   -> one shard per query, chosen in proportion to the weights
//
// A drained or lower-priority shard still counts as healthy (metrics, status):
// it is left out of the answers, not broken. A level left with no shard falls
// back to the level above, as one without healthy shards does.

// Service annotations of the traffic policy.
const (
	AnnotationWeight   = AnnotationPrefix + "weight"   // 1..maxWeight; default defaultWeight
	AnnotationPriority = AnnotationPrefix + "priority" // 0..maxPriority, lower is preferred; default 0
	AnnotationDrain    = AnnotationPrefix + "drain"    // "true" or "false"
)

const (
	defaultWeight = 100
	maxWeight     = 1000
	maxPriority   = 1000
)

// traffic is the policy of one shard, in 8 bytes: a snapshot keeps one per
// shard.
type traffic struct {
	weight   uint16  // 1..maxWeight
	priority uint16  // lower is preferred
	weighted bool    // the weight was set by an annotation
	drained  drainer // who drained the shard; 0: not drained
}

// drainer is who drained a shard: by annotation or by the Corefile.
type drainer uint8

const (
	drainedByAnnotation drainer = iota + 1
	drainedByCorefile
)

func (d drainer) String() string {
	switch d {
	case drainedByAnnotation:
		return "annotation"
	case drainedByCorefile:
		return "Corefile"
	}
	return ""
}

// annotationError is an annotation value of a shard that was ignored.
type annotationError struct {
	member, annotation, value, reason string
}

// trafficOf returns the traffic policy of sh from its annotations and the
// members the Corefile drains. A bad value is ignored (the default applies) and
// returned in errs.
func trafficOf(sh *Shard, drain []string) (t traffic, errs []annotationError) {
	t.weight = defaultWeight
	bad := func(key, reason string) {
		errs = append(errs, annotationError{member: sh.Member, annotation: key, value: sh.Annotations[key], reason: reason})
	}
	if v, ok := sh.Annotations[AnnotationWeight]; ok {
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err != nil || n < 1 || n > maxWeight {
			bad(AnnotationWeight, "not an integer from 1 to "+strconv.Itoa(maxWeight)+" (drain takes a shard out)")
		} else {
			t.weight, t.weighted = uint16(n), true
		}
	}
	if v, ok := sh.Annotations[AnnotationPriority]; ok {
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err != nil || n < 0 || n > maxPriority {
			bad(AnnotationPriority, "not an integer from 0 to "+strconv.Itoa(maxPriority))
		} else {
			t.priority = uint16(n)
		}
	}
	if v, ok := sh.Annotations[AnnotationDrain]; ok {
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "true":
			t.drained = drainedByAnnotation
		case "false":
		default:
			bad(AnnotationDrain, `neither "true" nor "false"`)
		}
	}
	if slices.Contains(drain, sh.Member) {
		t.drained = drainedByCorefile
	}
	return t, errs
}

// describe says, for the status page and explain, what the traffic policy
// does to a shard: "" when it has no say.
func (t traffic) describe() string {
	var s string
	if t.drained != 0 {
		s += "; drained by " + t.drained.String() + ": not answered"
	}
	if t.priority != 0 {
		s += "; priority " + strconv.Itoa(int(t.priority))
	}
	if t.weighted {
		s += "; weight " + strconv.Itoa(int(t.weight))
	}
	return s
}

// selectShards returns the shards of a level that are answered: not drained,
// and of the best priority among those.
func selectShards(shards []usableShard) []usableShard {
	best, n := uint16(maxPriority+1), 0
	for _, s := range shards {
		if t := s.shard.traffic; t.drained == 0 {
			n++
			best = min(best, t.priority)
		}
	}
	if n == len(shards) && !slices.ContainsFunc(shards, func(s usableShard) bool { return s.shard.traffic.priority != best }) {
		return shards // the common case: nothing left out, nothing copied
	}
	var out []usableShard
	for _, s := range shards {
		if t := s.shard.traffic; t.drained == 0 && t.priority == best {
			out = append(out, s)
		}
	}
	return out
}

// weighted reports whether the shards are answered by weight: more than one,
// and some with a weight annotation. Without one every shard is answered, as
// before weights existed.
func weighted(shards []usableShard) bool {
	return len(shards) > 1 && slices.ContainsFunc(shards, func(s usableShard) bool { return s.shard.traffic.weighted })
}

// weightedPicker answers one shard per query, chosen at random in proportion
// to the shards' weights; each address family has its own table of the shards
// that have addresses of it, so that an AAAA query never lands on a shard
// without IPv6 addresses.
type weightedPicker struct {
	family [2]weightTable
}

// weightTable is the cumulative weights of the shards of one family.
type weightTable struct {
	cum   []uint32 // cum[i]: the weights of shards 0..i
	shard []picker // the shard's own records, within max_answers
}

// newWeightedPicker prepares the weighted answers of shards; rr makes the
// records of one shard's addresses.
func newWeightedPicker(owner string, shards []usableShard, rr func(owner string, s usableShard) picker) *weightedPicker {
	p := &weightedPicker{}
	for _, s := range shards {
		own := rr(owner, s)
		var has [2]bool
		for _, a := range s.addrs {
			has[familyOf(a.Is4())] = true
		}
		for f := range has {
			if !has[f] {
				continue
			}
			t := &p.family[f]
			var sum uint32
			if len(t.cum) > 0 {
				sum = t.cum[len(t.cum)-1]
			}
			t.cum = append(t.cum, sum+uint32(s.shard.traffic.weight))
			t.shard = append(t.shard, own)
		}
	}
	return p
}

func familyOf(is4 bool) int {
	if is4 {
		return family4
	}
	return family6
}

func (p *weightedPicker) pick(loc *location, v6 bool) []dns.RR {
	t := &p.family[familyOf(!v6)]
	if len(t.cum) == 0 {
		return nil
	}
	x := rand.Uint32N(t.cum[len(t.cum)-1])
	i := 0
	for t.cum[i] <= x {
		i++
	}
	return t.shard[i].pick(loc, v6)
}

// trafficLog remembers the ignored annotations of every Service, so that each
// is logged and counted once, when it appears, not at every rebuild. Only the
// build loop uses it.
type trafficLog struct {
	seen map[string]map[annotationError]struct{} // by Service namespace/name
}

// note records the ignored annotations of Service key found by the latest
// build: new ones are logged and counted.
func (l *trafficLog) note(server, key string, errs []annotationError) {
	if l == nil {
		return
	}
	if len(errs) == 0 {
		delete(l.seen, key)
		return
	}
	old := l.seen[key]
	cur := make(map[annotationError]struct{}, len(errs))
	for _, e := range errs {
		cur[e] = struct{}{}
		if _, ok := old[e]; ok {
			continue
		}
		annotationErrors.WithLabelValues(server, e.annotation).Inc()
		log.Warningf("Service %s in member %s: annotation %s=%q ignored: %s; the default applies", key, e.member, e.annotation, e.value, e.reason)
	}
	if l.seen == nil {
		l.seen = map[string]map[annotationError]struct{}{}
	}
	l.seen[key] = cur
}
