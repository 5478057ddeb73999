package federation

import (
	"fmt"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/miekg/dns"
	"k8s.io/apimachinery/pkg/labels"
)

// syntheticMember is a member whose source is filled directly, as the informers
// would fill it, without an API server or a fake clientset holding full copies:
// it measures the state and answer layers alone.
func syntheticMember(name, region, zone string, services int, octet int) *memberRun {
	src := NewMemorySource()
	src.SetNode(name+"-node", Place{region, zone})
	for s := range services {
		src.SetService(ServiceState{Name: fmt.Sprintf("svc-%d", s), Namespace: "ns", LoadBalancer: true,
			Ingress: []netip.Addr{netip.AddrFrom4([4]byte{10, byte(octet), byte(s / 256), byte(s % 256)})}}, true)
	}
	return syncedRun(&Member{Name: name, Source: src})
}

// syncedRun is the federation's view of m as it is once m has synced, without
// running m's source.
func syncedRun(m *Member) *memberRun {
	r := newMemberRun(m, labels.Everything(), "", func(string) {})
	r.status.Synced, r.status.Connected = true, true
	r.refreshTopology()
	return r
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkScale builds the state of N members × 10k services and reports the
// heap it holds (member caches and snapshot), the build time, and the time of a
// lookup mix. Run with -benchtime 1x; it is synthetic by construction.
func BenchmarkScale(b *testing.B) {
	for _, clusters := range []int{4, 50} {
		b.Run(fmt.Sprintf("%dx10000", clusters), func(b *testing.B) {
			const services = 10000
			before := heapInUse()
			var members []*memberRun
			for c := range clusters {
				r := fmt.Sprintf("region-%d", c)
				members = append(members, syntheticMember(fmt.Sprintf("member-%d", c), r, r+"-a", services, c))
			}
			bld := &builder{zone: "example.com.", fed: "myfederation", ttl: 30, members: members,
				policy: allPolicy{}, usable: func(sh *Shard, _ MemberStatus) []netip.Addr { return sh.Addrs },
				ns: []nameServer{{name: "ns.dns.example.com."}}, soa: soaConfig{mname: "ns.dns.example.com.", rname: "hostmaster.example.com."}}
			start := time.Now()
			snap := bld.build(nil, nil, true, false)
			build := time.Since(start)
			heap := heapInUse() - before

			var names []string
			for i := range 64 {
				c := i % clusters
				r := fmt.Sprintf("region-%d", c)
				for _, lvl := range []string{"", r + ".", r + "-a.", r + "-a." + r + ".", "nowhere."} {
					names = append(names, fmt.Sprintf("svc-%d.ns.myfederation.svc.%s", i*97%services, lvl))
				}
			}
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if n := snap.lookup(names[i%len(names)]); n != nil {
					n.reply(nil, dns.TypeA)
				}
			}
			b.ReportMetric(float64(heap)/(1<<20), "MiB-heap")
			b.ReportMetric(build.Seconds(), "s-build")
			runtime.KeepAlive(members)
			runtime.KeepAlive(snap)
		})
	}
}
