package federation

import (
	"cmp"
	"maps"
	"slices"

	"github.com/coredns/coredns/plugin/transfer"

	"github.com/miekg/dns"
)

// Transfer implements transfer.Transferer: the zone as it is in the current
// snapshot, for secondaries and for rendering a zone file of the same answers.
// Levels that fall back are sent as their CNAME; empty non-terminals have no records.
func (f *Federation) Transfer(zone string, serial uint32) (<-chan []dns.RR, error) {
	if zone != f.Zone {
		return nil, transfer.ErrNotAuthoritative
	}
	snap := f.snapshot.Load()
	if snap == nil {
		return nil, transfer.ErrNotAuthoritative // not synced: nothing true to send yet
	}
	ch := make(chan []dns.RR, 16)
	go func() {
		defer close(ch)
		ch <- snap.soa
		if serial != 0 && !serialNewer(snap.soa[0].(*dns.SOA).Serial, serial) {
			return // IXFR from a current serial: the SOA alone says "up to date"
		}
		ch <- snap.ns
		ch <- snap.glue
		for _, key := range slices.Sorted(maps.Keys(snap.services)) {
			sa := snap.services[key]
			for _, lk := range slices.SortedFunc(maps.Keys(sa.levels), func(a, b answerKey) int {
				if a.Level != b.Level {
					return cmp.Compare(a.Level, b.Level)
				}
				return cmp.Compare(a.Client, b.Client)
			}) {
				if lk.Client != "" {
					continue // per-client answers are not part of the zone
				}
				n := sa.levels[lk]
				switch n.kind {
				case kindA:
					ch <- append(slices.Clip(n.a.rr), n.aaaa.rr...)
				case kindCNAME:
					ch <- n.cname.rr
				}
			}
		}
		ch <- snap.soa
	}()
	return ch, nil
}

// serialNewer reports whether a is newer than b in RFC 1982 serial arithmetic.
func serialNewer(a, b uint32) bool { return a != b && a-b < 1<<31 }
