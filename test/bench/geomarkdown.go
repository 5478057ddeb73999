package bench

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// geoTargets judges the geo phase against the goals.
func geoTargets(g *GeoReport) []Target {
	var ts []Target
	if geo, who := g.run("federation-geo"), g.run("whoami"); geo != nil && who != nil && who.QPSPerCore > 0 {
		x := geo.QPSPerCore / who.QPSPerCore
		ts = append(ts, Target{What: "geo on: QPS per server core / whoami's (ECS queries)", Goal: "≥ 0.8×",
			Measured: fmt.Sprintf("%.2f×", x), Met: x >= 0.8})
	}
	if c := g.Comparison; c != nil && c.Subnets > 0 {
		ts = append(ts,
			Target{What: "same region as gdnsd and Knot geoip for the same client subnets", Goal: fmt.Sprintf("%d of %d", c.Subnets, c.Subnets),
				Measured: fmt.Sprintf("%d of %d", c.Identical, c.Subnets), Met: c.Identical == c.Subnets},
			Target{What: "ECS scope at least as wide as gdnsd's", Goal: "0 narrower, except where gdnsd's prefix holds clients answered otherwise",
				Measured: fmt.Sprintf("%d wider, %d equal, %d narrower (%d of them where gdnsd's prefix holds clients answered otherwise)",
					c.ScopeWider, c.ScopeEqual, c.ScopeNarrower, c.ScopeNarrower-c.NarrowerWhy["unexplained"]),
				Met: c.NarrowerWhy["unexplained"] == 0})
	}
	return ts
}

// geoMarkdown renders the geo phase.
func geoMarkdown(g *GeoReport) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("## Geo answers beside gdnsd and Knot\n\n")
	var regions []string
	for _, r := range g.Regions {
		regions = append(regions, fmt.Sprintf("%s (%g, %g)", r.Region, r.Lat, r.Lon))
	}
	w("The same zone (transferred from coredns-fed) and the same generated GeoLite2 City database (%d IPv4 networks in %d cities, `%s`) "+
		"for every server; regions at the plugin's built-in coordinates: %s. gdnsd's geoip plugin ranks them itself (city-auto mode, "+
		"`auto_dc_coords`, `auto_dc_limit` = the number of regions); Knot's geoip module has no distance mode, so its configuration "+
		"lists every city of the database with the addresses of the region nearest to it (same coordinates, great-circle distance). "+
		"%d Services ready in every member; their global names are asked.\n\n",
		g.Networks, g.Cities, g.Database, strings.Join(regions, ", "), g.Services)
	if c := g.Comparison; c != nil {
		w("### Region chosen and ECS scope\n\n")
		w("%d client /24s, each in a different network of the database, each asked of %s with ECS (source /24).\n\n", c.Subnets, strings.Join(c.Servers, ", "))
		w("* Same region from every server: **%d of %d**", c.Identical, c.Subnets)
		for _, s := range c.Servers[1:] {
			w("; %s alone: %d", s, c.SameAs[s])
		}
		w(".\n")
		if len(c.Servers) > 1 {
			w("* Scope of %s against %s's: **%d wider, %d equal, %d narrower**.\n", c.Servers[0], c.Servers[1], c.ScopeWider, c.ScopeEqual, c.ScopeNarrower)
		}
		for _, why := range slices.Sorted(maps.Keys(c.NarrowerWhy)) {
			w("* Narrower, %d subnets: %s.\n", c.NarrowerWhy[why], why)
		}
		w("* Regions chosen by %s: %s.\n\n", c.Servers[0], counts(c.Regions))
		w("| SCOPE PREFIX-LENGTH | %s |\n|---|%s\n", strings.Join(c.Servers, " | "), strings.Repeat("---|", len(c.Servers)))
		scopes := map[int]bool{}
		for _, h := range c.Scopes {
			for s := range h {
				scopes[s] = true
			}
		}
		for _, s := range slices.Sorted(maps.Keys(scopes)) {
			label := fmt.Sprintf("/%d", s)
			if s < 0 {
				label = "no ECS option"
			}
			w("| %s |", label)
			for _, srv := range c.Servers {
				w(" %d |", c.Scopes[srv][s])
			}
			w("\n")
		}
		w("\n")
		if len(c.Mismatches) > 0 {
			w("Subnets answered from different regions (first %d):\n\n```\n%s\n```\n\n", len(c.Mismatches), strings.Join(c.Mismatches, "\n"))
		}
		if len(c.Narrower) > 0 {
			w("Narrower scopes than gdnsd's (first %d):\n\n```\n%s\n```\n\n", len(c.Narrower), strings.Join(c.Narrower, "\n"))
		}
	}
	if len(g.Runs) > 0 {
		w("### Throughput per server core\n\n")
		w("Every query of `%s` (the geo names) carries ECS %s; server on CPU 1, dnsperf on CPU 0, one UDP worker or thread each "+
			"where the server has the setting (gdnsd `udp_threads 1`, Knot `udp-workers 1`); %d round(s), each server's median by QPS per core. "+
			"On 2 cores dnsperf, not the server, is the limit, so the figure compared is QPS per core of server CPU time (/proc/PID/stat).\n\n",
			g.QueryFile, g.LoadECS, g.Rounds)
		w("| server | QPS | server cores | QPS per server core | rounds (QPS per core) | lost | dnsperf cores |\n|---|---|---|---|---|---|---|\n")
		for _, r := range g.Runs {
			var rounds []string
			for _, x := range r.RoundQPSPerCore {
				rounds = append(rounds, fmt.Sprintf("%.0f", x))
			}
			w("| %s | %.0f | %.2f | **%.0f** | %s | %.2f%% | %.2f |\n", r.Server, r.Saturation.QPS, r.ServerCores, r.QPSPerCore,
				strings.Join(rounds, ", "), r.Saturation.LossPercent, r.PerfCores)
		}
		w("\n")
	}
	return b.String()
}

// counts renders a histogram as "key n, key n" by key.
func counts(m map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		label := k
		if label == "" {
			label = "(none)"
		}
		parts = append(parts, fmt.Sprintf("%s %d", label, m[k]))
	}
	return strings.Join(parts, ", ")
}
