package bench

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/miekg/dns"

	"github.com/coredns-fed/coredns-fed/internal/fixture"
)

// GeoService is a federated Service whose global name the geo phase asks,
// with the addresses of its shards by region.
type GeoService struct {
	Name     string              // the global name, fully qualified
	Resource string              // its gdnsd resource name
	Addrs    map[string][]string // region -> shard addresses
}

// GeoSetup is what every geo server is configured from: the same database,
// the same regions at the same coordinates, the same Services.
type GeoSetup struct {
	Database string               // the GeoIP2 City file
	Networks []fixture.GeoNetwork // what it holds
	Regions  []RegionCoord        // sorted by name
	Services []GeoService
}

// vscfString quotes s for gdnsd's configuration language.
func vscfString(s string) string { return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"` }

// GdnsdConfig renders gdnsd 3's configuration: one UDP and one TCP thread on
// 127.0.0.1:port, and the geoip plugin in city-auto mode (auto_dc_coords) with
// the plugin's coordinates of the regions, every region ranked (auto_dc_limit
// is the number of regions, so that its merged networks are by the whole
// order, as the plugin's are), one resource per Service.
func GdnsdConfig(g GeoSetup, port int, dir string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "options => {\n")
	fmt.Fprintf(&b, "  listen => [ \"127.0.0.1:%d\" ]\n", port)
	fmt.Fprintf(&b, "  udp_threads => 1\n  tcp_threads => 1\n")
	fmt.Fprintf(&b, "  run_dir => %s\n  state_dir => %s\n", vscfString(dir+"/run"), vscfString(dir+"/state"))
	fmt.Fprintf(&b, "}\n")
	fmt.Fprintf(&b, "plugins => { geoip => {\n  maps => {\n    regions => {\n")
	fmt.Fprintf(&b, "      geoip2_db => %s\n", vscfString(g.Database))
	var names []string
	for _, r := range g.Regions {
		names = append(names, vscfString(r.Region))
	}
	fmt.Fprintf(&b, "      datacenters => [ %s ]\n", strings.Join(names, ", "))
	fmt.Fprintf(&b, "      auto_dc_limit => %d\n", len(g.Regions))
	fmt.Fprintf(&b, "      auto_dc_coords => {\n")
	for _, r := range g.Regions {
		fmt.Fprintf(&b, "        %s => [ %g, %g ]\n", vscfString(r.Region), r.Lat, r.Lon)
	}
	fmt.Fprintf(&b, "      }\n    }\n  }\n  resources => {\n")
	for _, s := range g.Services {
		fmt.Fprintf(&b, "    %s => {\n      map => regions\n      dcmap => {\n", vscfString(s.Resource))
		for _, r := range g.Regions {
			addrs := s.Addrs[r.Region]
			quoted := make([]string, len(addrs))
			for k, a := range addrs {
				quoted[k] = vscfString(a)
			}
			fmt.Fprintf(&b, "        %s => [ %s ]\n", vscfString(r.Region), strings.Join(quoted, ", "))
		}
		fmt.Fprintf(&b, "      }\n    }\n")
	}
	fmt.Fprintf(&b, "  }\n}}\n")
	return b.String()
}

// GdnsdZone turns zone, a master file of one record a line (as TransferZone
// writes it), into gdnsd's zone: the geo Services' global addresses become
// one DYNA record each, everything else stays as it is.
func GdnsdZone(zone string, g GeoSetup) (string, error) {
	geo := map[string]string{}
	var ttl uint32
	for _, s := range g.Services {
		geo[strings.ToLower(s.Name)] = s.Resource
	}
	var b strings.Builder
	sc := bufio.NewScanner(strings.NewReader(zone))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			continue
		}
		rr, err := dns.NewRR(line)
		if err != nil {
			return "", fmt.Errorf("zone line %d: %w", n, err)
		}
		h := rr.Header()
		if _, ok := geo[strings.ToLower(h.Name)]; ok && (h.Rrtype == dns.TypeA || h.Rrtype == dns.TypeAAAA) {
			ttl = h.Ttl
			continue
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	if ttl == 0 {
		return "", fmt.Errorf("zone has no address records of the geo Services")
	}
	for _, s := range g.Services {
		fmt.Fprintf(&b, "%s %d DYNA geoip!%s\n", s.Name, ttl, s.Resource)
	}
	return b.String(), nil
}

// KnotGeoConf renders the configuration file of Knot's geoip module in geodb
// mode, keyed on country and city. Knot has no distance mode: each city of
// the database is listed with the addresses of the region nearest to it,
// ranked here by the same great-circle distance and coordinates as the
// plugin's. Clients the database does not place get the zone's record,
// every shard, as the plugin answers them.
func KnotGeoConf(g GeoSetup) string {
	cities := citiesOf(g.Networks)
	var b strings.Builder
	for _, s := range g.Services {
		fmt.Fprintf(&b, "%s:\n", s.Name)
		for _, c := range cities {
			addrs := s.Addrs[nearestRegion(g.Regions, c.Lat, c.Lon)]
			fmt.Fprintf(&b, "  - geo: \"%s;%s\"\n    A: [ %s ]\n", c.Country, c.Name, strings.Join(addrs, ", "))
		}
	}
	return b.String()
}

// KnotGeoipConf renders knotd's configuration with the geoip module on the
// zone: as the plain Knot server's, plus ECS (off by default in Knot) and
// mod-geoip in geodb mode.
func KnotGeoipConf(g GeoSetup, port int, dir, zoneFile, geoConf string) string {
	base := ServerSpec{Dir: dir, ZoneFile: zoneFile}.knotConf(port)
	mod := fmt.Sprintf(`mod-geoip:
  - id: geo
    config-file: "%s"
    ttl: 30
    mode: geodb
    geodb-file: "%s"
    geodb-key: [ country/iso_code, city/names/en ]

`, geoConf, g.Database)
	base = strings.Replace(base, "    background-workers: 1\n", "    background-workers: 1\n    edns-client-subnet: on\n", 1)
	zone, _, _ := strings.Cut(base, "zone:\n")
	return zone + mod + "zone:\n" + fmt.Sprintf("  - domain: %s\n    file: \"%s\"\n    module: mod-geoip/geo\n", Domain, zoneFile)
}

// citiesOf returns the distinct places of a database's networks, by name.
func citiesOf(nets []fixture.GeoNetwork) []geoCity {
	seen := map[string]bool{}
	var out []geoCity
	for _, n := range nets {
		c := geoCity{Name: n.City, Continent: n.Continent, Country: n.Country, Lat: n.Lat, Lon: n.Lon}
		if !seen[c.Country+";"+c.Name] {
			seen[c.Country+";"+c.Name] = true
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b geoCity) int { return strings.Compare(a.Country+a.Name, b.Country+b.Name) })
	return out
}

// geoServer writes the configuration of gdnsd or knot-geoip into a directory
// of its own under sp.Dir and returns its command line.
func (sp ServerSpec) geoServer(s *Server, port int) ([]string, error) {
	if sp.Geo == nil {
		return nil, fmt.Errorf("%s needs a geo setup", sp.Name)
	}
	dir := filepath.Join(sp.Dir, sp.Name)
	if err := os.RemoveAll(dir); err != nil { // a stale control socket or PID file
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	switch sp.Name {
	case "gdnsd":
		zone, err := os.ReadFile(sp.ZoneFile)
		if err != nil {
			return nil, err
		}
		gz, err := GdnsdZone(string(zone), *sp.Geo)
		if err != nil {
			return nil, err
		}
		if err := os.MkdirAll(filepath.Join(dir, "zones"), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(dir, "zones", Domain), []byte(gz), 0o644); err != nil {
			return nil, err
		}
		s.Config = GdnsdConfig(*sp.Geo, port, dir)
		if err := os.WriteFile(filepath.Join(dir, "config"), []byte(s.Config), 0o644); err != nil {
			return nil, err
		}
		return []string{"gdnsd", "-c", dir, "start"}, nil
	default:
		geoConf := filepath.Join(dir, "geo.conf")
		if err := os.WriteFile(geoConf, []byte(KnotGeoConf(*sp.Geo)), 0o644); err != nil {
			return nil, err
		}
		s.Config = KnotGeoipConf(*sp.Geo, port, dir, sp.ZoneFile, geoConf)
		conf := filepath.Join(dir, "knot.conf")
		if err := os.WriteFile(conf, []byte(s.Config), 0o644); err != nil {
			return nil, err
		}
		return []string{"knotd", "-c", conf}, nil
	}
}
