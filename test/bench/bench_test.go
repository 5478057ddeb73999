package bench

import (
	"context"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/coredns/coredns/request"

	"github.com/miekg/dns"
)

const perfOutput = `DNS Performance Testing Tool
Version 2.10.0

[Status] Command line: dnsperf -s 127.0.0.1 -p 15353 -d q.txt -l 5 -c 8 -q 200 -v
[Status] Sending queries (to 127.0.0.1:15353)
> NOERROR svc-1.ns.myfederation.svc.example.com A 0.000100
> NOERROR svc-2.ns.myfederation.svc.example.com A 0.000200
> NXDOMAIN nosuch.ns.myfederation.svc.example.com A 0.000300
> T svc-4.ns.myfederation.svc.example.com A
> NOERROR svc-5.ns.myfederation.svc.example.com A 0.004000
[Status] Testing complete (time limit)

Statistics:

  Queries sent:         5
  Queries completed:    4 (80.00%)
  Queries lost:         1 (20.00%)

  Response codes:       NOERROR 3 (75.00%), NXDOMAIN 1 (25.00%)
  Average packet size:  request 57, response 176
  Run time (s):         5.001942
  Queries per second:   35633.559925

  Average Latency (s):  0.001150 (min 0.000100, max 0.004000)
  Latency StdDev (s):   0.001700
`

func TestParsePerf(t *testing.T) {
	r, err := ParsePerf(strings.NewReader(perfOutput))
	if err != nil {
		t.Fatal(err)
	}
	if r.Sent != 5 || r.Completed != 4 || r.Lost != 1 || r.LossPercent != 20 {
		t.Errorf("sent/completed/lost = %d/%d/%d (%.1f%%), want 5/4/1 (20%%)", r.Sent, r.Completed, r.Lost, r.LossPercent)
	}
	if r.QPS != 35633.559925 || r.RequestSize != 57 || r.ResponseSize != 176 {
		t.Errorf("QPS %v, sizes %d/%d", r.QPS, r.RequestSize, r.ResponseSize)
	}
	if r.Rcodes["NOERROR"] != 3 || r.Rcodes["NXDOMAIN"] != 1 {
		t.Errorf("rcodes %v", r.Rcodes)
	}
	// Latencies 0.1, 0.2, 0.3, 4 ms; nearest rank.
	want := Latency{Mean: 1.15, P50: 0.2, P90: 4, P99: 4, P999: 4, Max: 4}
	if math.Abs(r.Latency.Mean-want.Mean) > 1e-9 || r.Latency.P50 != want.P50 || r.Latency.P90 != want.P90 || r.Latency.Max != want.Max {
		t.Errorf("latency %+v, want %+v", r.Latency, want)
	}
}

func TestParsePerfWithoutStatistics(t *testing.T) {
	if _, err := ParsePerf(strings.NewReader("> NOERROR x A 0.1\n")); err == nil {
		t.Error("no error for output without statistics")
	}
}

func TestPerfArgs(t *testing.T) {
	r := PerfRun{Addr: "127.0.0.1:5300", QueryFile: "q", Duration: 20 * time.Second, Clients: 10, Outstanding: 100, RateLimit: 5000, CPUs: "0"}
	got := strings.Join(r.Args(), " ")
	want := "taskset -c 0 dnsperf -s 127.0.0.1 -p 5300 -d q -l 20 -c 10 -q 100 -t 2 -v -Q 5000"
	if got != want {
		t.Errorf("args\n%s\nwant\n%s", got, want)
	}
}

func TestQueries(t *testing.T) {
	topo := SeedTopology(1000)
	qs := Queries(topo, 20000, 1)
	if len(qs) != 20000 {
		t.Fatalf("%d queries, want 20000", len(qs))
	}
	count := map[string]int{}
	for _, q := range qs {
		count[q.Class]++
		if _, ok := dns.IsDomainName(q.Name); !ok || !dns.IsFqdn(q.Name) || !strings.HasSuffix(q.Name, "."+Domain+".") {
			t.Fatalf("%q is not a name in %s", q.Name, Domain)
		}
	}
	for _, c := range Mix {
		got := 100 * float64(count[c.Name]) / float64(len(qs))
		if math.Abs(got-float64(c.Share)) > 1.5 {
			t.Errorf("class %s: %.1f%% of queries, want about %d%%", c.Name, got, c.Share)
		}
	}
	again := Queries(topo, 20000, 1)
	for k := range qs {
		if qs[k] != again[k] {
			t.Fatalf("query %d differs between runs with the same seed", k)
		}
	}
}

func TestTopology(t *testing.T) {
	w := WideTopology(50, 10000)
	if len(w.Clusters) != 50 || w.Shards() != 500000 {
		t.Fatalf("%d clusters, %d shards", len(w.Clusters), w.Shards())
	}
	if c := w.Clusters[7]; c.Name != "member-07" || c.Region != "region-1" || c.Zones[0] != "region-1-c" {
		t.Errorf("member 7 = %+v", c)
	}
	if ServiceAddr(3, 258).String() != "10.3.1.2" {
		t.Errorf("ServiceAddr(3, 258) = %s", ServiceAddr(3, 258))
	}
	if Ready(1, 16) || !Ready(1, 17) || !Ready(0, 16) {
		t.Error("only every eighth Service of a degraded member is not ready")
	}
	if got := Name(42, "us-east1-b.us-east1."); got != "svc-00042.bench.myfederation.svc.us-east1-b.us-east1.example.com." {
		t.Errorf("Name = %s", got)
	}
}

func TestParseGoBench(t *testing.T) {
	out := `goos: linux
BenchmarkServeDNS-2   	 1893654	       633.2 ns/op	     176 B/op	       2 allocs/op
BenchmarkLookup-2     	20000000	        61.5 ns/op	       0 B/op	       0 allocs/op
PASS`
	bs := ParseGoBench(out)
	if len(bs) != 2 || bs[0].Name != "BenchmarkServeDNS-2" || bs[0].NsPerOp != 633.2 || bs[0].BytesPerOp != 176 || bs[0].AllocsPerOp != 2 || bs[1].NsPerOp != 61.5 {
		t.Errorf("ParseGoBench = %+v", bs)
	}
}

func TestCumShareAndShortTop(t *testing.T) {
	top := `File: coredns-fed
Build ID: abc
Type: cpu
Time: 2026-11-22 11:32:10 UTC
Duration: 8s, Total samples = 7.9s (98.70%)
Showing nodes accounting for 7.5s, 95% of 7.9s total
      flat  flat%   sum%        cum   cum%
     0.10s  1.27%  1.27%      6.50s 82.28%  github.com/miekg/dns.(*Server).serveUDP
     0.05s  0.63%  1.90%      3.10s 39.24%  github.com/coredns/coredns/core/dnsserver.(*Server).ServeDNS
     0.02s  0.25%  2.15%      0.80s 10.13%  github.com/coredns-fed/coredns-fed/plugin/federation.(*Federation).ServeDNS
     0.01s  0.13%  2.28%      0.70s  8.86%  github.com/miekg/dns.(*response).WriteMsg
     0.01s  0.13%  2.41%      0.50s  6.33%  github.com/miekg/dns.(*response).Write
`
	if got := CumShare(top, "federation.(*Federation).ServeDNS"); got != 10.13 {
		t.Errorf("CumShare = %v, want 10.13", got)
	}
	if got := CumShare(top, "dns.(*response).Write"); got != 6.33 {
		t.Errorf("CumShare of Write = %v, want 6.33 (not WriteMsg's)", got)
	}
	if got := CumShare(top, "nothing"); got != 0 {
		t.Errorf("CumShare of a missing function = %v", got)
	}
	short := shortTop(top, 2)
	if strings.Contains(short, "Build ID") || strings.Contains(short, "federation") || !strings.Contains(short, "dnsserver") {
		t.Errorf("shortTop:\n%s", short)
	}
}

func TestPercentile(t *testing.T) {
	xs := []float64{5, 1, 4, 2, 3}
	if p := percentile(xs, 0.5); p != 3 {
		t.Errorf("median = %v", p)
	}
	if p := percentile(xs, 1); p != 5 {
		t.Errorf("max = %v", p)
	}
	if p := percentile(nil, 0.5); p != 0 {
		t.Errorf("empty = %v", p)
	}
}

func TestMarkdownAndTargets(t *testing.T) {
	perf := func(qps float64) *PerfResult {
		return &PerfResult{QPS: qps, Rcodes: map[string]int64{"NOERROR": 9, "NXDOMAIN": 1}, Command: "dnsperf …"}
	}
	rep := &Report{
		Started: time.Now(),
		Throughput: []Pass{{Name: "pinned", ServerCPUs: "1", PerfCPUs: "0", FixedQPS: 10000, Runs: []ServerRun{
			{Server: "federation", Saturation: perf(45000), Fixed: perf(10000)},
			{Server: "file", Saturation: perf(15000), Fixed: perf(10000)},
			{Server: "whoami", Saturation: perf(50000), Fixed: perf(10000)},
			{Server: "knot", Saturation: perf(100000), Fixed: perf(10000)},
		}}},
		Answers: &Comparison{Servers: []string{"federation", "file", "knot"}, Questions: 10, Identical: 10,
			ReplyBytes: []float64{139, 320, 128}, Replies4: 7},
		Propagation: &Propagation{Flips: 200, P99: 12},
		LabMemory:   &LabMemory{Clusters: 4, Services: 10000, SyncSeconds: 8, Memory: Memory{RSS: 100 * mib}},
		Synthetic: []*Synthetic{
			{Clusters: 4, Services: 10000, ServeDNS: []ServeBench{{Class: "zone", NsPerOp: 1000}, {Class: "zone-v1", NsPerOp: 1000}, {Class: "nxdomain", NsPerOp: 1000}, {Class: "mix", NsPerOp: 1000}}},
			{Clusters: 50, Services: 10000, Memory: Memory{RSS: 500 * mib}, ServeDNS: []ServeBench{{Class: "zone", NsPerOp: 1000}, {Class: "zone-v1", NsPerOp: 1000}, {Class: "nxdomain", NsPerOp: 1000}, {Class: "mix", NsPerOp: 2000}}},
		},
		Growth:      []*Synthetic{{Clusters: 50, Services: 200, Shards: 10000, ChangeToAnswerMs: 3, ChangeToAnswerP99Ms: 42.5}},
		GrowthPlots: []string{"growth-rss.svg"},
	}
	ts := targets(rep)
	met := map[string]bool{}
	for _, x := range ts {
		met[x.What] = x.Met
	}
	for what, want := range map[string]bool{
		"federation QPS / whoami QPS (pinned)": true, // 0.90
		"federation QPS / file QPS (pinned)":   true, // 3.0
		"federation QPS / knot QPS (pinned)":   false,
		"RSS, lab 4×10000":                     true,
		"RSS, synthetic 50×10000":              false,
		"ServeDNS time per query, synthetic 50×10000 vs 4×10000, zone/zone-v1/nxdomain names (same reply size)": true,
		"ServeDNS time per query, synthetic 50×10000 vs 4×10000, whole mix":                                     false,
		"reply size of a four-address answer / Knot's":                                                          true, // 1.09
	} {
		if got, ok := met[what]; !ok || got != want {
			t.Errorf("target %q: met %v (present %v), want %v", what, got, ok, want)
		}
	}
	rep.Targets = ts
	md := Markdown(rep)
	for _, s := range []string{"## Targets", "## Throughput, pinned", "whoami **0.90×**", "## Propagation", "### Synthetic", "**Synthetic.**", "### Growth", "| 10000 | 50 × 200 |", "3.0 / 42.5 ms", "growth-rss.svg",
		"federation 139 bytes, file 320 bytes, knot 128 bytes"} {
		if !strings.Contains(md, s) {
			t.Errorf("report lacks %q", s)
		}
	}
}

// BenchmarkServeDNSSynthetic is the synthetic part's query-path benchmark for
// go test: ServeDNS under the server's ScrubWriter (the reply packed, compressed), the seed's four members against
// fifty, 2000 Services each (make bench runs the 10k sizes).
func BenchmarkServeDNSSynthetic(b *testing.B) {
	for _, topo := range []Topology{SeedTopology(2000), WideTopology(50, 2000)} {
		f, _, err := newFederation(topo, b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		f.Start()
		for !f.Ready() {
			time.Sleep(5 * time.Millisecond)
		}
		qs := Queries(topo, 4096, 1)
		msgs := make([]*dns.Msg, len(qs))
		for k, q := range qs {
			msgs[k] = new(dns.Msg)
			msgs[k].SetQuestion(q.Name, dns.TypeA)
			msgs[k].SetEdns0(1232, false)
		}
		b.Run(fmt.Sprintf("%dx%d", len(topo.Clusters), topo.Services), func(b *testing.B) {
			w := &packWriter{buf: make([]byte, 0, 4096)}
			ctx := context.Background()
			b.ReportAllocs()
			for k := 0; b.Loop(); k++ {
				req := msgs[k%len(msgs)]
				f.ServeDNS(ctx, request.NewScrubWriter(req, w), req)
			}
		})
		f.Stop()
	}
}

func TestGrowthPlots(t *testing.T) {
	var runs []*Synthetic
	for i, n := range []int{10000, 50000} {
		runs = append(runs, &Synthetic{Clusters: 50, Services: n / 50, Shards: n, Memory: Memory{RSS: int64(i+1) * 100 * mib},
			FullRebuildMs: float64(i+1) * 100, ChangeToAnswerMs: 2, ChangeToAnswerP99Ms: 9})
	}
	dir := t.TempDir()
	files, err := GrowthPlots(runs, dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 3 {
		t.Fatalf("%d plots, want 3: %v", len(files), files)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), "<svg") || !strings.Contains(string(b), "shards (50 synthetic members)") {
			t.Errorf("%s is not the plot expected:\n%.300s", f, b)
		}
	}
}
