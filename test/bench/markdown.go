package bench

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
)

const mib = 1 << 20

// primary is the pass the targets are judged on: the pinned one when it ran.
func primary(rep *Report) *Pass {
	for k := range rep.Throughput {
		if rep.Throughput[k].ServerCPUs != "" {
			return &rep.Throughput[k]
		}
	}
	if len(rep.Throughput) > 0 {
		return &rep.Throughput[0]
	}
	return nil
}

// ratio returns federation QPS over server's in pass p, or 0.
func ratio(p *Pass, server string) float64 { return ratioOf(p, "federation", server) }

// ratioOf returns a's QPS over b's in pass p, or 0.
func ratioOf(p *Pass, a, b string) float64 {
	f, o := p.run(a), p.run(b)
	if f == nil || o == nil || f.Saturation == nil || o.Saturation == nil || o.Saturation.QPS == 0 {
		return 0
	}
	return f.Saturation.QPS / o.Saturation.QPS
}

func syntheticOf(rep *Report, clusters int) *Synthetic {
	for _, s := range rep.Synthetic {
		if s.Clusters == clusters {
			return s
		}
	}
	return nil
}

func classNs(s *Synthetic, class string) float64 {
	for _, b := range s.ServeDNS {
		if b.Class == class {
			return b.NsPerOp
		}
	}
	return 0
}

// sameSizeClasses are the query classes whose replies do not grow with the
// number of members per level.
var sameSizeClasses = []string{"zone", "zone-v1", "nxdomain"}

// targets judges the run against the goals.
func targets(rep *Report) []Target {
	var ts []Target
	if p := primary(rep); p != nil {
		for _, g := range []struct {
			server string
			min    float64
		}{{"whoami", 0.9}, {"file", 2.5}, {"knot", 0.5}} {
			if x := ratio(p, g.server); x > 0 {
				ts = append(ts, Target{
					What: "federation QPS / " + g.server + " QPS (" + p.Name + ")", Goal: fmt.Sprintf("≥ %.1f×", g.min),
					Measured: fmt.Sprintf("%.2f×", x), Met: x >= g.min,
				})
			}
		}
	}
	if a := rep.Answers; a != nil && a.Replies4 > 0 {
		if k := slices.Index(a.Servers, "knot"); k > 0 && a.ReplyBytes[k] > 0 {
			x := a.ReplyBytes[0] / a.ReplyBytes[k]
			ts = append(ts, Target{What: "reply size of a four-address answer / Knot's", Goal: "≤ 1.10×",
				Measured: fmt.Sprintf("%.2f× (%.0f / %.0f bytes)", x, a.ReplyBytes[0], a.ReplyBytes[k]), Met: x <= 1.10})
		}
	}
	if p := rep.Propagation; p != nil {
		ts = append(ts, Target{What: fmt.Sprintf("propagation p99, ack → answer (%d flips)", p.Flips), Goal: "≤ 100 ms",
			Measured: fmt.Sprintf("%.1f ms", p.P99), Met: p.P99 <= 100 && p.TimedOut == 0})
	}
	if m := rep.LabMemory; m != nil {
		ts = append(ts,
			Target{What: fmt.Sprintf("RSS, lab %d×%d", m.Clusters, m.Services), Goal: "≤ 128 MiB",
				Measured: fmt.Sprintf("%.0f MiB", float64(m.Memory.RSS)/mib), Met: m.Memory.RSS <= 128*mib},
			Target{What: fmt.Sprintf("cold sync, lab %d×%d", m.Clusters, m.Services), Goal: "≤ 30 s",
				Measured: fmt.Sprintf("%.1f s", m.SyncSeconds), Met: m.SyncSeconds <= 30})
	}
	small, wide := syntheticOf(rep, 4), syntheticOf(rep, 50)
	if wide != nil {
		ts = append(ts, Target{What: fmt.Sprintf("RSS, synthetic %d×%d", wide.Clusters, wide.Services), Goal: "≤ 400 MiB",
			Measured: fmt.Sprintf("%.0f MiB", float64(wide.Memory.RSS)/mib), Met: wide.Memory.RSS <= 400*mib})
	}
	if small != nil && wide != nil && classNs(small, "mix") > 0 {
		// Names whose replies are the same size at both scales show whether the
		// lookup itself grows with the shards; the mix also carries the larger
		// global and region replies of 50 members.
		same := 1.0
		for _, c := range sameSizeClasses {
			same *= classNs(wide, c) / classNs(small, c)
		}
		same = math.Pow(same, 1/float64(len(sameSizeClasses)))
		mix := classNs(wide, "mix") / classNs(small, "mix")
		vs := fmt.Sprintf("synthetic %d×%d vs %d×%d", wide.Clusters, wide.Services, small.Clusters, small.Services)
		ts = append(ts,
			Target{What: "ServeDNS time per query, " + vs + ", " + strings.Join(sameSizeClasses, "/") + " names (same reply size)",
				Goal: "unchanged (≤ 1.10×)", Measured: fmt.Sprintf("%.2f×", same), Met: same <= 1.10},
			Target{What: "ServeDNS time per query, " + vs + ", whole mix", Goal: "unchanged (≤ 1.10×)", Measured: fmt.Sprintf("%.2f×", mix), Met: mix <= 1.10})
	}
	if rep.Geo != nil {
		ts = append(ts, geoTargets(rep.Geo)...)
	}
	return ts
}

// firstLines returns the first n lines of s, and how many were left out.
func firstLines(s string, n int) string {
	lines := strings.SplitAfter(s, "\n")
	if len(lines) <= n+1 {
		return s
	}
	return strings.Join(lines[:n], "") + fmt.Sprintf("... (%d more lines)\n", len(lines)-n-1)
}

func yes(b bool) string {
	if b {
		return "yes"
	}
	return "**no**"
}

// Markdown renders the report.
func Markdown(rep *Report) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	kind := "full"
	if rep.Smoke {
		kind = "smoke (small federation, short runs: the figures only show that the harness works)"
	}
	w("# coredns-fed benchmark report\n\n")
	w("Run %s, %s, took %.0f s.\n\n", rep.Started.UTC().Format("2006-01-02 15:04 UTC"), kind, rep.Seconds)

	w("## Conditions\n\n")
	m := rep.Machine
	w("| | |\n|---|---|\n")
	w("| machine | %d × %s, %d MiB, Linux %s |\n", m.CPUs, m.Model, m.MemoryMiB, m.Kernel)
	w("| load average (1, 5, 15 min) | before %s, after %s |\n", m.LoadBefore, m.LoadAfter)
	for _, k := range slices.Sorted(maps.Keys(m.Versions)) {
		w("| %s | `%s` |\n", k, m.Versions[k])
	}
	s := rep.Setup
	w("| members | %s |\n", strings.Join(s.Clusters, ", "))
	w("| federated Services | %d per member, written through each kube-apiserver in %.0f s (%d Services and EndpointSlices) |\n", s.Services, s.PopulateSeconds, s.Objects)
	w("| zone | %d records, transferred (AXFR) from coredns-fed: `%s` |\n", s.ZoneRecords, s.ZoneFile)
	w("| queries | %d in `%s`, looped by dnsperf |\n\n", s.Queries, s.QueryFile)
	w("Query mix:\n\n| class | share | question |\n|---|---:|---|\n")
	for _, c := range s.Mix {
		w("| %s | %d%% | %s |\n", c.Name, c.Share, c.What)
	}
	w("\n")

	if len(rep.Targets) > 0 {
		w("## Targets\n\n| what | goal | measured | met |\n|---|---|---|---|\n")
		for _, t := range rep.Targets {
			w("| %s | %s | %s | %s |\n", t.What, t.Goal, t.Measured, yes(t.Met))
		}
		w("\n")
	}

	for _, p := range rep.Throughput {
		w("## Throughput, %s\n\n", p.Name)
		if p.ServerCPUs != "" {
			w("Each server alone, confined to CPU %s (`taskset -c %s`); dnsperf on CPU %s. ", p.ServerCPUs, p.ServerCPUs, p.PerfCPUs)
		} else {
			w("Each server alone, server and dnsperf free to use both CPUs. ")
		}
		w("The member kube-apiservers and etcd run idle meanwhile. CPU is in cores used during the median round: the server, dnsperf, the kernel's softirq work (moving the loopback packets, charged to no process) and everything else on the machine (\"other\": the idle lab, other users). ")
		w("%d round(s) of %s per server, servers interleaved and restarted each round; the table shows each server's median round, latencies with %s queries outstanding.\n\n",
			p.Rounds, durationOf(p), outstandingOf(p))
		w("| server | QPS | every round | lost | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | reply bytes | server cores | dnsperf cores | softirq cores | other cores | RSS MiB |\n")
		w("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, r := range p.Runs {
			x := r.Saturation
			var rounds []string
			for _, q := range r.RoundQPS {
				rounds = append(rounds, fmt.Sprintf("%.1fk", q/1000))
			}
			w("| %s | %.0f | %s | %.2f%% | %.2f | %.2f | %.2f | %.2f | %.1f | %d | %.2f | %.2f | %.2f | %.2f | %.0f |\n", r.Server, x.QPS, strings.Join(rounds, " "), x.LossPercent,
				x.Latency.P50, x.Latency.P90, x.Latency.P99, x.Latency.P999, x.Latency.Max, x.ResponseSize, r.ServerCores, r.PerfCores, r.SoftirqCores, r.OtherCores, float64(r.RSS)/mib)
		}
		w("\n")
		for _, fed := range []string{"federation", "federation-transfer"} {
			var rs []string
			for _, o := range []string{"whoami", "file", "knot"} {
				if x := ratioOf(&p, fed, o); x > 0 {
					rs = append(rs, fmt.Sprintf("%s **%.2f×**", o, x))
				}
			}
			if len(rs) > 0 {
				w("* %s QPS over %s\n", fed, strings.Join(rs, ", "))
			}
		}
		w("\n")
		w("Latency at a fixed %d QPS (dnsperf `-Q %d`):\n\n| server | QPS | lost | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms |\n|---|---:|---:|---:|---:|---:|---:|---:|\n", p.FixedQPS, p.FixedQPS)
		for _, r := range p.Runs {
			x := r.Fixed
			w("| %s | %.0f | %.2f%% | %.3f | %.3f | %.3f | %.3f | %.1f |\n", r.Server, x.QPS, x.LossPercent, x.Latency.P50, x.Latency.P90, x.Latency.P99, x.Latency.P999, x.Latency.Max)
		}
		w("\nRcodes of the saturation runs:\n\n")
		for _, r := range p.Runs {
			w("* %s: %s\n", r.Server, rcodes(r.Saturation.Rcodes))
		}
		w("\n")
	}

	if a := rep.Answers; a != nil {
		w("## Same answers\n\n%d distinct questions of the mix asked of %s: rcode and answer section identical for **%d of %d**.\n\n",
			a.Questions, strings.Join(a.Servers, ", "), a.Identical, a.Questions)
		for _, x := range a.Mismatches {
			w("```\n%s\n```\n\n", x)
		}
		if a.Replies4 > 0 {
			w("Reply size on the wire, mean over the %d questions answered with four A records (EDNS, no DNSSEC): ", a.Replies4)
			for k, name := range a.Servers {
				if k > 0 {
					w(", ")
				}
				w("%s %.0f bytes", name, a.ReplyBytes[k])
			}
			w(".\n\n")
		}
	}

	if p := rep.Propagation; p != nil {
		w("## Propagation\n\n")
		w("%d EndpointSlice updates, alternately every endpoint not ready and ready again, each in one member for one Service; ", p.Flips)
		w("the time runs from the kube-apiserver's response to the update to the first answer (asked every %d µs) for that member's zone name that reflects it.\n\n", p.PollMicros)
		w("| | p50 | p90 | p99 | max |\n|---|---:|---:|---:|---:|\n")
		w("| ack → answer | %.1f ms | %.1f ms | %.1f ms | %.1f ms |\n", p.P50, p.P90, p.P99, p.Max)
		w("| request sent → answer | %.1f ms | | %.1f ms | |\n", p.SendP50, p.SendP99)
		w("| request sent → ack | %.1f ms | | | |\n\n", p.AckP50)
		w("While flipping, the machine had %.2f cores busy, the server %.2f (the server is confined to one CPU in this pass).\n\n", p.MachineCores, p.ServerCores)
		if p.TimedOut > 0 {
			w("%d flips did not show within %s.\n\n", p.TimedOut, flipTimeout)
		}
	}

	if lm := rep.LabMemory; lm != nil {
		w("## Memory and cold sync\n\n")
		w("coredns-fed (not pinned) watching the lab's %d members with %d federated Services each, from process start:\n\n", lm.Clusters, lm.Services)
		w("| cold sync (start → first answer) | RSS 5 s later | peak RSS | Go heap in use | Go runtime total |\n|---:|---:|---:|---:|---:|\n")
		w("| %.1f s | %.0f MiB | %.0f MiB | %.0f MiB | %.0f MiB |\n\n", lm.SyncSeconds, float64(lm.Memory.RSS)/mib, float64(lm.Memory.Peak)/mib, float64(lm.HeapInuse)/mib, float64(lm.GoSys)/mib)
		w("In-use heap by allocation site:\n\n```\n%s\n```\n\n", shortTop(lm.HeapTop, 15))
	}
	if len(rep.Synthetic) > 0 {
		w("### Synthetic: the state and answer layers at scale\n\n")
		w("**Synthetic.** The federation plugin, configured through its own Corefile setup, watches members whose clients are fake clientsets (`k8s.io/client-go/kubernetes/fake`) ")
		w("that generate each member's Services and EndpointSlices on list; no API server, network or decoding is involved. Each size runs in a child process of its own. ")
		w("Memory is measured once the federation has been idle for a second (no build running or waiting), after a GC that returned freed pages to the OS; peak includes the initial lists' garbage.\n\n")
		w("| members × Services | shards | sync | RSS | peak RSS | live heap | process baseline | full rebuild | one-Service rebuild | change → answer p50 / p99 |\n")
		w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, x := range rep.Synthetic {
			w("| %d × %d | %d | %.2f s | %.0f MiB | %.0f MiB | %.0f MiB | %.0f MiB | %.0f ms | %.2f ms | %.1f / %.1f ms |\n", x.Clusters, x.Services, x.Shards, x.SyncSeconds,
				float64(x.Memory.RSS)/mib, float64(x.Memory.Peak)/mib, float64(x.HeapLive)/mib, float64(x.BaselineRSS)/mib, x.FullRebuildMs, x.ServiceRebuildMs, x.ChangeToAnswerMs, x.ChangeToAnswerP99Ms)
		}
		w("\nServeDNS per query (ns, allocations, mean packed reply) by class, under the ScrubWriter the server wraps every query in (the federation packs its compressed replies there; the writer counts the bytes):\n\n")
		w("| class |")
		for _, x := range rep.Synthetic {
			w(" %d × %d |", x.Clusters, x.Services)
		}
		w("\n|---|")
		for range rep.Synthetic {
			w("---:|")
		}
		w("\n")
		for _, c := range append(slices.Clone(Mix), QueryClass{Name: "mix"}) {
			w("| %s |", c.Name)
			for _, x := range rep.Synthetic {
				for _, sb := range x.ServeDNS {
					if sb.Class == c.Name {
						w(" %.0f ns, %d allocs, %d B |", sb.NsPerOp, sb.AllocsPerOp, sb.ReplyBytes)
					}
				}
			}
			w("\n")
		}
		w("\n")
		for _, x := range rep.Synthetic {
			w("In-use heap, %d × %d:\n\n```\n%s\n```\n\n", x.Clusters, x.Services, shortTop(x.HeapTop, 15))
		}
	}
	if len(rep.Growth) > 0 {
		w("### Growth\n\n")
		w("The synthetic federation of %d members (fake clientsets stand in for the API servers) at each size, one child process each; ", GrowthMembers)
		w("the change is an EndpointSlice update through the fake client until ServeDNS answers it (%d changes: p99 is the slowest). ", changeSamples)
		w("Plots in `%s`: %s.\n\n", rep.GrowthImg, strings.Join(rep.GrowthPlots, ", "))
		w("| shards | members × Services | RSS | live heap | full rebuild | one-Service rebuild | change → answer p50 / p99 |\n|---:|---|---:|---:|---:|---:|---:|\n")
		for _, x := range rep.Growth {
			w("| %d | %d × %d | %.0f MiB | %.0f MiB | %.0f ms | %.2f ms | %.1f / %.1f ms |\n", x.Shards, x.Clusters, x.Services,
				float64(x.Memory.RSS)/mib, float64(x.HeapLive)/mib, x.FullRebuildMs, x.ServiceRebuildMs, x.ChangeToAnswerMs, x.ChangeToAnswerP99Ms)
		}
		w("\n")
	}

	if q := rep.QueryPath; q != nil || len(rep.ServerProfiles) > 0 {
		w("## Query path profile\n\n")
	}
	if q := rep.QueryPath; q != nil {
		w("`%s` (10k Services × the seed's 4 members, answers discarded unpacked):\n\n| benchmark | ns/op | B/op | allocs/op |\n|---|---:|---:|---:|\n", q.Command)
		for _, x := range q.Benchmarks {
			w("| %s | %.0f | %d | %d |\n", x.Name, x.NsPerOp, x.BytesPerOp, x.AllocsPerOp)
		}
		w("\nCPU profile of those benchmarks:\n\n```\n%s\n```\n\n", shortTop(q.CPUTop, 20))
	}
	if len(rep.ServerProfiles) > 0 {
		w("CPU profiles of the running servers under dnsperf load (pinned pass), cumulative share of samples:\n\n| function |")
		for _, sp := range rep.ServerProfiles {
			w(" %s |", sp.Server)
		}
		w("\n|---|")
		for range rep.ServerProfiles {
			w("---:|")
		}
		w("\n")
		for _, label := range slices.Sorted(maps.Keys(profileFuncs)) {
			w("| %s |", label)
			for _, sp := range rep.ServerProfiles {
				w(" %.1f%% |", sp.Shares[label])
			}
			w("\n")
		}
		w("\n")
		for _, sp := range rep.ServerProfiles {
			w("<details><summary>%s server, %d s, top by cumulative time</summary>\n\n```\n%s\n```\n\n</details>\n\n", sp.Server, sp.Seconds, shortTop(sp.Top, 40))
		}
	}

	if rep.Geo != nil {
		w("%s", geoMarkdown(rep.Geo))
	}

	w("## Commands\n\n")
	for _, p := range rep.Throughput {
		for _, r := range p.Runs {
			w("* %s, %s: `%s`, then `%s`\n", p.Name, r.Server, r.Saturation.Command, r.Fixed.Command)
		}
	}
	w("\nServer configurations (ports are chosen per run):\n\n")
	seen := map[string]bool{}
	for _, p := range rep.Throughput {
		for _, r := range p.Runs {
			if seen[r.Server] {
				continue
			}
			seen[r.Server] = true
			w("%s:\n\n```\n%s```\n\n", r.Server, r.Config)
		}
	}
	if rep.Geo != nil {
		for _, r := range rep.Geo.Runs {
			w("* geo, %s: `%s`\n", r.Server, r.Saturation.Command)
		}
		w("\n")
		for _, r := range rep.Geo.Runs {
			if seen[r.Server] {
				continue
			}
			seen[r.Server] = true
			w("%s:\n\n```\n%s```\n\n", r.Server, firstLines(r.Config, 40))
		}
	}
	return b.String()
}

// durationOf and outstandingOf read the dnsperf settings back from a pass's
// first command line.
func durationOf(p Pass) string { return perfFlag(p, "-l") + " s" }

func outstandingOf(p Pass) string { return perfFlag(p, "-q") }

func perfFlag(p Pass, flag string) string {
	if len(p.Runs) == 0 || p.Runs[0].Saturation == nil {
		return "?"
	}
	f := strings.Fields(p.Runs[0].Saturation.Command)
	for k := 0; k+1 < len(f); k++ {
		if f[k] == flag {
			return f[k+1]
		}
	}
	return "?"
}

func rcodes(m map[string]int64) string {
	var total int64
	for _, n := range m {
		total += n
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %.1f%%", k, 100*float64(m[k])/float64(max(total, 1))))
	}
	return strings.Join(parts, ", ")
}
