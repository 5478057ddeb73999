package bench

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/coredns-fed/coredns-fed/internal/lab"
)

// TestMemberFederated: f of n Services are federated, spread over the range.
func TestMemberFederated(t *testing.T) {
	for _, c := range []struct{ n, f int }{{10000, 100}, {1000, 100}, {150, 100}, {100, 100}, {50, 0}} {
		fed := MemberFederated(c.n, c.f)
		count, last := 0, -1
		for i := range c.n {
			if fed(i) {
				count++
				last = i
			}
		}
		if count != c.f {
			t.Errorf("MemberFederated(%d, %d): %d federated", c.n, c.f, count)
		}
		if c.f > 0 && c.n/c.f > 1 && last < c.n/2 {
			t.Errorf("MemberFederated(%d, %d): the last federated is %d, not spread", c.n, c.f, last)
		}
	}
}

// TestPlainService: a Service outside the federation has no federation label
// and no load balancer, and its slice's labels are its own.
func TestPlainService(t *testing.T) {
	svc := plainService(3)
	if _, ok := svc.Labels[lab.FederationLabel]; ok {
		t.Errorf("plain Service labelled %v", svc.Labels)
	}
	if svc.Spec.Type != corev1.ServiceTypeClusterIP || svc.Spec.AllocateLoadBalancerNodePorts != nil {
		t.Errorf("plain Service spec %+v", svc.Spec)
	}
	if s := endpointSlice(0, 3, svc, true); s.Labels[lab.FederationLabel] != "" || s.Labels["app"] != ServiceName(3) {
		t.Errorf("slice labels %v", s.Labels)
	}
	if federatedService(3).Labels[lab.FederationLabel] != Federation {
		t.Error("plainService changed federatedService's labels")
	}
}

const metricsText = `# HELP go_memstats_heap_inuse_bytes Number of heap bytes that are in use.
# TYPE go_memstats_heap_inuse_bytes gauge
go_memstats_heap_inuse_bytes 2.5165824e+07
go_memstats_heap_alloc_bytes 2.1e+07
go_memstats_sys_bytes 4.7e+07
go_memstats_alloc_bytes_total 9.9e+08
go_memstats_lookups_total{foo="bar"} 3
process_resident_memory_bytes 6.1e+07
coredns_build_info{goversion="go1.26"} 1
`

func TestParseGoMemstats(t *testing.T) {
	m, err := ParseGoMemstats(strings.NewReader(metricsText))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"heap_inuse_bytes": 25165824, "heap_alloc_bytes": 21e6, "sys_bytes": 47e6, "alloc_bytes_total": 9.9e8}
	if len(m) != len(want) {
		t.Errorf("got %v, want %v", m, want)
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %v", k, m[k], v)
		}
	}
}

func TestSettled(t *testing.T) {
	const mb = 1 << 20
	for _, c := range []struct {
		rss  []int64
		want bool
	}{
		{nil, false},
		{[]int64{100 * mb, 100 * mb, 100 * mb}, false}, // not a whole window yet
		{[]int64{100 * mb, 100 * mb, 100 * mb, 100 * mb}, true},
		{[]int64{120 * mb, 100 * mb, 100 * mb, 100 * mb, 100*mb + mb/2}, true}, // the window is the last four
		{[]int64{100 * mb, 100 * mb, 98 * mb, 100 * mb}, false},                // moved 2 MiB
		{[]int64{130 * mb, 120 * mb, 110 * mb, 100 * mb, 99 * mb}, false},
	} {
		if got := Settled(c.rss, 3, mb); got != c.want {
			t.Errorf("Settled(%v) = %v, want %v", c.rss, got, c.want)
		}
	}
}

func TestMedianInt(t *testing.T) {
	for _, c := range []struct {
		xs   []int64
		want int64
	}{{nil, 0}, {[]int64{5}, 5}, {[]int64{3, 1, 2}, 2}, {[]int64{4, 1, 3, 2}, 2}, {[]int64{10, 20}, 15}} {
		if got := MedianInt(c.xs); got != c.want {
			t.Errorf("MedianInt(%v) = %d, want %d", c.xs, got, c.want)
		}
	}
}

func memberFixture() *MemberReport {
	const mb = 1 << 20
	round := func(n int, stock, kube, member int64) MemberRound {
		return MemberRound{Round: n, Load: "1.00 0.50 0.25", Servers: []MemberFigure{
			{Server: StockServer, RSS: stock * mb, RSSMin: stock * mb, RSSMax: stock * mb, RSSAnon: 30 * mb, HeapInuse: 20 * mb, Samples: 3, SyncSeconds: float64(n)},
			{Server: KubernetesServer, RSS: kube * mb, RSSMin: kube * mb, RSSMax: kube * mb, RSSAnon: 38 * mb, HeapInuse: 21 * mb, Samples: 3, SyncSeconds: 3},
			{Server: MemberServer, RSS: member * mb, RSSMin: member*mb - mb, RSSMax: member*mb + mb, RSSAnon: 40 * mb, RSSFile: 24 * mb, HeapInuse: 23 * mb, Samples: 3, SyncSeconds: 4},
		}}
	}
	rep := &MemberReport{
		Started: time.Date(2026, 12, 5, 7, 0, 0, 0, time.UTC), Seconds: 300, Member: "gce-asia-east1",
		Machine:  Machine{CPUs: 2, Model: "cpu", LoadBefore: "1.00 0.50 0.25", LoadAfter: "2.00 1.00 0.50", Versions: map[string]string{"commit": "abc1234"}},
		Services: 10000, Federated: 100, Populate: 90,
		Rounds:  []MemberRound{round(1, 50, 60, 64), round(2, 52, 61, 63), round(3, 100, 62, 66)},
		HeapTop: map[string]string{MemberServer: "flat flat% sum% cum cum%\n1MB 50% 50% 1MB 50% k8s.io/client-go"},
		Servers: []MemberServerInfo{{Name: MemberServer, What: memberWhat(MemberServer), Binary: "bin/coredns-fed", Version: "CoreDNS-1.15.0", Corefile: "cluster.local:53 {\n}\n"}},
	}
	rep.Median = MedianFigures(rep.Rounds)
	memberRatios(rep)
	return rep
}

// TestMemberMedianAndRatio: each server's median over the rounds, and the
// ratio to the stock server, or to coredns-fed with kubernetes alone without
// one.
func TestMemberMedianAndRatio(t *testing.T) {
	rep := memberFixture()
	const mb = 1 << 20
	if m := figure(rep.Median, StockServer); m == nil || m.RSS != 52*mb || m.RSSMax != 100*mb || m.Samples != 9 || m.SyncSeconds != 2 {
		t.Errorf("stock median %+v", m)
	}
	if m := figure(rep.Median, MemberServer); m == nil || m.RSS != 64*mb || m.RSSMin != 62*mb || m.SyncSeconds != 4 {
		t.Errorf("member median %+v", m)
	}
	if rep.Baseline != StockServer || rep.Ratio != 64.0/52 || rep.OwnRatio != 64.0/61 || rep.AnonRatio != 40.0/30 {
		t.Errorf("ratios %s %v %v %v, want stock %v, %v, %v", rep.Baseline, rep.Ratio, rep.OwnRatio, rep.AnonRatio, 64.0/52, 64.0/61, 40.0/30)
	}
	if len(rep.Targets) != 2 || rep.Targets[0].Met || !rep.Targets[1].Met {
		t.Errorf("targets %+v, want stock not met, kubernetes met", rep.Targets)
	}
	without := &MemberReport{Median: rep.Median[1:]}
	memberRatios(without)
	if without.Baseline != KubernetesServer || without.Ratio != 64.0/61 || len(without.Targets) != 1 {
		t.Errorf("without stock: %s %v %+v", without.Baseline, without.Ratio, without.Targets)
	}
	alone := &MemberReport{Median: rep.Median[:2]}
	if memberRatios(alone); alone.Baseline != "" || alone.Targets != nil {
		t.Errorf("without member mode: baseline %q, targets %+v", alone.Baseline, alone.Targets)
	}
}

func TestMemberMarkdown(t *testing.T) {
	md := MemberMarkdown(memberFixture())
	for _, want := range []string{
		"# Member mode beside the kubernetes plugin",
		"2026-12-05 07:00 UTC", "load average 1.00 0.50 0.25 before", "Commit abc1234",
		"10000 Services", "100 of them federated",
		"| stock CoreDNS, kubernetes alone | 52.0 MiB |",
		"| coredns-fed, kubernetes + federation (member mode) | 64.0 MiB | 62.0–67.0 MiB | 40.0 MiB | 24.0 MiB |",
		"| 1.231 | 1.333 | 1.150 |",
		"1.231 (64.0 MiB against 52.0 MiB; anonymous 40.0 against 30.0 MiB) | **no** |",
		"| 1.049 (64.0 MiB against 61.0 MiB; anonymous 40.0 against 38.0 MiB) | yes |",
		"| 3 | 1.00 0.50 0.25 | 100.0 MiB (20.0 MiB) | 62.0 MiB (21.0 MiB) | 66.0 MiB (23.0 MiB) |",
		"cluster.local:53 {", "k8s.io/client-go",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}

// TestClusterCorefile: the three servers share the kubernetes block; member
// mode adds federation in front of it and the stub domain.
func TestClusterCorefile(t *testing.T) {
	c := &lab.Cluster{AdminKubeconfig: "/a.kubeconfig", ReaderKubeconfig: "/r.kubeconfig"}
	for _, name := range []string{StockServer, KubernetesServer, MemberServer} {
		cf, err := ServerSpec{Name: name, Clusters: []*lab.Cluster{c}}.clusterCorefile(1053, 2000, 3000)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"cluster.local:1053 {", "kubernetes cluster.local {\n        kubeconfig /a.kubeconfig", "prometheus 127.0.0.1:3000", "pprof 127.0.0.1:2000"} {
			if !strings.Contains(cf, want) {
				t.Errorf("%s: Corefile lacks %q:\n%s", name, want, cf)
			}
		}
		member := strings.Contains(cf, "federation {\n        myfederation example.com\n        kubeconfig /r.kubeconfig") &&
			strings.Contains(cf, "example.com:1053 {") &&
			strings.Index(cf, "federation") < strings.Index(cf, "kubernetes")
		if member != (name == MemberServer) {
			t.Errorf("%s: member mode %v:\n%s", name, member, cf)
		}
	}
	if _, err := (ServerSpec{Name: MemberServer}).clusterCorefile(1, 2, 3); err == nil {
		t.Error("no member: no error")
	}
}
