// Command fedbench benchmarks coredns-fed on this machine and writes
// report.md and report.json: query throughput beside CoreDNS's file and
// whoami plugins and Knot DNS, propagation of EndpointSlice changes,
// memory and cold sync against a lab of real kube-apiservers, the same
// state at 50 members fed synthetically, and the query path's profile.
//
//	fedbench [-out DIR] [-img DIR] [-smoke] [-geo-only] [-services N] [-duration D] [-flips N] [-rounds N] [-unpinned N]
//	fedbench synthetic -clusters N -services N [-seed] [-benchtime D] -dir DIR
//	fedbench growth [-out DIR] [-img DIR] [-shards N,N,...]
//	fedbench scaling [-out DIR] [-smoke] [-members N] [-services N] [-flips N] [-replicas 1,2,4] [-churn N]
//	fedbench member [-out DIR] [-smoke] [-services N] [-federated N] [-rounds N] [-stock PATH]
//
// member measures the memory federation's member mode adds to a cluster's
// own CoreDNS: one member with 10 000 Services (100 federated), and side by
// side on its kube-apiserver a stock CoreDNS with the kubernetes plugin,
// coredns-fed with the same Corefile, and coredns-fed with federation in
// member mode in front of kubernetes; it writes member.md and member.json.
//
// scaling slaves a Knot secondary to coredns-fed (time from an EndpointSlice
// flip to the secondary's answer, IXFR and AXFR bytes per change) and starts
// coredns-fed replicas against the members (what each costs a kube-apiserver);
// it writes scaling.md and scaling.json. See docs/scaling.md.
//
// growth measures RSS, snapshot rebuild time and EndpointSlice-change-to-answer
// latency of the synthetic federation (fake clientsets stand in for the
// members' API servers) at 10k, 50k, 100k and 500k shards, one child process
// per size, and draws them as SVG plots (growth.json, growth-*.svg).
//
// It needs bin/coredns-fed and bin/kube-apiserver, etcd, dnsperf, knotd with
// its geoip module, gdnsd and taskset; `make bench` provides them. -geo-only
// runs the lab and the geo phase alone: coredns-fed with geo answers beside
// gdnsd's geoip plugin and Knot's geoip module. See docs/benchmarks.md.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/coredns-fed/coredns-fed/internal/lab"
	"github.com/coredns-fed/coredns-fed/test/bench"
)

func main() {
	log.SetFlags(log.Ltime)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch {
	case len(os.Args) > 1 && os.Args[1] == "synthetic":
		err = synthetic(ctx, os.Args[2:])
	case len(os.Args) > 1 && os.Args[1] == "growth":
		err = growth(ctx, os.Args[2:])
	case len(os.Args) > 1 && os.Args[1] == "scaling":
		err = scaling(ctx, os.Args[2:])
	case len(os.Args) > 1 && os.Args[1] == "member":
		err = member(ctx, os.Args[2:])
	default:
		err = run(ctx, os.Args[1:])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "fedbench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("fedbench", flag.ExitOnError)
	out := fs.String("out", "bench-results", "directory for the reports, profiles and logs")
	smoke := fs.Bool("smoke", false, "a short run on a small federation, to check the harness")
	services := fs.Int("services", 0, "federated Services per member (default 10000, smoke 300)")
	duration := fs.Duration("duration", 0, "length of each saturation run (default 10s, smoke 3s)")
	flips := fs.Int("flips", 0, "EndpointSlice flips for the propagation figure (default 400, smoke 20)")
	rounds := fs.Int("rounds", 0, "rounds of the pinned throughput pass (default 3, smoke 1)")
	unpinned := fs.Int("unpinned", -1, "rounds of the unpinned throughput pass, 0 for none (default 1, smoke 0)")
	geoOnly := fs.Bool("geo-only", false, "start the lab and run the geo phase only (coredns-fed geo beside gdnsd and Knot geoip)")
	goTool := fs.String("go", "go", "the go command, for go test and go tool pprof")
	img := fs.String("img", "", "directory for the growth phase's SVG plots (default: -out)")
	fs.Parse(args)

	o := bench.DefaultOptions(*smoke)
	root, outDir, err := lab.Dirs(*out)
	if err != nil {
		return err
	}
	o.Root, o.Go, o.Out = root, *goTool, outDir
	if o.Self, err = os.Executable(); err != nil {
		return err
	}
	o.GrowthImg = *img
	if *services > 0 {
		o.Services = *services
	}
	if *duration > 0 {
		o.Duration = *duration
	}
	if *flips > 0 {
		o.Flips = *flips
	}
	if *rounds > 0 {
		o.Rounds = *rounds
	}
	o.GeoOnly = *geoOnly
	if *unpinned >= 0 {
		o.Unpinned = *unpinned
	}
	rep, err := bench.Run(ctx, o)
	if rep == nil {
		return err
	}
	for _, t := range rep.Targets {
		met := "met"
		if !t.Met {
			met = "NOT met"
		}
		log.Printf("%s: %s (goal %s) %s", t.What, t.Measured, t.Goal, met)
	}
	log.Printf("reports: %s, %s", filepath.Join(o.Out, "report.md"), filepath.Join(o.Out, "report.json"))
	return err
}

// synthetic is the child process of the synthetic part: it prints one
// bench.Synthetic as JSON on stdout.
func synthetic(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("fedbench synthetic", flag.ExitOnError)
	clusters := fs.Int("clusters", 50, "member clusters")
	services := fs.Int("services", 10000, "federated Services per member")
	seed := fs.Bool("seed", false, "use the seed's four members (needs -clusters 4)")
	benchTime := fs.Duration("benchtime", 3*time.Second, "time per ServeDNS benchmark")
	dir := fs.String("dir", "", "directory for the heap profile")
	fs.Parse(args)
	if *dir == "" {
		return fmt.Errorf("synthetic: -dir is required")
	}
	t := bench.WideTopology(*clusters, *services)
	if *seed {
		t = bench.SeedTopology(*services)
		if len(t.Clusters) != *clusters {
			return fmt.Errorf("synthetic: -seed has %d members, not %d", len(t.Clusters), *clusters)
		}
	}
	s, err := bench.RunSynthetic(ctx, t, *dir, *benchTime)
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(s)
}

// growth runs the synthetic federation at each size in a child process (so
// that each RSS is its own) and writes growth.json and the plots.
func growth(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("fedbench growth", flag.ExitOnError)
	out := fs.String("out", "bench-results", "directory for growth.json, logs and profiles")
	img := fs.String("img", "", "directory for the SVG plots (default: -out)")
	sizes := fs.String("shards", "", "comma-separated shard counts (default 10000,50000,100000,500000)")
	fs.Parse(args)
	shards := bench.GrowthShards
	if *sizes != "" {
		shards = nil
		for _, f := range strings.Split(*sizes, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < bench.GrowthMembers {
				return fmt.Errorf("growth: -shards: %q is not a number of shards >= %d", f, bench.GrowthMembers)
			}
			shards = append(shards, n)
		}
	}
	if *img == "" {
		*img = *out
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	dir := filepath.Join(*out, "growth")
	for _, d := range []string{dir, *img} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	var runs []*bench.Synthetic
	for _, n := range shards {
		t := bench.GrowthTopology(n)
		log.Printf("growth: %d shards (%d members × %d Services)", t.Shards(), len(t.Clusters), t.Services)
		cmd := exec.CommandContext(ctx, self, "synthetic", "-clusters", strconv.Itoa(len(t.Clusters)),
			"-services", strconv.Itoa(t.Services), "-benchtime", "0", "-dir", dir)
		logf, err := os.Create(filepath.Join(dir, fmt.Sprintf("growth-%d.log", t.Shards())))
		if err != nil {
			return err
		}
		cmd.Stderr = logf
		b, err := cmd.Output()
		logf.Close()
		if err != nil {
			return fmt.Errorf("growth %d shards: %w (log in %s)", t.Shards(), err, logf.Name())
		}
		var s bench.Synthetic
		if err := json.Unmarshal(b, &s); err != nil {
			return fmt.Errorf("growth %d shards: %w", t.Shards(), err)
		}
		log.Printf("growth: %d shards: RSS %.0f MiB, full rebuild %.0f ms, one Service %.1f ms, change to answer p50 %.1f ms p99 %.1f ms",
			s.Shards, float64(s.Memory.RSS)/(1<<20), s.FullRebuildMs, s.ServiceRebuildMs, s.ChangeToAnswerMs, s.ChangeToAnswerP99Ms)
		runs = append(runs, &s)
	}
	b, err := json.MarshalIndent(runs, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(*out, "growth.json"), b, 0o644); err != nil {
		return err
	}
	files, err := bench.GrowthPlots(runs, *img)
	if err != nil {
		return err
	}
	log.Printf("growth: %s, plots %s", filepath.Join(*out, "growth.json"), strings.Join(files, " "))
	return nil
}

// scaling runs the secondary and replica measurements.
func scaling(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("fedbench scaling", flag.ExitOnError)
	out := fs.String("out", "bench-results", "directory for the report and logs")
	smoke := fs.Bool("smoke", false, "a short run on a small federation, to check the harness")
	members := fs.Int("members", 0, "member clusters, the first of the seed's (default 2)")
	services := fs.Int("services", 0, "federated Services per member (default 10000, smoke 300)")
	flips := fs.Int("flips", 0, "EndpointSlice flips timed at the secondary (default 50, smoke 10)")
	replicas := fs.String("replicas", "", "replica counts to measure, comma-separated (default 1,2,4, smoke 1,2)")
	churn := fs.Int("churn", 0, "EndpointSlice updates per second while replicas run (default 20)")
	fs.Parse(args)

	o := bench.DefaultScalingOptions(*smoke)
	root, outDir, err := lab.Dirs(*out)
	if err != nil {
		return err
	}
	o.Root, o.Out = root, outDir
	if *members > 0 {
		if *members > len(lab.SeedClusters) {
			return fmt.Errorf("-members %d: the seed has %d clusters", *members, len(lab.SeedClusters))
		}
		o.Members = *members
	}
	if *services > 0 {
		o.Services = *services
	}
	if *flips > 0 {
		o.Flips = *flips
	}
	if *churn > 0 {
		o.ChurnRate = *churn
	}
	if *replicas != "" {
		o.Replicas = nil
		for _, f := range strings.Split(*replicas, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 {
				return fmt.Errorf("-replicas %q: %q is not a positive count", *replicas, f)
			}
			o.Replicas = append(o.Replicas, n)
		}
	}
	rep, err := bench.RunScaling(ctx, o)
	if rep != nil {
		for _, t := range rep.Targets {
			log.Printf("%s: %s (goal %s) met: %v", t.What, t.Measured, t.Goal, t.Met)
		}
		log.Printf("report: %s", filepath.Join(o.Out, "scaling.md"))
	}
	return err
}

// member runs the member-mode memory comparison.
func member(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("fedbench member", flag.ExitOnError)
	out := fs.String("out", "bench-results", "directory for the report, profiles and logs")
	smoke := fs.Bool("smoke", false, "a short run on a small member (1000 Services, one round), to check the harness")
	services := fs.Int("services", 0, "Services in the member (default 10000, smoke 1000)")
	federated := fs.Int("federated", 0, "of them federated (default 100)")
	rounds := fs.Int("rounds", 0, "rounds, each starting the servers afresh (default 5, smoke 1)")
	stock := fs.String("stock", "", "a stock CoreDNS binary (default bin/coredns; `make stock-coredns` builds it); \"none\" leaves it out")
	goTool := fs.String("go", "go", "the go command, for go tool pprof")
	fs.Parse(args)

	o := bench.DefaultMemberOptions(*smoke)
	root, outDir, err := lab.Dirs(*out)
	if err != nil {
		return err
	}
	o.Root, o.Go, o.Out = root, *goTool, outDir
	if *services > 0 {
		o.Services = *services
	}
	if *federated > 0 {
		o.Federated = *federated
	}
	if o.Federated > o.Services {
		return fmt.Errorf("-federated %d: more than the %d Services", o.Federated, o.Services)
	}
	if *rounds > 0 {
		o.Rounds = *rounds
	}
	switch *stock {
	case "none":
	case "":
		o.Stock = filepath.Join(root, "bin", "coredns")
	default:
		o.Stock = *stock
	}
	if o.Stock != "" {
		if _, err := os.Stat(o.Stock); err != nil {
			return fmt.Errorf("stock CoreDNS: %w (build it with `make stock-coredns`, or pass -stock none)", err)
		}
	}
	rep, err := bench.RunMember(ctx, o)
	if rep != nil {
		for _, f := range rep.Median {
			log.Printf("%s: RSS %.1f MiB, heap in use %.1f MiB", f.Server, float64(f.RSS)/(1<<20), float64(f.HeapInuse)/(1<<20))
		}
		for _, t := range rep.Targets {
			log.Printf("%s: %s (goal %s) met: %v", t.What, t.Measured, t.Goal, t.Met)
		}
		log.Printf("load average %s before, %s after; report: %s", rep.Machine.LoadBefore, rep.Machine.LoadAfter, filepath.Join(o.Out, "member.md"))
	}
	return err
}
