package bench

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/coredns-fed/coredns-fed/internal/fixture"
)

// GeoReport is the geo phase: coredns-fed with geo answers beside gdnsd's
// geoip plugin and Knot's geoip module, on the same zone and database.
type GeoReport struct {
	Database  string        `json:"database"`
	Networks  int           `json:"networks"`
	Cities    int           `json:"cities"`
	Regions   []RegionCoord `json:"regions"`
	Services  int           `json:"services"`
	LoadECS   string        `json:"load_ecs_subnet"` // the client subnet of every query of the throughput runs
	QueryFile string        `json:"query_file"`
	Rounds    int           `json:"rounds"`
	// Each server's median round by QPS per server core, pinned as the
	// primary throughput pass is.
	Runs       []GeoRun       `json:"runs"`
	Comparison *GeoComparison `json:"comparison"`
}

// GeoRun is one server's throughput in the geo phase.
type GeoRun struct {
	ServerRun
	QPSPerCore      float64   `json:"qps_per_server_core"`
	RoundQPSPerCore []float64 `json:"round_qps_per_server_core"`
}

// geoServers are the servers of the geo phase's throughput runs, in order.
var geoServers = []string{"federation-geo", "federation", "whoami", "gdnsd", "knot-geoip"}

// geoSetup writes the geo database and picks the Services whose global
// names the phase asks: Services ready in every member, so that the region
// chosen is the nearest one for every server.
func (r *runner) geoSetup() (*GeoSetup, error) {
	nets := GeoWorld(r.o.GeoNetworks, 1)
	g := &GeoSetup{Database: filepath.Join(r.dir, "geo-bench.mmdb"), Networks: nets}
	if err := fixture.WriteGeoCity(g.Database, "", nets); err != nil {
		return nil, err
	}
	var regions []string
	for _, c := range r.topo.Clusters {
		regions = append(regions, c.Region)
	}
	var err error
	if g.Regions, err = RegionCoords(regions); err != nil {
		return nil, err
	}
	for i := 1; i < r.topo.Services && len(g.Services) < r.o.GeoServices; i++ {
		ready := true
		for m := range r.topo.Clusters {
			ready = ready && Ready(m, i)
		}
		if !ready {
			continue
		}
		s := GeoService{Name: Name(i, ""), Resource: ServiceName(i), Addrs: map[string][]string{}}
		for m, c := range r.topo.Clusters {
			s.Addrs[c.Region] = append(s.Addrs[c.Region], ServiceAddr(m, i).String())
		}
		g.Services = append(g.Services, s)
	}
	if len(g.Services) == 0 {
		return nil, fmt.Errorf("no Service is ready in every member")
	}
	return g, nil
}

// geo runs the geo phase against the running lab.
func (r *runner) geo(ctx context.Context) error {
	g, err := r.geoSetup()
	if err != nil {
		return err
	}
	rep := &GeoReport{Database: g.Database, Networks: len(g.Networks), Cities: len(citiesOf(g.Networks)),
		Regions: g.Regions, Services: len(g.Services)}
	r.rep.Geo = rep
	regionOf := map[string]string{}
	var names []string
	for _, s := range g.Services {
		names = append(names, s.Name)
		for region, addrs := range s.Addrs {
			for _, a := range addrs {
				regionOf[a] = region
			}
		}
	}
	spec := func(name, cpus string) ServerSpec {
		sp := r.spec(name, cpus)
		sp.Geo = g
		return sp
	}
	probe := g.Services[0].Name

	subnets := GeoSubnets(g.Networks, r.o.GeoSubnets, 2)
	r.logf("geo: %d client subnets of a %d-network database to federation-geo, gdnsd and knot-geoip", len(subnets), len(g.Networks))
	var up []*Server
	defer func() {
		for _, s := range up {
			s.Stop()
		}
	}()
	for _, name := range []string{"federation-geo", "gdnsd", "knot-geoip"} {
		s, err := spec(name, "").Start()
		if err != nil {
			return err
		}
		up = append(up, s)
		if _, err := s.WaitAnswering(ctx, probe, 5*time.Minute); err != nil {
			return err
		}
	}
	if rep.Comparison, err = CompareGeo(up, names, subnets, regionOf, g.WhyNarrower); err != nil {
		return err
	}
	c := rep.Comparison
	r.logf("  region: %d of %d identical (gdnsd %d, knot-geoip %d); scope against gdnsd: %d wider, %d equal, %d narrower",
		c.Identical, c.Subnets, c.SameAs["gdnsd"], c.SameAs["knot-geoip"], c.ScopeWider, c.ScopeEqual, c.ScopeNarrower)
	for why, n := range c.NarrowerWhy {
		r.logf("  narrower, %d: %s", n, why)
	}
	for _, s := range up {
		s.Stop()
	}
	up = nil

	// The load: every geo name from one client subnet, placed by the database.
	load := subnets[0]
	rep.LoadECS = load.String()
	rep.QueryFile = filepath.Join(r.o.Out, "queries-geo.txt")
	var qs []Query
	for _, n := range names {
		qs = append(qs, Query{Name: n, Class: "global"})
	}
	if err := WriteQueryFile(rep.QueryFile, qs); err != nil {
		return err
	}
	rep.Rounds = r.o.Rounds
	serverCPUs, perfCPUs := "1", "0"
	if r.rep.Machine.CPUs < 2 {
		serverCPUs, perfCPUs = "", ""
	}
	rounds := map[string][]GeoRun{}
	for round := 1; round <= rep.Rounds; round++ {
		for _, name := range geoServers {
			r.logf("geo throughput (round %d of %d): %s, ECS %s", round, rep.Rounds, name, load)
			run, err := r.geoThroughput(ctx, spec(name, serverCPUs), probe, rep.QueryFile, load, perfCPUs)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			rounds[name] = append(rounds[name], *run)
		}
	}
	for _, name := range geoServers {
		rep.Runs = append(rep.Runs, medianGeoRun(rounds[name]))
	}
	return nil
}

// geoThroughput starts one server and saturates it from the load subnet.
func (r *runner) geoThroughput(ctx context.Context, sp ServerSpec, probe, queryFile string, load netip.Prefix, perfCPUs string) (*GeoRun, error) {
	s, err := sp.Start()
	if err != nil {
		return nil, err
	}
	defer s.Stop()
	if _, err := s.WaitAnswering(ctx, probe, 5*time.Minute); err != nil {
		return nil, err
	}
	out := filepath.Join(r.o.Out, "dnsperf-geo.out")
	defer os.Remove(out)
	perf := PerfRun{
		Addr: s.Addr, QueryFile: queryFile, Duration: r.o.Duration,
		Clients: r.o.Clients, Outstanding: r.o.Outstanding, CPUs: perfCPUs,
		EDNSOption: ECSOptionHex(load), OutFile: out,
	}
	run, err := r.saturate(ctx, s, perf)
	if err != nil {
		return nil, err
	}
	// A CPU profile of each coredns-fed variant under the geo load, after its
	// first measured round: the geo names with ECS, geo on and off.
	if name := "geo-" + s.Name; s.PprofURL != "" && !r.profiled[name] {
		r.profiled[name] = true
		perf.Duration = time.Duration(r.o.ProfileSecs+2) * time.Second
		sp, err := r.profileServer(ctx, s, name, perf)
		if err != nil {
			return nil, err
		}
		r.rep.ServerProfiles = append(r.rep.ServerProfiles, *sp)
	}
	g := &GeoRun{ServerRun: *run}
	if run.ServerCores > 0 {
		g.QPSPerCore = run.Saturation.QPS / run.ServerCores
	}
	res := run.Saturation
	r.logf("  %.0f QPS, %.2f%% lost, server %.2f cores: %.0f QPS per server core (dnsperf %.2f cores)",
		res.QPS, res.LossPercent, run.ServerCores, g.QPSPerCore, run.PerfCores)
	return g, nil
}

// medianGeoRun returns the round with the median QPS per server core,
// carrying every round's figure.
func medianGeoRun(runs []GeoRun) GeoRun {
	var per []float64
	var qps []float64
	for _, x := range runs {
		per = append(per, x.QPSPerCore)
		qps = append(qps, x.Saturation.QPS)
	}
	sorted := slices.Clone(runs)
	slices.SortFunc(sorted, func(a, b GeoRun) int {
		switch {
		case a.QPSPerCore < b.QPSPerCore:
			return -1
		case a.QPSPerCore > b.QPSPerCore:
			return 1
		}
		return 0
	})
	m := sorted[(len(sorted)-1)/2]
	m.RoundQPSPerCore, m.RoundQPS = per, qps
	return m
}

// geoRun returns the geo phase's run of server, or nil.
func (g *GeoReport) run(server string) *GeoRun {
	for k := range g.Runs {
		if g.Runs[k].Server == server {
			return &g.Runs[k]
		}
	}
	return nil
}
