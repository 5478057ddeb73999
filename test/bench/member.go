package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coredns-fed/coredns-fed/internal/lab"
)

// The member phase measures the memory federation's member mode adds to a
// cluster's own CoreDNS: a member with many Services, few of them federated,
// and side by side on its kube-apiserver three cluster DNS servers that
// differ by one thing each.
const (
	// StockServer is a stock CoreDNS (built from the coredns module go.mod
	// pins) with the kubernetes plugin alone.
	StockServer = "stock"
	// KubernetesServer is coredns-fed with the kubernetes plugin alone: the
	// same Corefile as StockServer, the coredns-fed binary.
	KubernetesServer = "kubernetes"
	// MemberServer is coredns-fed with the kubernetes plugin and federation
	// in member mode in front of it, and the stub domain for the
	// federation's zone.
	MemberServer = "member"
)

// ClusterDomain is the member's own DNS domain.
const ClusterDomain = "cluster.local"

func isClusterServer(name string) bool {
	return name == StockServer || name == KubernetesServer || name == MemberServer
}

// clusterCorefile renders the Corefile of a cluster DNS server: the cluster
// domain served by the kubernetes plugin with the first member's admin
// kubeconfig (it watches Namespaces, which the reader role does not grant),
// prometheus and pprof on loopback ports. MemberServer adds federation in
// member mode, watching the member with its reader kubeconfig, and the stub
// domain that sends the federation's zone to its name servers (here a
// loopback port where none listens: nothing asks).
func (sp ServerSpec) clusterCorefile(port, pprofPort, metricsPort int) (string, error) {
	if len(sp.Clusters) == 0 {
		return "", fmt.Errorf("%s: no member to watch", sp.Name)
	}
	c := sp.Clusters[0]
	var b strings.Builder
	fmt.Fprintf(&b, "%s:%d {\n    bind 127.0.0.1\n", ClusterDomain, port)
	if sp.Name == MemberServer {
		fmt.Fprintf(&b, "    federation {\n        %s %s\n        kubeconfig %s\n    }\n", Federation, Domain, c.ReaderKubeconfig)
	}
	fmt.Fprintf(&b, "    kubernetes %s {\n        kubeconfig %s\n    }\n", ClusterDomain, c.AdminKubeconfig)
	fmt.Fprintf(&b, "    prometheus 127.0.0.1:%d\n    pprof 127.0.0.1:%d\n    errors\n}\n", metricsPort, pprofPort)
	if sp.Name == MemberServer {
		fmt.Fprintf(&b, "\n%s:%d {\n    bind 127.0.0.1\n    forward . 127.0.0.1:9\n}\n", Domain, port)
	}
	return b.String(), nil
}

// MemberOptions sizes a member run.
type MemberOptions struct {
	Root, Out string
	Go        string // the go command, for go tool pprof
	// Stock is a stock CoreDNS binary; empty leaves StockServer out, and the
	// ratio is taken to KubernetesServer.
	Stock string
	Smoke bool

	Services  int // Services in the member
	Federated int // of them federated
	Workers   int // concurrent writers while populating
	Rounds    int // each starts the servers afresh; the report gives the median

	// After the forced GC the Go runtime's background scavenger returns
	// the freed pages to the kernel over some seconds: sampling waits until
	// no server's RSS has moved more than SettleDelta over SettleWindow, for
	// at most Settle.
	Settle       time.Duration
	SettleWindow time.Duration
	SettleDelta  int64
	Sample       time.Duration // how long RSS is sampled
	Every        time.Duration // between samples

	Logf func(format string, args ...any)
}

// DefaultMemberOptions returns the full run's sizes, or the smoke run's.
func DefaultMemberOptions(smoke bool) MemberOptions {
	o := MemberOptions{
		Go: "go", Services: 10000, Federated: 100, Workers: 16, Rounds: 5,
		Settle: 2 * time.Minute, SettleWindow: 10 * time.Second, SettleDelta: 1 << 20,
		Sample: 20 * time.Second, Every: 2 * time.Second,
		Logf: log.Printf,
	}
	if smoke {
		o.Smoke = true
		o.Services, o.Rounds = 1000, 1
		o.Sample = 10 * time.Second
	}
	return o
}

// MemberFederated returns which of n Services are federated when f of them
// are: every (n/f)-th, starting with the first.
func MemberFederated(n, f int) func(int) bool {
	if f <= 0 {
		return func(int) bool { return false }
	}
	stride := max(1, n/f)
	return func(i int) bool { return i%stride == 0 && i/stride < f }
}

// LocalName is the name the kubernetes plugin answers for Service i.
func LocalName(i int) string {
	return ServiceName(i) + "." + Namespace + ".svc." + ClusterDomain + "."
}

// MemberName is the name member mode answers for federated Service i: what a
// pod's search path makes of S.N.F.
func MemberName(i int) string {
	return ServiceName(i) + "." + Namespace + "." + Federation + ".svc." + ClusterDomain + "."
}

// MemberReport is what one member run measured.
type MemberReport struct {
	Started   time.Time `json:"started"`
	Seconds   float64   `json:"seconds"`
	Smoke     bool      `json:"smoke"`
	Machine   Machine   `json:"machine"`
	Member    string    `json:"member"`
	Services  int       `json:"services"`
	Federated int       `json:"federated"`
	Populate  float64   `json:"populate_seconds"`

	Servers []MemberServerInfo `json:"servers"`
	Rounds  []MemberRound      `json:"rounds"`
	// Median is each server's median over the rounds, field by field.
	Median []MemberFigure `json:"median"`
	// Baseline is the server the ratio is taken to: StockServer, or
	// KubernetesServer when there is no stock binary.
	Baseline string  `json:"baseline"`
	Ratio    float64 `json:"rss_ratio"` // MemberServer's median RSS over Baseline's
	// AnonRatio is the same for anonymous RSS (the binary's pages left out);
	// OwnRatio is MemberServer's RSS over KubernetesServer's: member mode's
	// own cost, in the same binary.
	AnonRatio float64 `json:"rss_anon_ratio"`
	OwnRatio  float64 `json:"own_rss_ratio"`

	// HeapTop is go tool pprof -top of each server's in-use heap after the
	// last round; HeapDiff is MemberServer's less KubernetesServer's (the
	// same binary).
	HeapTop  map[string]string `json:"heap_top"`
	HeapDiff string            `json:"heap_diff"`

	Targets []Target `json:"targets"`
}

// MemberServerInfo describes one server of the run.
type MemberServerInfo struct {
	Name     string `json:"name"`
	What     string `json:"what"`
	Binary   string `json:"binary"`
	Version  string `json:"version"`
	Corefile string `json:"corefile"`
}

// MemberRound is one round: the servers started together, synced, settled
// and sampled.
type MemberRound struct {
	Round   int            `json:"round"`
	Load    string         `json:"load"` // load average when sampling began
	Servers []MemberFigure `json:"servers"`
}

// MemberFigure is one server's memory in a round: the median of its samples.
type MemberFigure struct {
	Server      string  `json:"server"`
	SyncSeconds float64 `json:"sync_seconds"` // start to the first answer for the last Service (and, in member mode, a federated one)
	// SettleSeconds is the time from the forced GC until the RSS held still
	// (the settle timeout when it did not).
	SettleSeconds float64 `json:"settle_seconds"`
	Samples       int     `json:"samples"`
	RSS           int64   `json:"rss_bytes"` // VmRSS, median of the samples
	RSSMin        int64   `json:"rss_min_bytes"`
	RSSMax        int64   `json:"rss_max_bytes"`
	RSSAnon       int64   `json:"rss_anon_bytes"`   // RssAnon, median
	RSSFile       int64   `json:"rss_file_bytes"`   // RssFile, median: the binary's pages
	Peak          int64   `json:"peak_bytes"`       // VmHWM at the end of sampling
	HeapInuse     int64   `json:"heap_inuse_bytes"` // go_memstats_heap_inuse_bytes, median
	HeapAlloc     int64   `json:"heap_alloc_bytes"` // go_memstats_heap_alloc_bytes, median
	GoSys         int64   `json:"go_sys_bytes"`     // go_memstats_sys_bytes, median
}

// memberTarget is the goal: member mode adds at most 10 % to the
// RSS of the cluster's CoreDNS.
const memberTarget = 1.10

// RunMember starts a lab of one member, populates it, and measures the
// cluster DNS servers; it writes member.json and member.md to o.Out.
func RunMember(ctx context.Context, o MemberOptions) (*MemberReport, error) {
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return nil, err
	}
	rep := &MemberReport{Started: time.Now(), Smoke: o.Smoke, Machine: machine(Options{Root: o.Root, Go: o.Go}),
		Services: o.Services, Federated: o.Federated, HeapTop: map[string]string{}}
	if o.Stock != "" {
		rep.Machine.Versions["coredns (stock)"] = binaryVersion(o.Stock)
	}
	err := runMember(ctx, o, rep)
	rep.Machine.LoadAfter = lab.LoadAvg()
	rep.Seconds = time.Since(rep.Started).Seconds()
	rep.Median = MedianFigures(rep.Rounds)
	memberRatios(rep)
	b, jerr := json.MarshalIndent(rep, "", "  ")
	if jerr == nil {
		jerr = os.WriteFile(filepath.Join(o.Out, "member.json"), append(b, '\n'), 0o644)
	}
	if jerr == nil {
		jerr = os.WriteFile(filepath.Join(o.Out, "member.md"), []byte(MemberMarkdown(rep)), 0o644)
	}
	if err == nil {
		err = jerr
	}
	return rep, err
}

// binaryVersion is the first line of bin -version.
func binaryVersion(bin string) string {
	out, err := exec.Command(bin, "-version").Output()
	if err != nil {
		return ""
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return line
}

func runMember(ctx context.Context, o MemberOptions, rep *MemberReport) error {
	cfg := lab.SeedConfig(o.Root)
	cfg.Namespace, cfg.Services, cfg.Logf = Namespace, nil, o.Logf
	cfg.Clusters = append([]lab.ClusterSpec(nil), lab.SeedClusters[:1]...)
	o.Logf("starting the lab: one member kube-apiserver")
	l, err := lab.Start(ctx, cfg)
	if err != nil {
		return err
	}
	defer l.Close()
	c := l.Clusters()[0]
	rep.Member = c.Name
	federated := MemberFederated(o.Services, o.Federated)
	o.Logf("writing %d Services with their EndpointSlices, %d of them federated", o.Services, o.Federated)
	start := time.Now()
	var last time.Time
	var mu sync.Mutex
	progress := func(n int64) {
		mu.Lock()
		defer mu.Unlock()
		if time.Since(last) >= 15*time.Second {
			last = time.Now()
			o.Logf("  %d/%d Services written", n, o.Services)
		}
	}
	if err := PopulateMixed(ctx, c, 0, 0, o.Services, o.Workers, federated, progress); err != nil {
		return err
	}
	rep.Populate = time.Since(start).Seconds()
	o.Logf("populated in %s", time.Since(start).Round(time.Second))

	var specs []ServerSpec
	dir := filepath.Join(o.Out, "member-servers")
	fed := filepath.Join(o.Root, "bin", "coredns-fed")
	if o.Stock != "" {
		specs = append(specs, ServerSpec{Name: StockServer, Dir: dir, Bin: o.Stock, Clusters: l.Clusters()})
	}
	specs = append(specs,
		ServerSpec{Name: KubernetesServer, Dir: dir, Bin: fed, Clusters: l.Clusters()},
		ServerSpec{Name: MemberServer, Dir: dir, Bin: fed, Clusters: l.Clusters()})
	for round := 1; round <= o.Rounds; round++ {
		// Rotate the start order, so that no server is always first to LIST.
		order := append(slices.Clone(specs[(round-1)%len(specs):]), specs[:(round-1)%len(specs)]...)
		r, servers, err := memberRound(ctx, o, round, order, federated)
		if err == nil && round == o.Rounds {
			err = memberProfiles(ctx, o, rep, servers)
		}
		if round == 1 {
			for _, s := range servers {
				rep.Servers = append(rep.Servers, MemberServerInfo{Name: s.Name, What: memberWhat(s.Name),
					Binary: specBin(specs, s.Name), Version: binaryVersion(specBin(specs, s.Name)), Corefile: s.Config})
			}
		}
		for _, s := range servers {
			s.Stop()
		}
		if err != nil {
			return fmt.Errorf("round %d: %w", round, err)
		}
		rep.Rounds = append(rep.Rounds, *r)
	}
	return nil
}

func specBin(specs []ServerSpec, name string) string {
	for _, sp := range specs {
		if sp.Name == name {
			return sp.Bin
		}
	}
	return ""
}

func memberWhat(name string) string {
	switch name {
	case StockServer:
		return "stock CoreDNS, kubernetes alone"
	case KubernetesServer:
		return "coredns-fed, kubernetes alone"
	case MemberServer:
		return "coredns-fed, kubernetes + federation (member mode)"
	}
	return name
}

// memberRound starts the servers side by side, waits until each answers for
// the last Service written (and MemberServer for a federated name too),
// forces a garbage collection in each (a pprof heap profile with gc=1), waits
// until their RSS holds still (settle) and samples VmRSS and the Go heap
// every o.Every for o.Sample. It
// returns the running servers, which the caller stops.
func memberRound(ctx context.Context, o MemberOptions, round int, specs []ServerSpec, federated func(int) bool) (*MemberRound, []*Server, error) {
	o.Logf("round %d: starting %d servers", round, len(specs))
	var servers []*Server
	starts := map[string]time.Time{}
	for _, sp := range specs {
		starts[sp.Name] = time.Now()
		s, err := sp.Start()
		if err != nil {
			return nil, servers, err
		}
		servers = append(servers, s)
	}
	fedIndex := -1
	for i := range o.Services {
		if federated(i) {
			fedIndex = i
		}
	}
	r := &MemberRound{Round: round}
	synced := map[string]float64{}
	for _, s := range servers {
		at, err := s.WaitAnswering(ctx, LocalName(o.Services-1), 3*time.Minute)
		if err != nil {
			return nil, servers, err
		}
		if s.Name == MemberServer && fedIndex >= 0 {
			if at, err = s.WaitAnswering(ctx, MemberName(fedIndex), 3*time.Minute); err != nil {
				return nil, servers, err
			}
		}
		synced[s.Name] = at.Sub(starts[s.Name]).Seconds()
		o.Logf("  %s synced in %.1f s", s.Name, synced[s.Name])
	}
	for _, s := range servers {
		if err := forceGC(ctx, s); err != nil {
			return nil, servers, err
		}
	}
	settled, err := settle(ctx, o, servers)
	if err != nil {
		return nil, servers, err
	}
	r.Load = lab.LoadAvg()
	samples := map[string][]memSample{}
	for t := time.Duration(0); t <= o.Sample; t += o.Every {
		for _, s := range servers {
			m, err := sampleMemory(ctx, s)
			if err != nil {
				return nil, servers, fmt.Errorf("%s: %w", s.Name, err)
			}
			samples[s.Name] = append(samples[s.Name], m)
		}
		if t+o.Every <= o.Sample {
			if err := sleep(ctx, o.Every); err != nil {
				return nil, servers, err
			}
		}
	}
	for _, s := range servers {
		f := figureOf(s.Name, samples[s.Name])
		f.SyncSeconds = synced[s.Name]
		f.SettleSeconds = settled[s.Name]
		r.Servers = append(r.Servers, f)
		o.Logf("  %s: RSS %.1f MiB (%.1f–%.1f), heap in use %.1f MiB, Go sys %.1f MiB",
			s.Name, mibOf(f.RSS), mibOf(f.RSSMin), mibOf(f.RSSMax), mibOf(f.HeapInuse), mibOf(f.GoSys))
	}
	slices.SortFunc(r.Servers, func(a, b MemberFigure) int { return serverRank(a.Server) - serverRank(b.Server) })
	return r, servers, nil
}

func serverRank(name string) int {
	switch name {
	case StockServer:
		return 0
	case KubernetesServer:
		return 1
	}
	return 2
}

func mibOf(n int64) float64 { return float64(n) / (1 << 20) }

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// settle reads the servers' RSS every second until none has moved more than
// o.SettleDelta over the last o.SettleWindow, or o.Settle has passed, and
// returns how long each took to hold still.
func settle(ctx context.Context, o MemberOptions, servers []*Server) (map[string]float64, error) {
	start := time.Now()
	window := max(1, int(o.SettleWindow/time.Second))
	seen := map[string][]int64{}
	took := map[string]float64{}
	for {
		for _, s := range servers {
			if _, ok := took[s.Name]; ok {
				continue
			}
			m, err := readMemory(strconv.Itoa(s.PID()))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", s.Name, err)
			}
			seen[s.Name] = append(seen[s.Name], m.RSS)
			if Settled(seen[s.Name], window, o.SettleDelta) {
				took[s.Name] = time.Since(start).Seconds()
			}
		}
		if len(took) == len(servers) {
			break
		}
		if time.Since(start) >= o.Settle {
			for _, s := range servers {
				if _, ok := took[s.Name]; !ok {
					took[s.Name] = time.Since(start).Seconds()
					o.Logf("  %s: RSS still moving after %s", s.Name, o.Settle)
				}
			}
			break
		}
		if err := sleep(ctx, time.Second); err != nil {
			return nil, err
		}
	}
	return took, nil
}

// Settled reports whether the last window+1 readings of rss (one a second)
// lie within delta of each other.
func Settled(rss []int64, window int, delta int64) bool {
	if len(rss) <= window {
		return false
	}
	last := rss[len(rss)-window-1:]
	return slices.Max(last)-slices.Min(last) <= delta
}

// forceGC has the server run a garbage collection: the pprof plugin's heap
// profile with gc=1 does so before it writes the profile.
func forceGC(ctx context.Context, s *Server) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.PprofURL+"/heap?gc=1", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s: forcing a GC: %w", s.Name, err)
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}

// memSample is one reading of a server's memory.
type memSample struct {
	Memory
	HeapInuse, HeapAlloc, Sys int64
}

func sampleMemory(ctx context.Context, s *Server) (memSample, error) {
	var m memSample
	var err error
	if m.Memory, err = readMemory(strconv.Itoa(s.PID())); err != nil {
		return m, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.MetricsURL, nil)
	if err != nil {
		return m, err
	}
	// Uncompressed: a gzip writer the server would keep for the next scrape
	// is memory the scrape, not the server, brings.
	req.Header.Set("Accept-Encoding", "identity")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return m, err
	}
	defer resp.Body.Close()
	g, err := ParseGoMemstats(resp.Body)
	if err != nil {
		return m, err
	}
	m.HeapInuse, m.HeapAlloc, m.Sys = int64(g["heap_inuse_bytes"]), int64(g["heap_alloc_bytes"]), int64(g["sys_bytes"])
	return m, nil
}

// ParseGoMemstats reads the unlabelled go_memstats_* gauges of a Prometheus
// text exposition, by name without the go_memstats_ prefix.
func ParseGoMemstats(r io.Reader) (map[string]float64, error) {
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, ok := strings.CutPrefix(sc.Text(), "go_memstats_")
		if !ok {
			continue
		}
		f := strings.Fields(name)
		if len(f) != 2 || strings.Contains(f[0], "{") {
			continue
		}
		v, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			continue
		}
		out[f[0]] = v
	}
	return out, sc.Err()
}

// figureOf is the median of a server's samples.
func figureOf(server string, ss []memSample) MemberFigure {
	f := MemberFigure{Server: server, Samples: len(ss)}
	if len(ss) == 0 {
		return f
	}
	pick := func(get func(memSample) int64) []int64 {
		xs := make([]int64, len(ss))
		for i, s := range ss {
			xs[i] = get(s)
		}
		return xs
	}
	rss := pick(func(s memSample) int64 { return s.RSS })
	f.RSS, f.RSSMin, f.RSSMax = MedianInt(rss), slices.Min(rss), slices.Max(rss)
	f.Peak = ss[len(ss)-1].Peak
	f.RSSAnon = MedianInt(pick(func(s memSample) int64 { return s.Anon }))
	f.RSSFile = MedianInt(pick(func(s memSample) int64 { return s.File }))
	f.HeapInuse = MedianInt(pick(func(s memSample) int64 { return s.HeapInuse }))
	f.HeapAlloc = MedianInt(pick(func(s memSample) int64 { return s.HeapAlloc }))
	f.GoSys = MedianInt(pick(func(s memSample) int64 { return s.Sys }))
	return f
}

// MedianInt is the median of xs (the mean of the middle two for an even
// count), 0 for none.
func MedianInt(xs []int64) int64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(xs))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// MedianFigures is each server's median over the rounds, field by field, in
// the order of the first round.
func MedianFigures(rounds []MemberRound) []MemberFigure {
	if len(rounds) == 0 {
		return nil
	}
	var out []MemberFigure
	for _, first := range rounds[0].Servers {
		var fs []MemberFigure
		for _, r := range rounds {
			for _, f := range r.Servers {
				if f.Server == first.Server {
					fs = append(fs, f)
				}
			}
		}
		med := func(get func(MemberFigure) int64) int64 {
			xs := make([]int64, len(fs))
			for i, f := range fs {
				xs[i] = get(f)
			}
			return MedianInt(xs)
		}
		syncs, settles := make([]float64, len(fs)), make([]float64, len(fs))
		samples := 0
		for i, f := range fs {
			syncs[i], settles[i] = f.SyncSeconds, f.SettleSeconds
			samples += f.Samples
		}
		out = append(out, MemberFigure{
			Server:        first.Server,
			SyncSeconds:   percentile(syncs, 0.5),
			SettleSeconds: percentile(settles, 0.5),
			Samples:       samples,
			RSS:           med(func(f MemberFigure) int64 { return f.RSS }),
			RSSMin:        slices.MinFunc(fs, func(a, b MemberFigure) int { return int(a.RSSMin - b.RSSMin) }).RSSMin,
			RSSMax:        slices.MaxFunc(fs, func(a, b MemberFigure) int { return int(a.RSSMax - b.RSSMax) }).RSSMax,
			RSSAnon:       med(func(f MemberFigure) int64 { return f.RSSAnon }),
			RSSFile:       med(func(f MemberFigure) int64 { return f.RSSFile }),
			Peak:          med(func(f MemberFigure) int64 { return f.Peak }),
			HeapInuse:     med(func(f MemberFigure) int64 { return f.HeapInuse }),
			HeapAlloc:     med(func(f MemberFigure) int64 { return f.HeapAlloc }),
			GoSys:         med(func(f MemberFigure) int64 { return f.GoSys }),
		})
	}
	return out
}

func figure(fs []MemberFigure, server string) *MemberFigure {
	for i := range fs {
		if fs[i].Server == server {
			return &fs[i]
		}
	}
	return nil
}

// memberRatios sets the report's ratios and targets from its medians: to the
// stock CoreDNS when it ran, else to coredns-fed with kubernetes alone.
func memberRatios(rep *MemberReport) {
	rep.Baseline, rep.Ratio, rep.AnonRatio, rep.OwnRatio = "", 0, 0, 0
	rep.Targets = nil
	m := figure(rep.Median, MemberServer)
	if m == nil {
		return
	}
	if k := figure(rep.Median, KubernetesServer); k != nil && k.RSS > 0 {
		rep.OwnRatio = float64(m.RSS) / float64(k.RSS)
	}
	for _, base := range []string{StockServer, KubernetesServer} {
		if b := figure(rep.Median, base); b != nil && b.RSS > 0 {
			rep.Baseline, rep.Ratio = base, float64(m.RSS)/float64(b.RSS)
			if b.RSSAnon > 0 {
				rep.AnonRatio = float64(m.RSSAnon) / float64(b.RSSAnon)
			}
			break
		}
	}
	if rep.Baseline == "" {
		return
	}
	goal := fmt.Sprintf("≤ %.2f (+%.0f %%)", memberTarget, (memberTarget-1)*100)
	bases := []string{rep.Baseline}
	if rep.Baseline != KubernetesServer && rep.OwnRatio > 0 {
		bases = append(bases, KubernetesServer)
	}
	for _, base := range bases {
		b := figure(rep.Median, base)
		r := float64(m.RSS) / float64(b.RSS)
		rep.Targets = append(rep.Targets, Target{
			What:     fmt.Sprintf("RSS with member mode over %s (%d Services, %d federated)", memberWhat(base), rep.Services, rep.Federated),
			Goal:     goal,
			Measured: fmt.Sprintf("%.3f (%.1f MiB against %.1f MiB; anonymous %.1f against %.1f MiB)", r, mibOf(m.RSS), mibOf(b.RSS), mibOf(m.RSSAnon), mibOf(b.RSSAnon)),
			Met:      r <= memberTarget,
		})
	}
}

// memberProfiles saves each server's in-use heap (after a GC) and its top,
// and the difference of member mode's from coredns-fed's with kubernetes
// alone.
func memberProfiles(ctx context.Context, o MemberOptions, rep *MemberReport, servers []*Server) error {
	paths := map[string]string{}
	for _, s := range servers {
		p := filepath.Join(o.Out, "heap-member-"+s.Name+".pprof")
		if err := fetchProfile(ctx, s.PprofURL+"/heap?gc=1", p); err != nil {
			return err
		}
		top, err := PprofTop(ctx, o.Go, p, "-sample_index=inuse_space", "-nodecount", "25")
		if err != nil {
			return err
		}
		rep.HeapTop[s.Name] = shortTop(top, 25)
		paths[s.Name] = p
	}
	if base, ok := paths[KubernetesServer]; ok {
		if p, ok := paths[MemberServer]; ok {
			top, err := PprofTop(ctx, o.Go, p, "-sample_index=inuse_space", "-nodecount", "25", "-diff_base", base)
			if err != nil {
				return err
			}
			rep.HeapDiff = shortTop(top, 25)
		}
	}
	return nil
}

// MemberMarkdown renders a member report.
func MemberMarkdown(rep *MemberReport) string {
	var b bytes.Buffer
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	p("# Member mode beside the kubernetes plugin\n")
	p("%s, %.0f s%s. %d CPUs (%s), load average %s before, %s after. Commit %s.\n",
		rep.Started.UTC().Format("2006-01-02 15:04 MST"), rep.Seconds, map[bool]string{true: ", smoke run"}[rep.Smoke],
		rep.Machine.CPUs, rep.Machine.Model, rep.Machine.LoadBefore, rep.Machine.LoadAfter, rep.Machine.Versions["commit"])
	p("Member %s: one kube-apiserver with %d Services (ClusterIP, each with an EndpointSlice labelled from its Service), %d of them federated (LoadBalancer with ingress, labelled for %s); written in %.0f s.\n",
		rep.Member, rep.Services, rep.Federated, Federation, rep.Populate)
	if len(rep.Targets) > 0 {
		p("| target | goal | measured | met |\n|---|---|---|---|")
		for _, t := range rep.Targets {
			p("| %s | %s | %s | %s |", t.What, t.Goal, t.Measured, yes(t.Met))
		}
		p("")
	}
	if len(rep.Median) > 0 {
		p("Median of %d rounds (each server's RSS is the median of its samples in a round):\n", len(rep.Rounds))
		p("| server | RSS | RSS range | anonymous | file | VmHWM | heap in use | heap alloc | Go sys | sync | settle | RSS / %[1]s | anonymous / %[1]s | heap in use / %[1]s |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|", rep.Baseline)
		base := figure(rep.Median, rep.Baseline)
		for _, f := range rep.Median {
			ratio := func(get func(*MemberFigure) int64) string {
				if base == nil || get(base) == 0 {
					return ""
				}
				return fmt.Sprintf("%.3f", float64(get(&f))/float64(get(base)))
			}
			p("| %s | %.1f MiB | %.1f–%.1f MiB | %.1f MiB | %.1f MiB | %.1f MiB | %.1f MiB | %.1f MiB | %.1f MiB | %.1f s | %.0f s | %s | %s | %s |", memberWhat(f.Server),
				mibOf(f.RSS), mibOf(f.RSSMin), mibOf(f.RSSMax), mibOf(f.RSSAnon), mibOf(f.RSSFile), mibOf(f.Peak),
				mibOf(f.HeapInuse), mibOf(f.HeapAlloc), mibOf(f.GoSys), f.SyncSeconds, f.SettleSeconds,
				ratio(func(f *MemberFigure) int64 { return f.RSS }), ratio(func(f *MemberFigure) int64 { return f.RSSAnon }),
				ratio(func(f *MemberFigure) int64 { return f.HeapInuse }))
		}
		p("\nAnonymous and file are RssAnon and RssFile of /proc/PID/status: the Go heap, stacks and runtime, and the pages of the binary that have been touched. VmHWM is the peak RSS, reached while decoding the initial LISTs. Settle is the time from the forced GC until the RSS held still.")
		p("")
	}
	if len(rep.Rounds) > 0 {
		p("Rounds (RSS and, in brackets, Go heap in use; medians of the samples):\n")
		p("| round | load average | %s |\n|---|---|%s", strings.Join(figureNames(rep.Rounds[0].Servers), " | "), strings.Repeat("---|", len(rep.Rounds[0].Servers)))
		for _, r := range rep.Rounds {
			var cells []string
			for _, f := range r.Servers {
				cells = append(cells, fmt.Sprintf("%.1f MiB (%.1f MiB)", mibOf(f.RSS), mibOf(f.HeapInuse)))
			}
			p("| %d | %s | %s |", r.Round, r.Load, strings.Join(cells, " | "))
		}
		p("")
	}
	if len(rep.Servers) > 0 {
		p("Servers:\n")
		for _, s := range rep.Servers {
			p("- %s: `%s` (%s)", s.What, s.Binary, s.Version)
		}
		p("")
		if s := rep.Servers[len(rep.Servers)-1]; s.Name == MemberServer {
			p("Member mode's Corefile (the others lack the federation block and the stub domain):\n\n```\n%s```\n", s.Corefile)
		}
	}
	if rep.HeapDiff != "" {
		p("In-use heap of member mode less coredns-fed with kubernetes alone (go tool pprof -top -diff_base, after a GC):\n\n```\n%s\n```\n", rep.HeapDiff)
	}
	for _, name := range []string{MemberServer, StockServer} {
		if top := rep.HeapTop[name]; top != "" {
			p("In-use heap of %s (go tool pprof -top, after a GC):\n\n```\n%s\n```\n", memberWhat(name), top)
		}
	}
	return b.String()
}

func figureNames(fs []MemberFigure) []string {
	var names []string
	for _, f := range fs {
		names = append(names, memberWhat(f.Server))
	}
	return names
}
