package federation

import (
	"fmt"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/miekg/dns"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes/fake"
)

// syntheticMember is a member whose caches are filled directly with slim objects,
// as the informers would fill them, without an API server or a fake clientset
// holding full copies: it measures the state and answer layers alone.
func syntheticMember(name, region, zone string, services int, octet int) *Member {
	m := &Member{Name: name, client: fake.NewClientset(), changed: func(string) {}}
	m.watch(labels.Everything())
	m.nodes.GetStore().Add(&kubeNode{Name: name + "-node", Region: region, Zone: zone})
	for s := range services {
		svc := fmt.Sprintf("svc-%d", s)
		m.services.GetStore().Add(&service{Name: svc, Namespace: "ns", LoadBalancer: true,
			Ingress: []netip.Addr{netip.AddrFrom4([4]byte{10, byte(octet), byte(s / 256), byte(s % 256)})}})
		slice := &endpointSlice{Name: svc + "-abcde", Namespace: "ns", Service: svc, Ready: true}
		m.slices.GetStore().Add(slice)
		m.sliceChanged(slice, +1)
	}
	m.synced.Store(true)
	m.refreshTopology()
	return m
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
			var members []*Member
			for c := range clusters {
				r := fmt.Sprintf("region-%d", c)
				members = append(members, syntheticMember(fmt.Sprintf("member-%d", c), r, r+"-a", services, c))
			}
			bld := &builder{zone: "example.com.", fed: "myfederation", ttl: 30, members: members,
				ns: []nameServer{{name: "ns.dns.example.com."}}, soa: soaConfig{mname: "ns.dns.example.com.", rname: "hostmaster.example.com."}}
			start := time.Now()
			snap := bld.build(nil, nil, true)
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
				if n := snap.lookup(names[i%len(names)], ""); n != nil {
					n.answer(dns.TypeA)
				}
			}
			b.ReportMetric(float64(heap)/(1<<20), "MiB-heap")
			b.ReportMetric(build.Seconds(), "s-build")
			runtime.KeepAlive(members)
			runtime.KeepAlive(snap)
		})
	}
}
