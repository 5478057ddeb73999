package federation

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/plugin/test"

	"github.com/coredns-fed/coredns-fed/internal/fixture"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

func TestTrafficOf(t *testing.T) {
	tests := []struct {
		ann   map[string]string
		drain []string
		want  traffic
		bad   []string // annotations ignored
	}{
		{nil, nil, traffic{weight: 100}, nil},
		{map[string]string{AnnotationWeight: "10"}, nil, traffic{weight: 10, weighted: true}, nil},
		{map[string]string{AnnotationWeight: " 1000 "}, nil, traffic{weight: 1000, weighted: true}, nil},
		{map[string]string{AnnotationWeight: "0"}, nil, traffic{weight: 100}, []string{AnnotationWeight}},
		{map[string]string{AnnotationWeight: "1001"}, nil, traffic{weight: 100}, []string{AnnotationWeight}},
		{map[string]string{AnnotationWeight: "ten"}, nil, traffic{weight: 100}, []string{AnnotationWeight}},
		{map[string]string{AnnotationPriority: "2"}, nil, traffic{weight: 100, priority: 2}, nil},
		{map[string]string{AnnotationPriority: "-1"}, nil, traffic{weight: 100}, []string{AnnotationPriority}},
		{map[string]string{AnnotationDrain: "True"}, nil, traffic{weight: 100, drained: drainedByAnnotation}, nil},
		{map[string]string{AnnotationDrain: "false"}, nil, traffic{weight: 100}, nil},
		{map[string]string{AnnotationDrain: "yes"}, nil, traffic{weight: 100}, []string{AnnotationDrain}},
		{nil, []string{"m"}, traffic{weight: 100, drained: drainedByCorefile}, nil},
		{nil, []string{"other"}, traffic{weight: 100}, nil},
		// One bad value leaves the others alone.
		{map[string]string{AnnotationWeight: "x", AnnotationPriority: "1", AnnotationDrain: "1"}, nil, traffic{weight: 100, priority: 1}, []string{AnnotationWeight, AnnotationDrain}},
	}
	for i, tc := range tests {
		sh := &Shard{Member: "m", ServiceState: &ServiceState{Annotations: tc.ann}}
		got, errs := trafficOf(sh, tc.drain)
		if got != tc.want {
			t.Errorf("test %d: %+v, want %+v", i, got, tc.want)
		}
		var bad []string
		for _, e := range errs {
			bad = append(bad, e.annotation)
			if e.member != "m" || e.value != tc.ann[e.annotation] || e.reason == "" {
				t.Errorf("test %d: error %+v", i, e)
			}
		}
		if strings.Join(bad, " ") != strings.Join(tc.bad, " ") {
			t.Errorf("test %d: ignored %v, want %v", i, bad, tc.bad)
		}
	}
}

func shardsOf(ts ...traffic) []usableShard {
	var out []usableShard
	for i, tr := range ts {
		out = append(out, usableShard{
			shard: &Shard{Member: string(rune('a' + i)), traffic: tr},
			addrs: []netip.Addr{netip.AddrFrom4([4]byte{192, 0, 2, byte(i + 1)})},
		})
	}
	return out
}

func members(shards []usableShard) string {
	var b strings.Builder
	for _, s := range shards {
		b.WriteString(s.shard.Member)
	}
	return b.String()
}

func TestSelectShards(t *testing.T) {
	tests := []struct {
		in   []traffic
		want string
	}{
		{[]traffic{{}, {}}, "ab"},
		{[]traffic{{drained: drainedByAnnotation}, {}}, "b"},
		{[]traffic{{drained: drainedByAnnotation}, {drained: drainedByAnnotation}}, ""},
		{[]traffic{{priority: 1}, {priority: 0}, {priority: 0}}, "bc"},
		// The best priority among the shards that are not drained.
		{[]traffic{{priority: 1}, {priority: 0, drained: drainedByAnnotation}, {priority: 2}}, "a"},
	}
	for i, tc := range tests {
		if got := members(selectShards(shardsOf(tc.in...))); got != tc.want {
			t.Errorf("test %d: %q, want %q", i, got, tc.want)
		}
	}
}

func TestWeightedPicker(t *testing.T) {
	b := &builder{ttl: 30, maxAnswers: 8}
	shards := shardsOf(traffic{weight: 900, weighted: true}, traffic{weight: 100})
	// An IPv6 address on b only: AAAA queries always get b.
	shards[1].addrs = append(shards[1].addrs, netip.MustParseAddr("2001:db8::2"))
	p := b.answer("x.example.com.", shards)
	count := map[string]int{}
	const n = 20000
	for range n {
		rrs := p.pick(nil, false)
		if len(rrs) != 1 {
			t.Fatalf("%d records, want one shard's one", len(rrs))
		}
		count[rrs[0].(*dns.A).A.String()]++
		if rrs := p.pick(nil, true); len(rrs) != 1 || rrs[0].(*dns.AAAA).AAAA.String() != "2001:db8::2" {
			t.Fatalf("AAAA: %v", rrs)
		}
	}
	// 90 %: the standard deviation over 20000 draws is 0.2 %; 87..93 % cannot
	// fail by chance.
	if a := count["192.0.2.1"]; a < n*87/100 || a > n*93/100 {
		t.Errorf("weight 900 of 1000 answered %d of %d times", a, n)
	}
	if avg := testing.AllocsPerRun(100, func() { p.pick(nil, false) }); avg != 0 {
		t.Errorf("pick allocates %v times", avg)
	}
	// Without a weight annotation every shard is answered at once.
	p = b.answer("x.example.com.", shardsOf(traffic{weight: 100}, traffic{weight: 100}))
	if rrs := p.pick(nil, false); len(rrs) != 2 {
		t.Errorf("unweighted: %v", rrs)
	}
}

func TestParseDrain(t *testing.T) {
	base := "federation myfederation {\n member a { kubeconfig " + kc + " }\n member b { kubeconfig " + kc + " }\n ns ns1.example.com. 192.0.2.53\n"
	c := caddy.NewTestController("dns", base+" drain a\n drain b\n}")
	c.ServerBlockKeys = []string{"example.com."}
	f, err := parse(c)
	if err != nil || strings.Join(f.Drain, " ") != "a b" {
		t.Errorf("drain a, drain b: %v, %v", f, err)
	}
	for _, tc := range []struct{ tail, errText string }{
		{" drain\n}", "Testfile:5 - Error during parsing: drain needs at least one MEMBER"},
		{" drain a c\n}", `Testfile:5 - Error during parsing: drain "c": no member of that name`},
	} {
		c := caddy.NewTestController("dns", base+tc.tail)
		c.ServerBlockKeys = []string{"example.com."}
		if _, err := parse(c); err == nil || !strings.Contains(err.Error(), tc.errText) {
			t.Errorf("%q: error %v, want %q", tc.tail, err, tc.errText)
		}
	}
}

// annotate sets the Service nginx's annotations in member of clients.
func annotate(t *testing.T, clients map[string]kubernetes.Interface, member string, kv ...string) {
	t.Helper()
	svcs := clients[member].CoreV1().Services("mynamespace")
	s, err := svcs.Get(context.Background(), "nginx", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s.Annotations = nil
	fixture.Annotate(s, kv...)
	if _, err := svcs.Update(context.Background(), s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestPriorityAndDrain(t *testing.T) {
	f, clients := newTestFederation(t, seed())
	globalA := func(ips ...string) []dns.RR {
		var out []dns.RR
		for _, ip := range ips {
			out = append(out, test.A(nginx("")+" 30 IN A "+ip))
		}
		return out
	}
	// asia and europe are standbys: the global name answers the other two.
	annotate(t, clients, "gce-asia-east1", AnnotationPriority, "1")
	annotate(t, clients, "gce-europe-west1", AnnotationPriority, "1")
	eventually(t, f, []test.Case{
		{Qname: nginx(""), Qtype: dns.TypeA, Answer: globalA("192.0.2.3", "192.0.2.4")},
		// A level answers its own best priority: asia's region has only asia.
		{Qname: nginx("asia-east1."), Qtype: dns.TypeA, Answer: []dns.RR{test.A(nginx("asia-east1.") + " 30 IN A 192.0.2.1")}},
	})
	// Draining the active ones leaves the standbys.
	annotate(t, clients, "gce-us-east1", AnnotationDrain, "true")
	annotate(t, clients, "gce-us-central1", AnnotationDrain, "true")
	cname := test.CNAME(nginx("us-east1.") + " 30 IN CNAME " + nginx(""))
	eventually(t, f, []test.Case{
		{Qname: nginx(""), Qtype: dns.TypeA, Answer: globalA("192.0.2.1", "192.0.2.2")},
		// A drained shard's level falls back as an unhealthy one does.
		{Qname: nginx("us-east1."), Qtype: dns.TypeA, Answer: append([]dns.RR{cname}, globalA("192.0.2.1", "192.0.2.2")...)},
	})
	// Back without a restart.
	annotate(t, clients, "gce-us-east1")
	eventually(t, f, []test.Case{
		{Qname: nginx(""), Qtype: dns.TypeA, Answer: globalA("192.0.2.3")},
		{Qname: nginx("us-east1."), Qtype: dns.TypeA, Answer: []dns.RR{test.A(nginx("us-east1.") + " 30 IN A 192.0.2.3")}},
	})
}

func TestCorefileDrain(t *testing.T) {
	f, _ := newTestFederation(t, seed(), func(f *Federation) { f.Drain = []string{"gce-asia-east1", "gce-europe-west1"} })
	check(t, f, []test.Case{
		{Qname: nginx(""), Qtype: dns.TypeA, Answer: []dns.RR{test.A(nginx("") + " 30 IN A 192.0.2.3"), test.A(nginx("") + " 30 IN A 192.0.2.4")}},
	})
	// The status says why a healthy shard is not answered.
	sa := f.snapshot.Load().services["nginx.mynamespace"]
	r := shardReport(&sa.shards[0], sa.usable[0], MemberStatus{})
	if !strings.HasSuffix(r.Reason, "; drained by Corefile: not answered") {
		t.Errorf("reason of a drained shard: %q", r.Reason)
	}
}

func TestAnnotationErrorsLoggedOnce(t *testing.T) {
	before := testutil.ToFloat64(annotationErrors.WithLabelValues("", AnnotationWeight))
	f, clients := newTestFederation(t, seed())
	annotate(t, clients, "gce-asia-east1", AnnotationWeight, "heavy", AnnotationPriority, "1")
	// The bad weight is ignored; the good priority of the same shard applies.
	eventually(t, f, []test.Case{
		{Qname: nginx(""), Qtype: dns.TypeA, Answer: []dns.RR{
			test.A(nginx("") + " 30 IN A 192.0.2.2"), test.A(nginx("") + " 30 IN A 192.0.2.3"), test.A(nginx("") + " 30 IN A 192.0.2.4"),
		}},
	})
	// Further builds of the Service do not count it again.
	annotate(t, clients, "gce-europe-west1", AnnotationPriority, "0")
	f.HealthChanged("")
	waitFor(t, "a rebuild", func() bool { return f.snapshot.Load().services["nginx.mynamespace"].shards[1].Annotations != nil })
	if got := testutil.ToFloat64(annotationErrors.WithLabelValues("", AnnotationWeight)) - before; got != 1 {
		t.Errorf("annotation_errors_total{annotation=weight} grew by %v, want 1", got)
	}
}

// BenchmarkPick is the per-query part of a global name's answer alone: four
// shards of one address each, answered plainly (all of them) or by weight
// (one drawn per query). Everything else a query costs is the same for both.
func BenchmarkPick(b *testing.B) {
	var shards []usableShard
	for i := range 4 {
		sh := &Shard{Member: fmt.Sprint("m", i), traffic: traffic{weight: uint16(10 * (i + 1)), weighted: true}}
		shards = append(shards, usableShard{shard: sh, addrs: []netip.Addr{netip.AddrFrom4([4]byte{10, byte(i), 0, 1})}})
	}
	bd := &builder{ttl: 30, maxAnswers: 8}
	owner := "svc.ns.myfederation.svc.example.com."
	for _, bc := range []struct {
		name string
		p    picker
	}{
		{"plain", limit(ptr(bd.records(owner, addrsOf(shards))), bd.maxAnswers)},
		{"weights", bd.answer(owner, shards)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if len(bc.p.pick(nil, false)) == 0 {
					b.Fatal("no records")
				}
			}
		})
	}
}
