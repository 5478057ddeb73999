package federation

import (
	"maps"
	"slices"

	"github.com/coredns/coredns/plugin/transfer"

	"github.com/miekg/dns"
)

// Transfer implements transfer.Transferer: the zone as it is in the current
// snapshot, for secondaries and for rendering a zone file of the same answers.
// Levels that fall back are sent as their CNAME; a level with addresses of one
// family only is sent with those addresses (a name cannot own a CNAME beside
// them), and its fallback for the other family is made when it is queried.
// Empty non-terminals have no records.
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
			for _, n := range snap.services[key].levels {
				switch {
				case n.all != nil:
					ch <- n.all.rrs
				case n.cname != nil:
					ch <- []dns.RR{n.cname}
				}
			}
		}
		ch <- snap.soa
	}()
	return ch, nil
}

// serialNewer reports whether a is newer than b in RFC 1982 serial arithmetic.
func serialNewer(a, b uint32) bool { return a != b && a-b < 1<<31 }
