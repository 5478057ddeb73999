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
	return benchFederationAnnotated(b, n, nil)
}

// benchFederationAnnotated is benchFederation with annotations on the Services
// of member i (nil: none).
func benchFederationAnnotated(b *testing.B, n int, annotations func(i int) []string) *Federation {
	cs := seed()
	for i := range cs {
		cs[i].objs = nil
		for s := 0; s < n; s++ {
			name := fmt.Sprintf("svc-%d", s)
			ready := fixture.Ready
			if i == 1 && s%4 == 0 {
				ready = fixture.Unready
			}
			svc := fixture.Service("ns", name, "myfederation", fmt.Sprintf("10.%d.%d.%d", i, s/256, s%256))
			if annotations != nil {
				fixture.Annotate(svc, annotations(i)...)
			}
			cs[i].objs = append(cs[i].objs,
				svc,
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
	serveBenchQueries(b, benchFederation(b, 10000))
}

// serveBenchQueries asks f the queries of benchQueries in turn, b.N of them.
func serveBenchQueries(b *testing.B, f *Federation) {
	msgs := benchQueries()
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

// BenchmarkServeDNSPolicy measures the cost of the traffic policy against
// plain answers, on the same queries as BenchmarkServeDNS: weights (every
// member weighted, so each level with several shards draws one) and priority
// (two members standbys, so the levels answer fewer shards, chosen at build).
func BenchmarkServeDNSPolicy(b *testing.B) {
	for _, bc := range []struct {
		name        string
		annotations func(i int) []string
	}{
		{"plain", nil},
		{"weights", func(i int) []string { return []string{AnnotationWeight, fmt.Sprint(10 * (i + 1))} }},
		{"priority", func(i int) []string { return []string{AnnotationPriority, fmt.Sprint(i % 2)} }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			serveBenchQueries(b, benchFederationAnnotated(b, 10000, bc.annotations))
		})
	}
}

// benchQueries are A queries of 8 services at every kind of level, and at an
// unknown one.
func benchQueries() []*dns.Msg {
	var msgs []*dns.Msg
	for _, lvl := range []string{"", "europe-west1.", "us-east1-b.", "europe-west1-b.europe-west1.", "mars-north1."} {
		for s := 0; s < 8; s++ {
			m := new(dns.Msg)
			m.SetQuestion(fmt.Sprintf("svc-%d.ns.myfederation.svc.%sexample.com.", s, lvl), dns.TypeA)
			msgs = append(msgs, m)
		}
	}
	return msgs
}
