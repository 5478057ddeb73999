package federation

import (
	"strings"
	"sync"

	"github.com/miekg/dns"
)

// The zone as secondaries see it. Only a snapshot whose serial is final is
// published to them (not one whose change waits for the next second's serial),
// so a serial always names one content. Each publication records its difference
// from the previous one in a bounded journal, from which an IXFR (RFC 1995) is
// answered; a secondary the journal no longer reaches gets the whole zone.

// journalRecords bounds the records the journal holds; the oldest differences go first.
const journalRecords = 200_000

// delta is the difference between two published snapshots.
type delta struct {
	from, to *dns.SOA
	del, add []dns.RR
}

// journal holds the published snapshot and the recent deltas up to it.
type journal struct {
	mu        sync.Mutex
	published *Snapshot
	deltas    []delta // oldest first; deltas[i].to == deltas[i+1].from
	records   int
}

// publish makes s the snapshot secondaries see, and reports whether its serial
// is new.
func (j *journal) publish(s *Snapshot) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	prev := j.published
	if prev != nil && prev.Serial == s.Serial {
		j.published = s // the same content under the same serial (a rebuild that changed nothing)
		return false
	}
	j.published = s
	if prev == nil {
		return true
	}
	d := diff(prev, s)
	j.deltas = append(j.deltas, d)
	j.records += len(d.del) + len(d.add)
	for len(j.deltas) > 0 && j.records > journalRecords {
		j.records -= len(j.deltas[0].del) + len(j.deltas[0].add)
		j.deltas = j.deltas[1:]
	}
	return true
}

// since returns the published snapshot and the deltas from serial to it; ok is
// false when the journal does not reach back to serial.
func (j *journal) since(serial uint32) (s *Snapshot, ds []delta, ok bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	for i, d := range j.deltas {
		if d.from.Serial == serial {
			return j.published, append([]delta(nil), j.deltas[i:]...), true
		}
	}
	return j.published, nil, false
}

// current returns the published snapshot, nil before the first.
func (j *journal) current() *Snapshot {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.published
}

// diff returns the records of b that a lacks (add) and of a that b lacks (del).
// Services whose answers are shared between the two snapshots are skipped
// without a look at their records.
func diff(a, b *Snapshot) delta {
	d := delta{from: a.soa[0].(*dns.SOA), to: b.soa[0].(*dns.SOA)}
	setDiff := func(x, y []dns.RR) {
		d.del = append(d.del, minus(x, y)...)
		d.add = append(d.add, minus(y, x)...)
	}
	setDiff(append(append([]dns.RR(nil), a.ns...), a.glue...), append(append([]dns.RR(nil), b.ns...), b.glue...))
	for key, sa := range a.services {
		sb := b.services[key]
		if sa == sb {
			continue
		}
		setDiff(serviceRecords(sa), serviceRecords(sb))
	}
	for key, sb := range b.services {
		if _, ok := a.services[key]; !ok {
			setDiff(nil, serviceRecords(sb))
		}
	}
	return d
}

// serviceRecords returns what a transfer sends for a Service (nil: none).
func serviceRecords(sa *serviceAnswers) []dns.RR {
	if sa == nil {
		return nil
	}
	var out []dns.RR
	for _, n := range sa.levels {
		out = append(out, nodeRecords(n)...)
	}
	return out
}

// minus returns copies of the records of x that are not in y. The copies keep
// the journal from holding the snapshot's record arrays: a delta of a few
// records of a large level would otherwise keep the whole level's records of
// that snapshot alive, for as long as the delta stays in the journal.
func minus(x, y []dns.RR) []dns.RR {
	if len(x) == 0 {
		return nil
	}
	in := make(map[string]struct{}, len(y))
	for _, r := range y {
		in[rrKey(r)] = struct{}{}
	}
	var out []dns.RR
	for _, r := range x {
		if _, ok := in[rrKey(r)]; !ok {
			out = append(out, dns.Copy(r))
		}
	}
	return out
}

// rrKey identifies a record as dns.IsDuplicate does: owner (case-folded),
// class, type and data, not the TTL.
func rrKey(r dns.RR) string {
	h := r.Header()
	name := strings.ToLower(h.Name)
	switch v := r.(type) {
	case *dns.A:
		return name + "\x00A\x00" + string(v.A.To4())
	case *dns.AAAA:
		return name + "\x00AAAA\x00" + string(v.AAAA.To16())
	}
	c := dns.Copy(r)
	c.Header().Ttl = 0
	c.Header().Name = name
	return c.String()
}
