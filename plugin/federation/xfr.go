package federation

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/coredns/coredns/plugin/transfer"

	"github.com/miekg/dns"
)

// firstSnapshotSlack is how long after startup_timeout a transfer still waits
// for the first snapshot: the build that follows the last member's timeout.
const firstSnapshotSlack = 5 * time.Second

// Transfer implements transfer.Transferer: the zone as it is in the published
// snapshot (see journal.go), for secondaries and for rendering a zone file of
// the same answers. Levels that fall back are sent as their CNAME; a level with
// addresses of one family only is sent with those and the other family's
// addresses it answers from a level above (family.go). Empty non-terminals,
// and the global name of a Service healthy nowhere, have no records. An IXFR from a serial the journal reaches gets
// the differences since (RFC 1995); from an older one, the whole zone.
//
// A transfer asked for before the first snapshot (members still syncing) waits
// for it, at most startup_timeout and a few seconds, instead of failing: a
// secondary whose first transfer fails waits the SOA retry interval before it
// asks again, and a transfer is a slow exchange anyway. Not being ready is not
// "not authoritative": that would hand the zone to the next plugin.
func (f *Federation) Transfer(zone string, serial uint32) (<-chan []dns.RR, error) {
	if zone != f.Zone {
		return nil, transfer.ErrNotAuthoritative
	}
	e := f.running()
	snap, deltas, incremental := e.journal.since(serial)
	if snap == nil {
		timeout := time.NewTimer(f.StartupTimeout + firstSnapshotSlack)
		defer timeout.Stop()
		select {
		case <-e.built:
			snap, deltas, incremental = e.journal.since(serial)
		case <-timeout.C:
			return nil, fmt.Errorf("zone %s not transferred: no snapshot yet, members still syncing", f.Zone)
		}
	}
	ch := make(chan []dns.RR, 16)
	go func() {
		defer close(ch)
		ch <- snap.soa
		switch {
		case serial != 0 && !serialNewer(snap.Serial, serial):
			return // IXFR from a current serial: the SOA alone says "up to date"
		case serial != 0 && incremental:
			for _, d := range deltas {
				ch <- []dns.RR{d.from}
				ch <- d.del
				ch <- []dns.RR{d.to}
				ch <- d.add
			}
		default:
			ch <- snap.ns
			ch <- snap.glue
			for _, key := range slices.Sorted(maps.Keys(snap.services)) {
				for _, n := range snap.services[key].levels {
					if rrs := nodeRecords(n); len(rrs) > 0 {
						ch <- rrs
					}
				}
			}
		}
		ch <- snap.soa
	}()
	return ch, nil
}

// nodeRecords returns what a zone transfer sends for n: its CNAME when it falls
// back, else every usable address (no answer policy applies to a secondary).
func nodeRecords(n *node) []dns.RR {
	switch {
	case len(n.all.rrs) > 0:
		return n.all.rrs
	case n.cname != nil:
		return []dns.RR{n.cname}
	}
	return nil
}

// serialNewer reports whether a is newer than b in RFC 1982 serial arithmetic.
func serialNewer(a, b uint32) bool { return a != b && a-b < 1<<31 }
