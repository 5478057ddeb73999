package bench

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/coredns-fed/coredns-fed/internal/lab"
)

// Options sizes a benchmark run.
type Options struct {
	Root  string // the repository: bin/, deploy/member/rbac.yaml, plugin/federation
	Out   string // where reports, profiles and logs go
	Go    string // the go command, for go test and go tool pprof
	Self  string // this program, re-run for the synthetic part
	Smoke bool

	Services int // federated Services per lab member
	Workers  int // concurrent writers per member while populating

	Duration      time.Duration // each saturation run
	FixedDuration time.Duration // each fixed-rate run
	FixedQPS      int
	Clients       int // dnsperf -c
	Outstanding   int // dnsperf -q
	Rounds        int // of the pinned pass; each server's median round counts
	Unpinned      int // rounds of a pass without CPU pinning, 0 for none
	ProfileSecs   int // CPU profile of each coredns-fed server under load

	Flips int

	// The geo phase: coredns-fed with geo answers beside gdnsd and Knot's
	// geoip module.
	GeoOnly     bool // the lab, its zone and the geo phase only
	GeoNetworks int  // networks of the generated database
	GeoSubnets  int  // client subnets compared
	GeoServices int  // Services whose global names are asked

	Synthetic      []Topology
	SyntheticBench time.Duration // per ServeDNS benchmark in the synthetic part
	Growth         []int         // shard counts of the growth phase (GrowthTopology)
	GrowthImg      string        // where the growth plots go; empty: Out
	BenchTime      time.Duration // go test -benchtime of the query-path profile

	Logf func(format string, args ...any)
}

// DefaultOptions returns the full run's sizes, or the smoke run's: the same
// steps on a small federation with short runs.
func DefaultOptions(smoke bool) Options {
	o := Options{
		Go: "go", Services: 10000, Workers: 8,
		Duration: 10 * time.Second, FixedDuration: 10 * time.Second, FixedQPS: 5000,
		Clients: 10, Outstanding: 100, Rounds: 3, Unpinned: 1, ProfileSecs: 8,
		Flips:       400,
		GeoNetworks: 4000, GeoSubnets: 3000, GeoServices: 100,
		Synthetic:      []Topology{SeedTopology(10000), WideTopology(50, 10000)},
		SyntheticBench: 3 * time.Second, BenchTime: 2 * time.Second,
		Growth: GrowthShards,
		Logf:   log.Printf,
	}
	if smoke {
		o.Smoke = true
		o.Services = 300
		o.Duration, o.FixedDuration, o.FixedQPS = 3*time.Second, 2*time.Second, 2000
		o.Rounds, o.Unpinned, o.ProfileSecs = 1, 0, 2
		o.Flips = 20
		o.GeoSubnets, o.GeoServices = 1000, 20
		o.Synthetic = []Topology{SeedTopology(300), WideTopology(50, 300)}
		o.SyntheticBench, o.BenchTime = 300*time.Millisecond, 200*time.Millisecond
		o.Growth = []int{500, 1000}
	}
	return o
}

// The servers of a throughput pass, in the order they are measured.
// federation-transfer is federation with the transfer plugin in its server
// block, to show what that plugin costs every query.
var servers = []string{"federation", "federation-transfer", "file", "whoami", "knot"}

type runner struct {
	o        Options
	rep      *Report
	topo     Topology
	lab      *lab.Lab
	dir      string // servers' files and logs
	zone     string
	queries  []Query
	probe    string // a name every server answers NOERROR
	profiled map[string]bool
}

// Run measures everything and writes report.json and report.md to o.Out.
func Run(ctx context.Context, o Options) (*Report, error) {
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return nil, err
	}
	r := &runner{o: o, topo: SeedTopology(o.Services), dir: filepath.Join(o.Out, "servers"), profiled: map[string]bool{}}
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		return nil, err
	}
	r.rep = &Report{Started: time.Now(), Smoke: o.Smoke, Machine: machine(o)}
	err := r.run(ctx)
	r.rep.Machine.LoadAfter = lab.LoadAvg()
	r.rep.Seconds = time.Since(r.rep.Started).Seconds()
	r.rep.Targets = targets(r.rep)
	if werr := r.write(); err == nil {
		err = werr
	}
	return r.rep, err
}

func (r *runner) logf(format string, args ...any) { r.o.Logf(format, args...) }

func (r *runner) run(ctx context.Context) error {
	if err := r.startLab(ctx); err != nil {
		return err
	}
	labUp := true
	defer func() {
		if labUp {
			r.lab.Close()
		}
	}()
	if err := r.writeQueries(); err != nil {
		return err
	}
	if err := r.measureLabMemory(ctx); err != nil {
		return fmt.Errorf("memory and sync: %w", err)
	}
	if r.o.GeoOnly {
		if err := r.geo(ctx); err != nil {
			return fmt.Errorf("geo: %w", err)
		}
		return nil
	}
	var passes []Pass
	if runtime.NumCPU() >= 2 {
		passes = append(passes, Pass{Name: "pinned", ServerCPUs: "1", PerfCPUs: "0", Rounds: r.o.Rounds})
	}
	if r.o.Unpinned > 0 {
		passes = append(passes, Pass{Name: "unpinned", Rounds: r.o.Unpinned})
	}
	for _, p := range passes {
		p.FixedQPS = r.o.FixedQPS
		if err := r.throughput(ctx, &p); err != nil {
			return fmt.Errorf("throughput (%s): %w", p.Name, err)
		}
		r.rep.Throughput = append(r.rep.Throughput, p)
	}
	if err := r.geo(ctx); err != nil {
		return fmt.Errorf("geo: %w", err)
	}
	r.lab.Close()
	labUp = false

	for _, t := range r.o.Synthetic {
		s, err := r.synthetic(ctx, t)
		if err != nil {
			return fmt.Errorf("synthetic %d×%d: %w", len(t.Clusters), t.Services, err)
		}
		r.rep.Synthetic = append(r.rep.Synthetic, s)
	}
	if err := r.growth(ctx); err != nil {
		return fmt.Errorf("growth: %w", err)
	}
	r.logf("query path: go test -bench on ./plugin/federation")
	qp, err := ProfileQueryPath(ctx, r.o.Go, r.o.Root, r.o.Out, r.o.BenchTime)
	if err != nil {
		return err
	}
	r.rep.QueryPath = qp
	return os.Remove(filepath.Join(r.o.Out, "federation.test")) // 100 MB; the profile carries its symbols
}

func (r *runner) startLab(ctx context.Context) error {
	cfg := lab.SeedConfig(r.o.Root)
	cfg.Namespace = Namespace
	cfg.Services = nil
	cfg.Logf = r.o.Logf
	var err error
	r.logf("starting the lab: %d member kube-apiservers", len(cfg.Clusters))
	if r.lab, err = lab.Start(ctx, cfg); err != nil {
		return err
	}
	clusters := r.lab.Clusters()
	r.logf("writing %d federated Services (Service, load-balancer status, EndpointSlice) into each of %d members", r.o.Services, len(clusters))
	start := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, len(clusters))
	var mu sync.Mutex
	total, reported := 0, 0
	for m, c := range clusters {
		wg.Go(func() {
			errs[m] = Populate(ctx, c, m, 0, r.o.Services, r.o.Workers, func(int64) {
				mu.Lock()
				defer mu.Unlock()
				total++
				if pct := 100 * total / (r.o.Services * len(clusters)); pct >= reported+10 {
					reported = pct - pct%10
					r.logf("  %d%% (%d Services, %s)", reported, total, time.Since(start).Round(time.Second))
				}
			})
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	r.rep.Setup.PopulateSeconds = time.Since(start).Seconds()
	for _, c := range clusters {
		r.rep.Setup.Clusters = append(r.rep.Setup.Clusters, fmt.Sprintf("%s (%s, %s)", c.Name, c.Region, strings.Join(c.Zones, " ")))
	}
	r.rep.Setup.Services = r.o.Services
	r.rep.Setup.Objects = 2 * r.o.Services * len(clusters)
	r.logf("populated in %s", time.Since(start).Round(time.Second))
	return nil
}

func (r *runner) writeQueries() error {
	r.queries = Queries(r.topo, 100000, 1)
	r.probe = Name(1, "")
	r.rep.Setup.QueryFile = filepath.Join(r.o.Out, "queries.txt")
	r.rep.Setup.Queries = len(r.queries)
	r.rep.Setup.Mix = Mix
	return WriteQueryFile(r.rep.Setup.QueryFile, r.queries)
}

func (r *runner) spec(name, cpus string) ServerSpec {
	return ServerSpec{
		Name: name, Dir: r.dir, CPUs: cpus,
		Bin:      filepath.Join(r.o.Root, "bin", "coredns-fed"),
		Clusters: r.lab.Clusters(),
		ZoneFile: r.zone,
	}
}

// measureLabMemory starts coredns-fed against the populated lab (no CPU
// pinning) and records its cold sync, its memory once synced, its heap, and
// the zone it serves, transferred (AXFR) for the file plugin and Knot.
func (r *runner) measureLabMemory(ctx context.Context) error {
	r.logf("memory and cold sync: coredns-fed watching %d members × %d Services", len(r.topo.Clusters), r.o.Services)
	start := time.Now()
	s, err := r.spec("federation-transfer", "").Start()
	if err != nil {
		return err
	}
	defer s.Stop()
	at, err := s.WaitAnswering(ctx, r.probe, 5*time.Minute)
	if err != nil {
		return err
	}
	m := &LabMemory{Clusters: len(r.topo.Clusters), Services: r.o.Services, SyncSeconds: at.Sub(start).Seconds()}
	r.logf("  synced in %.1fs; settling 5s", m.SyncSeconds)
	time.Sleep(5 * time.Second)
	if m.Memory, err = readMemory(strconv.Itoa(s.PID())); err != nil {
		return err
	}
	if m.HeapInuse, m.GoSys, err = heapStats(ctx, s.PprofURL+"/heap?debug=1"); err != nil {
		return err
	}
	m.HeapProfile = filepath.Join(r.o.Out, "heap-coredns-fed-lab.pprof")
	if err := fetchProfile(ctx, s.PprofURL+"/heap", m.HeapProfile); err != nil {
		return err
	}
	if m.HeapTop, err = PprofTop(ctx, r.o.Go, m.HeapProfile, "-sample_index=inuse_space", "-nodecount", "20"); err != nil {
		return err
	}
	r.rep.LabMemory = m
	r.logf("  RSS %d MiB (peak %d MiB), heap in use %d MiB", m.Memory.RSS>>20, m.Memory.Peak>>20, m.HeapInuse>>20)

	r.zone = filepath.Join(r.o.Out, "example.com.zone")
	n, err := TransferZone(s.Addr, Domain, r.zone)
	if err != nil {
		return err
	}
	r.rep.Setup.ZoneFile, r.rep.Setup.ZoneRecords = r.zone, n
	r.logf("  zone transferred: %d records in %s", n, r.zone)
	return nil
}

// throughput measures every server in turn, each alone, in p.Rounds rounds.
// Interleaving the rounds spreads whatever else the machine does over all the
// servers; each server's figure is its median round. The fixed-rate run, the
// profiles, the answer comparison and the propagation flips happen in the
// first round.
func (r *runner) throughput(ctx context.Context, p *Pass) error {
	rounds := map[string][]ServerRun{}
	for round := 1; round <= p.Rounds; round++ {
		for _, name := range servers {
			r.logf("throughput (%s, round %d of %d): %s", p.Name, round, p.Rounds, name)
			s, err := r.spec(name, p.ServerCPUs).Start()
			if err != nil {
				return err
			}
			run, err := r.measure(ctx, s, p, round == 1)
			if err == nil && round == 1 && p.ServerCPUs != "" {
				err = r.extras(ctx, s, p)
			}
			s.Stop()
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			rounds[name] = append(rounds[name], *run)
		}
	}
	for _, name := range servers {
		p.Runs = append(p.Runs, medianRun(rounds[name]))
	}
	return nil
}

// medianRun returns the run with the median saturation QPS, carrying every
// round's QPS and the first round's fixed-rate run.
func medianRun(runs []ServerRun) ServerRun {
	var qps []float64
	for _, x := range runs {
		qps = append(qps, x.Saturation.QPS)
	}
	sorted := slices.Clone(runs)
	slices.SortFunc(sorted, func(a, b ServerRun) int { return cmp.Compare(a.Saturation.QPS, b.Saturation.QPS) })
	m := sorted[(len(sorted)-1)/2]
	m.RoundQPS = qps
	m.Fixed = runs[0].Fixed
	return m
}

func (r *runner) perf(s *Server, p *Pass, d time.Duration, rate int) PerfRun {
	return PerfRun{
		Addr: s.Addr, QueryFile: r.rep.Setup.QueryFile, Duration: d,
		Clients: r.o.Clients, Outstanding: r.o.Outstanding, RateLimit: rate, CPUs: p.PerfCPUs,
		OutFile: filepath.Join(r.o.Out, "dnsperf.out"),
	}
}

// measure runs the saturation dnsperf run against s, and the fixed-rate one
// when fixed is set.
func (r *runner) measure(ctx context.Context, s *Server, p *Pass, fixed bool) (*ServerRun, error) {
	if _, err := s.WaitAnswering(ctx, r.probe, 5*time.Minute); err != nil {
		return nil, err
	}
	defer os.Remove(filepath.Join(r.o.Out, "dnsperf.out"))
	run, err := r.saturate(ctx, s, r.perf(s, p, r.o.Duration, 0))
	if err != nil {
		return nil, err
	}
	res := run.Saturation
	r.logf("  %.0f QPS, %.2f%% lost, p50 %.2f ms, p99 %.2f ms (cores: server %.2f, dnsperf %.2f, softirq %.2f, other %.2f)",
		res.QPS, res.LossPercent, res.Latency.P50, res.Latency.P99, run.ServerCores, run.PerfCores, run.SoftirqCores, run.OtherCores)

	if fixed {
		if run.Fixed, _, err = r.perf(s, p, r.o.FixedDuration, p.FixedQPS).Run(ctx); err != nil {
			return nil, err
		}
		r.logf("  at %d QPS: p50 %.3f ms, p99 %.3f ms, %.2f%% lost", p.FixedQPS, run.Fixed.Latency.P50, run.Fixed.Latency.P99, run.Fixed.LossPercent)
	}
	mem, err := readMemory(strconv.Itoa(s.PID()))
	if err != nil {
		return nil, err
	}
	run.RSS = mem.RSS
	return run, nil
}

// saturate loads s with load after one second of warm-up (page faults,
// socket buffers, the Go heap's growth) and measures the CPU time of the
// server, of dnsperf and of the rest of the machine during the run.
func (r *runner) saturate(ctx context.Context, s *Server, load PerfRun) (*ServerRun, error) {
	// A coredns-fed that has just started answering may still be syncing its
	// other members, rebuilding and collecting the lists' garbage; its CPU
	// would be charged to the queries. Measure the steady state.
	settled, idle, err := waitIdle(ctx, s.PID(), settleMax)
	if err != nil {
		return nil, err
	}
	if settled > 1500*time.Millisecond {
		r.logf("  %s idle after %.0f s (%.2f cores in its last second)", s.Name, settled.Seconds(), idle)
	}
	warm := load
	warm.Duration = time.Second
	if _, _, err := warm.Run(ctx); err != nil {
		return nil, err
	}
	run := &ServerRun{Server: s.Name, Config: s.Config, SettleSeconds: settled.Seconds(), SettleCores: idle}
	cpu0, err := lab.ProcessCPU(s.PID())
	if err != nil {
		return nil, err
	}
	busy0, soft0, err := machineCPU()
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	res, cmd, err := load.Run(ctx)
	if err != nil {
		return nil, err
	}
	wall := time.Since(t0).Seconds()
	cpu1, err := lab.ProcessCPU(s.PID())
	if err != nil {
		return nil, err
	}
	busy1, soft1, _ := machineCPU()
	perfCPU := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	run.Saturation = res
	run.ServerCores = (cpu1 - cpu0).Seconds() / wall
	run.PerfCores = perfCPU.Seconds() / wall
	run.SoftirqCores = (soft1 - soft0).Seconds() / wall
	run.OtherCores = max(0, (busy1-busy0).Seconds()/wall-run.ServerCores-run.PerfCores-run.SoftirqCores)
	return run, nil
}

// settleMax bounds the wait for a server to become idle; settleCores is
// idle: a second in which the server used less CPU than this.
const (
	settleMax   = 2 * time.Minute
	settleCores = 0.05
)

// waitIdle waits until process pid uses less than settleCores in one second,
// or max has passed, and returns how long it waited and the CPU use, in cores,
// of its last second.
func waitIdle(ctx context.Context, pid int, max time.Duration) (time.Duration, float64, error) {
	start := time.Now()
	prev, err := lab.ProcessCPU(pid)
	if err != nil {
		return 0, 0, err
	}
	for {
		select {
		case <-ctx.Done():
			return 0, 0, ctx.Err()
		case <-time.After(time.Second):
		}
		cur, err := lab.ProcessCPU(pid)
		if err != nil {
			return 0, 0, err
		}
		cores := (cur - prev).Seconds()
		if cores < settleCores || time.Since(start) >= max {
			return time.Since(start), cores, nil
		}
		prev = cur
	}
}

// extras runs what needs a server up but is not a throughput figure: a CPU
// profile of each coredns-fed variant under load and, with the federation,
// the answer comparison and the propagation flips.
func (r *runner) extras(ctx context.Context, s *Server, p *Pass) error {
	if s.PprofURL != "" && !r.profiled[s.Name] {
		r.profiled[s.Name] = true
		sp, err := r.profileServer(ctx, s, s.Name, r.perf(s, p, time.Duration(r.o.ProfileSecs+2)*time.Second, 0))
		if err != nil {
			return err
		}
		r.rep.ServerProfiles = append(r.rep.ServerProfiles, *sp)
	}
	if s.Name != "federation" || r.rep.Propagation != nil {
		return nil
	}
	r.logf("  answers: comparing federation, file and knot")
	var others []*Server
	defer func() {
		for _, o := range others {
			o.Stop()
		}
	}()
	for _, name := range []string{"file", "knot"} {
		o, err := r.spec(name, "").Start()
		if err != nil {
			return err
		}
		others = append(others, o)
		if _, err := o.WaitAnswering(ctx, r.probe, 5*time.Minute); err != nil {
			return err
		}
	}
	cmp, err := Compare(append([]*Server{s}, others...), r.queries[:min(len(r.queries), 3000)])
	if err != nil {
		return err
	}
	r.rep.Answers = cmp
	r.logf("  %d of %d questions answered alike", cmp.Identical, cmp.Questions)
	for _, o := range others {
		o.Stop()
	}
	others = nil

	r.logf("  propagation: %d EndpointSlice flips", r.o.Flips)
	busy0, _, _ := machineCPU()
	cpu0, _ := lab.ProcessCPU(s.PID())
	t0 := time.Now()
	prop, err := MeasurePropagation(ctx, r.topo, r.lab.Clusters(), s.Addr, r.o.Flips)
	if err != nil {
		return err
	}
	wall := time.Since(t0).Seconds()
	busy1, _, _ := machineCPU()
	cpu1, _ := lab.ProcessCPU(s.PID())
	prop.MachineCores, prop.ServerCores = (busy1-busy0).Seconds()/wall, (cpu1-cpu0).Seconds()/wall
	r.rep.Propagation = prop
	r.logf("  ack → answer p50 %.1f ms, p99 %.1f ms, max %.1f ms, %d timed out (machine %.2f cores busy)", prop.P50, prop.P99, prop.Max, prop.TimedOut, prop.MachineCores)
	return nil
}

// profileServer takes a CPU profile of s, reported as name, while dnsperf
// runs load, which lasts ProfileSecs+2 seconds.
func (r *runner) profileServer(ctx context.Context, s *Server, name string, load PerfRun) (*ServerProfile, error) {
	secs := r.o.ProfileSecs
	load.OutFile = filepath.Join(r.o.Out, "dnsperf-profile.out")
	defer os.Remove(load.OutFile)
	done := make(chan error, 1)
	go func() {
		_, _, err := load.Run(ctx)
		done <- err
	}()
	time.Sleep(time.Second)
	sp := &ServerProfile{Server: name, Seconds: secs, Profile: filepath.Join(r.o.Out, "cpu-"+name+"-server.pprof")}
	err := fetchProfile(ctx, fmt.Sprintf("%s/profile?seconds=%d", s.PprofURL, secs), sp.Profile)
	if lerr := <-done; err == nil {
		err = lerr
	}
	if err != nil {
		return nil, err
	}
	all, err := PprofTop(ctx, r.o.Go, sp.Profile, "-cum")
	if err != nil {
		return nil, err
	}
	sp.Top = shortTop(all, 40)
	sp.Shares = map[string]float64{}
	for label, fn := range profileFuncs {
		sp.Shares[label] = CumShare(all, fn)
	}
	return sp, nil
}

// profileFuncs are the functions whose cumulative share of a server's CPU
// profile is reported, by label.
var profileFuncs = map[string]string{
	"dnsserver.ServeDNS (whole plugin chain)":   "dnsserver.(*Server).ServeDNS",
	"federation ServeDNS":                       "federation.(*Federation).ServeDNS",
	"file ServeDNS":                             "file.File.ServeDNS",
	"whoami ServeDNS":                           "whoami.Whoami.ServeDNS",
	"reading UDP (dns.(*Server).readUDP)":       "dns.(*Server).readUDP",
	"writing UDP (dns.(*response).Write)":       "dns.(*response).Write",
	"packing (dns.(*Msg).Pack)":                 "dns.(*Msg).Pack",
	"GC (runtime.gcBgMarkWorker)":               "runtime.gcBgMarkWorker",
	"transfer ServeDNS":                         "transfer.(*Transfer).ServeDNS",
	"goroutine stack growth (runtime.newstack)": "runtime.newstack",
	"federation lookup (Snapshot.lookup)":       "federation.(*Snapshot).lookup",
	"allocation (runtime.mallocgc)":             "runtime.mallocgc",
}

// synthetic runs RunSynthetic for t in a child process, so that its memory
// figures are those of a process holding nothing else.
func (r *runner) synthetic(ctx context.Context, t Topology) (*Synthetic, error) {
	r.logf("synthetic: %d clusters × %d Services (%d shards), fake clientsets in a child process", len(t.Clusters), t.Services, t.Shards())
	dir := filepath.Join(r.o.Out, "synthetic")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	args := []string{"synthetic", "-clusters", strconv.Itoa(len(t.Clusters)), "-services", strconv.Itoa(t.Services),
		"-benchtime", r.o.SyntheticBench.String(), "-dir", dir}
	if len(t.Clusters) == len(lab.SeedClusters) {
		args = append(args, "-seed")
	}
	return r.runSynthetic(ctx, t, args, dir)
}

// runSynthetic runs the synthetic child with args and reads its result.
func (r *runner) runSynthetic(ctx context.Context, t Topology, args []string, dir string) (*Synthetic, error) {
	cmd := exec.CommandContext(ctx, r.o.Self, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	logPath := filepath.Join(dir, fmt.Sprintf("synthetic-%dx%d.log", len(t.Clusters), t.Services))
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd.Stderr = logf
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w; end of %s:\n%s", r.o.Self, strings.Join(args, " "), err, logPath, lab.Tail(logPath, 10))
	}
	var s Synthetic
	if err := json.Unmarshal(out, &s); err != nil {
		return nil, err
	}
	if s.HeapTop, err = PprofTop(ctx, r.o.Go, s.HeapProfile, "-sample_index=inuse_space", "-nodecount", "20"); err != nil {
		return nil, err
	}
	r.logf("  sync %.1fs, RSS %d MiB (peak %d MiB), live heap %d MiB, mix %.0f ns/query", s.SyncSeconds, s.Memory.RSS>>20, s.Memory.Peak>>20, s.HeapLive>>20, mixNs(&s))
	return &s, nil
}

func mixNs(s *Synthetic) float64 {
	for _, b := range s.ServeDNS {
		if b.Class == "mix" {
			return b.NsPerOp
		}
	}
	return 0
}

func (r *runner) write() error {
	b, err := json.MarshalIndent(r.rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(r.o.Out, "report.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(r.o.Out, "report.md"), []byte(Markdown(r.rep)), 0o644)
}

func machine(o Options) Machine {
	m := Machine{CPUs: runtime.NumCPU(), LoadBefore: lab.LoadAvg(), Versions: map[string]string{}}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.Model = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	var si syscall.Sysinfo_t
	if syscall.Sysinfo(&si) == nil {
		m.MemoryMiB = int64(si.Totalram) * int64(si.Unit) >> 20
	}
	version := func(name string, argv ...string) {
		out, _ := exec.Command(argv[0], argv[1:]...).CombinedOutput()
		for _, line := range strings.Split(string(out), "\n") {
			if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "maxprocs") {
				m.Versions[name] = line
				if strings.Contains(line, "ersion") || strings.Contains(line, "CoreDNS") {
					return
				}
			}
		}
	}
	version("go", o.Go, "version")
	version("coredns-fed", filepath.Join(o.Root, "bin", "coredns-fed"), "-version")
	version("dnsperf", "dnsperf", "-h")
	version("knotd", "knotd", "--version")
	for _, pkg := range []string{"gdnsd", "knot-module-geoip"} {
		if out, err := exec.Command("dpkg-query", "-W", "-f", "${Version}", pkg).Output(); err == nil {
			m.Versions[pkg] = pkg + " " + string(out) + " (Debian)"
		}
	}
	// What the binaries were built from; "+dirty" when the tree had changes.
	if out, err := exec.Command("git", "-C", o.Root, "rev-parse", "--short", "HEAD").Output(); err == nil {
		v := strings.TrimSpace(string(out))
		if st, err := exec.Command("git", "-C", o.Root, "status", "--porcelain", "--", "plugin", "cmd", "go.mod").Output(); err == nil && len(st) > 0 {
			v += "+dirty"
		}
		m.Versions["commit"] = v
	}
	// The lab's kube-apiserver is built without version stamps; its module says.
	if b, err := os.ReadFile(filepath.Join(o.Root, "tools", "kube-apiserver", "go.mod")); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "require k8s.io/kubernetes "); ok {
				m.Versions["kube-apiserver"] = "k8s.io/kubernetes " + v
			}
		}
	}
	return m
}

// growth runs the growth phase: the synthetic federation at each of
// o.Growth's shard counts, without the ServeDNS benchmarks, and its plots.
func (r *runner) growth(ctx context.Context) error {
	dir := filepath.Join(r.o.Out, "growth")
	img := r.o.GrowthImg
	if img == "" {
		img = r.o.Out
	}
	for _, d := range []string{dir, img} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	for _, n := range r.o.Growth {
		t := GrowthTopology(n)
		r.logf("growth: %d shards (%d members × %d Services), fake clientsets in a child process", t.Shards(), len(t.Clusters), t.Services)
		args := []string{"synthetic", "-clusters", strconv.Itoa(len(t.Clusters)), "-services", strconv.Itoa(t.Services),
			"-benchtime", "0", "-dir", dir}
		s, err := r.runSynthetic(ctx, t, args, dir)
		if err != nil {
			return err
		}
		r.logf("  RSS %d MiB, full rebuild %.0f ms, one Service %.1f ms, change → answer p50 %.1f ms p99 %.1f ms",
			s.Memory.RSS>>20, s.FullRebuildMs, s.ServiceRebuildMs, s.ChangeToAnswerMs, s.ChangeToAnswerP99Ms)
		r.rep.Growth = append(r.rep.Growth, s)
	}
	files, err := GrowthPlots(r.rep.Growth, img)
	if err != nil {
		return err
	}
	for _, f := range files {
		r.rep.GrowthPlots = append(r.rep.GrowthPlots, filepath.Base(f))
	}
	r.rep.GrowthImg = img
	return nil
}
