package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coredns-fed/coredns-fed/internal/lab"
)

// ScalingOptions sizes a scaling run: a secondary slaved to coredns-fed, and
// coredns-fed replicas watching the same members.
type ScalingOptions struct {
	Root, Out string
	Smoke     bool

	Members  int // the first Members of the seed's clusters
	Services int // federated Services per member
	Workers  int // concurrent writers per member while populating

	Flips     int           // EndpointSlice flips timed at the secondary
	PauseMax  time.Duration // between flips
	Transfers int           // changes whose IXFR and AXFR are counted

	Replicas  []int
	ChurnRate int
	Churn     time.Duration

	Logf func(format string, args ...any)
}

// DefaultScalingOptions returns the full run's sizes, or the smoke run's.
func DefaultScalingOptions(smoke bool) ScalingOptions {
	o := ScalingOptions{
		Members: 2, Services: 10000, Workers: 8,
		Flips: 50, PauseMax: 2 * time.Second, Transfers: 5,
		Replicas: []int{1, 2, 4}, ChurnRate: 20, Churn: 20 * time.Second,
		Logf: log.Printf,
	}
	if smoke {
		o.Smoke = true
		o.Services = 300
		o.Flips, o.Transfers = 10, 2
		o.Replicas, o.Churn = []int{1, 2}, 5*time.Second
	}
	return o
}

// ScalingReport is what one scaling run measured.
type ScalingReport struct {
	Started   time.Time  `json:"started"`
	Seconds   float64    `json:"seconds"`
	Smoke     bool       `json:"smoke"`
	Machine   Machine    `json:"machine"`
	Clusters  []string   `json:"clusters"`
	Services  int        `json:"services_per_cluster"`
	Populate  float64    `json:"populate_seconds"`
	Secondary *Secondary `json:"secondary"`
	Replicas  *Replicas  `json:"replicas"`
	Targets   []Target   `json:"targets"`
}

// RunScaling starts a lab, populates it, and measures the secondary and the
// replicas; it writes scaling.json and scaling.md to o.Out.
func RunScaling(ctx context.Context, o ScalingOptions) (*ScalingReport, error) {
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return nil, err
	}
	rep := &ScalingReport{Started: time.Now(), Smoke: o.Smoke, Machine: machine(Options{Root: o.Root, Go: "go"}), Services: o.Services}
	err := runScaling(ctx, o, rep)
	rep.Machine.LoadAfter = lab.LoadAvg()
	rep.Seconds = time.Since(rep.Started).Seconds()
	rep.Targets = scalingTargets(rep)
	b, jerr := json.MarshalIndent(rep, "", "  ")
	if jerr == nil {
		jerr = os.WriteFile(filepath.Join(o.Out, "scaling.json"), append(b, '\n'), 0o644)
	}
	if jerr == nil {
		jerr = os.WriteFile(filepath.Join(o.Out, "scaling.md"), []byte(ScalingMarkdown(rep)), 0o644)
	}
	if err == nil {
		err = jerr
	}
	return rep, err
}

func runScaling(ctx context.Context, o ScalingOptions, rep *ScalingReport) error {
	t := Topology{Clusters: append([]lab.ClusterSpec(nil), lab.SeedClusters[:o.Members]...), Services: o.Services}
	cfg := lab.SeedConfig(o.Root)
	cfg.Namespace, cfg.Services, cfg.Clusters, cfg.Logf = Namespace, nil, t.Clusters, o.Logf
	o.Logf("starting the lab: %d member kube-apiservers", len(cfg.Clusters))
	l, err := lab.Start(ctx, cfg)
	if err != nil {
		return err
	}
	defer l.Close()
	clusters := l.Clusters()
	o.Logf("writing %d federated Services into each of %d members", o.Services, len(clusters))
	start := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, len(clusters))
	for m, c := range clusters {
		wg.Go(func() { errs[m] = Populate(ctx, c, m, 0, o.Services, o.Workers, func(int64) {}) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	rep.Populate = time.Since(start).Seconds()
	for _, c := range clusters {
		rep.Clusters = append(rep.Clusters, fmt.Sprintf("%s (%s, %s)", c.Name, c.Region, strings.Join(c.Zones, " ")))
	}
	o.Logf("populated in %s", time.Since(start).Round(time.Second))

	spec := ServerSpec{Dir: filepath.Join(o.Out, "servers"), Bin: filepath.Join(o.Root, "bin", "coredns-fed"), Clusters: clusters}
	o.Logf("secondary: %d flips, then %d changes transferred by IXFR and AXFR", o.Flips, o.Transfers)
	if rep.Secondary, err = MeasureSecondary(ctx, spec, t, clusters, o.Flips, o.Transfers, o.PauseMax, o.Logf); err != nil {
		return fmt.Errorf("secondary: %w", err)
	}
	o.Logf("replicas: %v", o.Replicas)
	rep.Replicas, err = MeasureReplicas(ctx, spec, t, clusters, ReplicaOptions{Counts: o.Replicas, ChurnRate: o.ChurnRate, Churn: o.Churn, Logf: o.Logf})
	if err != nil {
		return fmt.Errorf("replicas: %w", err)
	}
	return nil
}

// scalingTargets judges the run against the goal for secondaries.
func scalingTargets(rep *ScalingReport) []Target {
	var ts []Target
	if s := rep.Secondary; s != nil {
		ts = append(ts, Target{
			What:     "EndpointSlice flip → the Knot secondary's new answer, p99",
			Goal:     "≤ 1 s",
			Measured: fmt.Sprintf("%.0f ms (%d flips, %d timed out)", s.P99, s.Flips, s.TimedOut),
			Met:      s.P99 <= 1000 && s.TimedOut == 0,
		})
	}
	return ts
}

// ScalingMarkdown renders a scaling report.
func ScalingMarkdown(rep *ScalingReport) string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	title := "Scaling"
	if rep.Smoke {
		title += " (smoke run: a small federation, short runs; not figures to quote)"
	}
	p("# %s\n", title)
	p("Started %s, took %.0f s. Machine: %d CPUs (%s), load average %s before, %s after; the machine is shared, timings are noisy.",
		rep.Started.UTC().Format("2006-01-02 15:04 UTC"), rep.Seconds, rep.Machine.CPUs, rep.Machine.Model, rep.Machine.LoadBefore, rep.Machine.LoadAfter)
	for _, k := range slices.Sorted(maps.Keys(rep.Machine.Versions)) {
		p("- %s: %s", k, rep.Machine.Versions[k])
	}
	p("\nLab: %s, %d federated Services each (populated in %.0f s).\n", strings.Join(rep.Clusters, ", "), rep.Services, rep.Populate)
	if len(rep.Targets) > 0 {
		p("| goal | target | measured | met |\n|---|---|---|---|")
		for _, t := range rep.Targets {
			p("| %s | %s | %s | %v |", t.What, t.Goal, t.Measured, t.Met)
		}
		p("")
	}
	if s := rep.Secondary; s != nil {
		p("## Secondary (Knot DNS, NOTIFY + IXFR)\n")
		p("%d EndpointSlice flips, pauses of 0–%d ms between them; time from the update request to the answer.\n", s.Flips, s.PauseMaxMs)
		p("| where | p50 | p90 | p99 | max |\n|---|---|---|---|---|")
		p("| Knot secondary | %.0f ms | %.0f ms | %.0f ms | %.0f ms |", s.P50, s.P90, s.P99, s.Max)
		p("| coredns-fed (primary) | %.1f ms | | %.1f ms | |", s.PrimaryP50, s.PrimaryP99)
		p("\nThe primary's serial ran at most %d s ahead of the clock. Timed out: %d. Skipped (the secondary did not show the starting state within 10 s): %d.\n", s.SerialAhead, s.TimedOut, len(s.Skipped))
		for _, x := range s.Skipped {
			p("- skipped: %s", x)
		}
		p("Transfer of one change (median of %d), bytes read from the TCP connection:\n", len(s.Transfers))
		p("| transfer | bytes | messages | records |\n|---|---|---|---|")
		ixfrRRs := 0
		if len(s.Transfers) > 0 {
			ixfrRRs = s.Transfers[0].IXFRRRs
		}
		p("| IXFR from the previous serial | %d | %d | %d (first change) |", s.IXFRBytes, s.IXFRMsgs, ixfrRRs)
		p("| AXFR | %d | %d | %d |", s.AXFRBytes, s.AXFRMsgs, s.AXFRRRs)
		p("")
	}
	if r := rep.Replicas; r != nil {
		p("## Replicas: the cost to a member's kube-apiserver\n")
		p("Member %s (%d Services), from its /metrics. Churn: %d EndpointSlice updates/s asked for %.0f s (a Get and an Update each; the rate reached is in the table). Baseline, no replica running: %d watches open (the apiserver's own), %.2f EndpointSlice watch events and %.0f bytes per update.\n",
			r.Member, r.Services, r.ChurnRate, r.ChurnSecs, r.Baseline.Watches, r.Baseline.EventsPerUpdate, r.Baseline.BytesPerUpdate)
		p("| replicas | watches | LISTs at start | bytes at start | watch events per update | watch bytes per update | watch bytes/s at %d updates/s | per replica | updates/s reached | sync |\n|---|---|---|---|---|---|---|---|---|---|", r.ChurnRate)
		for _, c := range r.Runs {
			p("| %d | %d | %d | %d KiB | %.2f | %.0f | %.0f | %.0f B/s | %.1f | %.1f s |", c.Replicas, c.Watches, c.Lists, c.StartBytes>>10, c.EventsPerUpdate, c.BytesPerUpdate, c.WatchBytesPerSec, c.WatchBytesPerSec/float64(c.Replicas), c.AchievedChurnRate, c.SyncSeconds)
		}
		p("\nOne replica's LISTs by resource: %v; watches by resource: %v.\n", r.ListByRes, r.WatchByRes)
		if a := r.Agreement; a != nil {
			p("Agreement of %d replicas after the churn: %d records, identical: %v; serials %v.", a.Replicas, a.Records, a.Identical, a.Serials)
			for _, d := range a.Differ {
				p("- differs: `%s`", d)
			}
		}
	}
	return b.String()
}
