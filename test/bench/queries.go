package bench

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
)

// QueryClass is one kind of question in the mix, with its share in percent.
type QueryClass struct {
	Name  string
	Share int
	What  string
}

// Mix is the query mix every server is asked, in percent of queries. Only
// healthy (member, Service) pairs are picked for the address classes, so the
// CNAME share is exactly the fallback class.
var Mix = []QueryClass{
	{"global", 30, "S.N.F.svc.DOMAIN A: every healthy member's address"},
	{"region", 20, "S.N.F.svc.REGION.DOMAIN A: the region's address"},
	{"zone", 12, "S.N.F.svc.ZONE.DOMAIN A (seed form)"},
	{"zone-v1", 13, "S.N.F.svc.ZONE.REGION.DOMAIN A (Federation v1 form)"},
	{"fallback", 15, "zone or region name of a not-ready shard: CNAME chain up to the global addresses"},
	{"nxdomain", 10, "unknown service, namespace or region: NXDOMAIN with the SOA"},
}

// Query is one question of the mix.
type Query struct {
	Name  string
	Class string
}

// Queries returns n questions drawn from the mix over t, reproducibly for a seed.
func Queries(t Topology, n int, seed uint64) []Query {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	total := 0
	for _, c := range Mix {
		total += c.Share
	}
	var degraded []int
	for m := range t.Clusters {
		if Degraded(m) {
			degraded = append(degraded, m)
		}
	}
	out := make([]Query, 0, n)
	for len(out) < n {
		x := r.IntN(total)
		var class string
		for _, c := range Mix {
			if x < c.Share {
				class = c.Name
				break
			}
			x -= c.Share
		}
		m := r.IntN(len(t.Clusters))
		i := r.IntN(t.Services)
		if !Ready(m, i) {
			i = (i + 1) % t.Services // a healthy shard for the address classes
		}
		region, zone := t.Clusters[m].Region, t.ZoneOf(m)
		var name string
		switch class {
		case "global":
			name = Name(i, "")
		case "region":
			name = Name(i, region+".")
		case "zone":
			name = Name(i, zone+".")
		case "zone-v1":
			name = Name(i, zone+"."+region+".")
		case "fallback":
			if len(degraded) == 0 || t.Services < 8 {
				continue
			}
			m = degraded[r.IntN(len(degraded))]
			i = 8 * r.IntN((t.Services+7)/8) // not ready in every degraded member
			region, zone = t.Clusters[m].Region, t.ZoneOf(m)
			switch r.IntN(3) {
			case 0:
				name = Name(i, region+".")
			case 1:
				name = Name(i, zone+".")
			default:
				name = Name(i, zone+"."+region+".")
			}
		case "nxdomain":
			switch r.IntN(3) {
			case 0:
				name = fmt.Sprintf("nosuch-%05d.%s.%s.svc.%s.", i, Namespace, Federation, Domain)
			case 1:
				name = fmt.Sprintf("%s.other.%s.svc.%s.", ServiceName(i), Federation, Domain)
			default:
				name = Name(i, "mars-north1.")
			}
		}
		out = append(out, Query{Name: name, Class: class})
	}
	return out
}

// WriteQueryFile writes qs in dnsperf's input format, one "NAME A" a line.
func WriteQueryFile(path string, qs []Query) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	for _, q := range qs {
		fmt.Fprintf(w, "%s A\n", q.Name)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
