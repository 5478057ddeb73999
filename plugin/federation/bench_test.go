package federation

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/coredns/coredns/plugin/test"

	"github.com/coredns-fed/coredns-fed/internal/fixture"

	"github.com/miekg/dns"
)

// discardWriter drops the answer: the benchmark measures lookup and message
// assembly, not packing.
type discardWriter struct{ test.ResponseWriter }

func (*discardWriter) WriteMsg(*dns.Msg) error { return nil }

// benchFederation builds a federation of n services in the seed's four clusters;
// every fourth service is unhealthy in europe so that CNAME fallbacks are mixed in.
func benchFederation(b *testing.B, n int) *Federation {
	cs := seed()
	for i := range cs {
		cs[i].objs = nil
		for s := 0; s < n; s++ {
			name := fmt.Sprintf("svc-%d", s)
			ready := fixture.Ready
			if i == 1 && s%4 == 0 {
				ready = fixture.Unready
			}
			cs[i].objs = append(cs[i].objs,
				fixture.Service("ns", name, "myfederation", fmt.Sprintf("10.%d.%d.%d", i, s/256, s%256)),
				slice("ns", name, ready))
		}
	}
	f, _ := newTestFederation(b, cs, func(f *Federation) { f.StartupTimeout = 1 << 62 })
	// The benchmark measures answers, not the builds that follow the first
	// snapshot (the serial's bump) nor the garbage the fake clients left.
	fixture.WaitFor(b, 30*time.Second, "the builds after the first snapshot", func() bool {
		s := f.snapshot.Load()
		time.Sleep(300 * time.Millisecond)
		return !s.bumpPending && f.snapshot.Load() == s
	})
	runtime.GC()
	return f
}

func BenchmarkServeDNS(b *testing.B) {
	f := benchFederation(b, 10000)
	var msgs []*dns.Msg
	for _, lvl := range []string{"", "europe-west1.", "us-east1-b.", "europe-west1-b.europe-west1.", "mars-north1."} {
		for s := 0; s < 8; s++ {
			m := new(dns.Msg)
			m.SetQuestion(fmt.Sprintf("svc-%d.ns.myfederation.svc.%sexample.com.", s, lvl), dns.TypeA)
			msgs = append(msgs, m)
		}
	}
	ctx := context.Background()
	w := &discardWriter{}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		f.ServeDNS(ctx, w, msgs[i%len(msgs)])
	}
}

func BenchmarkLookup(b *testing.B) {
	f := benchFederation(b, 10000)
	snap := f.snapshot.Load()
	rel := "svc-4242.ns.myfederation.svc.us-central1-b.us-central1."
	b.ReportAllocs()
	for b.Loop() {
		if snap.lookup(rel) == nil {
			b.Fatal("not found")
		}
	}
}
