package bench

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"

	"github.com/coredns-fed/coredns-fed/internal/fixture"
	"github.com/coredns-fed/coredns-fed/plugin/federation"
)

// geoCity is a place the benchmark's geo database puts clients.
type geoCity struct {
	Name, Continent, Country string
	Lat, Lon                 float64
}

// geoCities spread the benchmark's clients over every continent, with
// places near the boundaries between the seed's regions (Moscow, Dubai,
// Anchorage, Honolulu) as well as deep inside them.
var geoCities = []geoCity{
	{"London", "EU", "GB", 51.51, -0.13}, {"Paris", "EU", "FR", 48.86, 2.35},
	{"Frankfurt am Main", "EU", "DE", 50.11, 8.68}, {"Madrid", "EU", "ES", 40.42, -3.70},
	{"Stockholm", "EU", "SE", 59.33, 18.07}, {"Warsaw", "EU", "PL", 52.23, 21.01},
	{"Moscow", "EU", "RU", 55.76, 37.62}, {"Istanbul", "EU", "TR", 41.01, 28.98},
	{"Reykjavik", "EU", "IS", 64.15, -21.94},
	{"Tokyo", "AS", "JP", 35.69, 139.69}, {"Seoul", "AS", "KR", 37.57, 126.98},
	{"Singapore", "AS", "SG", 1.35, 103.82}, {"Mumbai", "AS", "IN", 19.08, 72.88},
	{"Dubai", "AS", "AE", 25.20, 55.27}, {"Almaty", "AS", "KZ", 43.24, 76.89},
	{"Jakarta", "AS", "ID", -6.21, 106.85}, {"Novosibirsk", "AS", "RU", 55.01, 82.93},
	{"New York", "NA", "US", 40.71, -74.01}, {"Chicago", "NA", "US", 41.88, -87.63},
	{"Dallas", "NA", "US", 32.78, -96.80}, {"Denver", "NA", "US", 39.74, -104.99},
	{"Seattle", "NA", "US", 47.61, -122.33}, {"Miami", "NA", "US", 25.76, -80.19},
	{"Toronto", "NA", "CA", 43.65, -79.38}, {"Mexico City", "NA", "MX", 19.43, -99.13},
	{"Anchorage", "NA", "US", 61.22, -149.90}, {"Honolulu", "NA", "US", 21.31, -157.86},
	{"Minneapolis", "NA", "US", 44.98, -93.27}, {"Atlanta", "NA", "US", 33.75, -84.39},
	{"Sao Paulo", "SA", "BR", -23.55, -46.63}, {"Buenos Aires", "SA", "AR", -34.60, -58.38},
	{"Bogota", "SA", "CO", 4.71, -74.07}, {"Lima", "SA", "PE", -12.05, -77.04},
	{"Lagos", "AF", "NG", 6.52, 3.38}, {"Nairobi", "AF", "KE", -1.29, 36.82},
	{"Johannesburg", "AF", "ZA", -26.20, 28.05}, {"Cairo", "AF", "EG", 30.04, 31.24},
	{"Sydney", "OC", "AU", -33.87, 151.21}, {"Perth", "OC", "AU", -31.95, 115.86},
	{"Auckland", "OC", "NZ", -36.85, 174.76},
}

// GeoWorld is the benchmark's geo database: n IPv4 networks from /14 to /24
// in 1.0.0.0/8 upwards, each placed in one of geoCities. Neighbouring
// networks often share a city, and some space between them is left out, as
// in the real databases, so that merging networks into wider ECS scopes has
// something to do. The same seed gives the same networks.
func GeoWorld(n int, seed uint64) []fixture.GeoNetwork {
	r := rand.New(rand.NewPCG(seed, seed^0x5851f42d4c957f2d))
	next := uint32(1) << 24
	city := r.IntN(len(geoCities))
	out := make([]fixture.GeoNetwork, 0, n)
	for len(out) < n {
		bits := 14 + r.IntN(11)
		if bits < 18 && r.IntN(3) > 0 {
			bits += 4 // mostly /18../24, as in a city database
		}
		size := uint32(1) << (32 - bits)
		next = (next + size - 1) &^ (size - 1)
		if r.IntN(10) == 0 {
			next += size // a gap: addresses the database does not place
		}
		if r.IntN(10) >= 7 {
			city = r.IntN(len(geoCities))
		}
		c := geoCities[city]
		a := netip.AddrFrom4([4]byte{byte(next >> 24), byte(next >> 16), byte(next >> 8), byte(next)})
		out = append(out, fixture.GeoNetwork{
			Prefix: netip.PrefixFrom(a, bits).String(), Continent: c.Continent, Country: c.Country,
			City: c.Name, Lat: c.Lat, Lon: c.Lon,
		})
		next += size
	}
	return out
}

// GeoSubnets returns n client /24s of nets, each inside a different network
// as long as there are networks left, reproducibly for a seed.
func GeoSubnets(nets []fixture.GeoNetwork, n int, seed uint64) []netip.Prefix {
	r := rand.New(rand.NewPCG(seed, seed^0x2545f4914f6cdd1d))
	order := r.Perm(len(nets))
	out := make([]netip.Prefix, 0, n)
	for k := 0; len(out) < n && len(nets) > 0; k++ {
		p := netip.MustParsePrefix(nets[order[k%len(nets)]].Prefix)
		span := uint32(1) << (24 - min(p.Bits(), 24))
		a := p.Addr().As4()
		base := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8
		v := base + uint32(r.IntN(int(span)))<<8
		out = append(out, netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), 0}), 24))
	}
	return out
}

// RegionCoord is where a region is, as the federation plugin places it.
type RegionCoord struct {
	Region   string
	Lat, Lon float64
}

// RegionCoords returns the plugin's built-in coordinates of regions, sorted
// by region name; a region the plugin does not place is an error, since the
// other servers could then not be given the same places.
func RegionCoords(regions []string) ([]RegionCoord, error) {
	var out []RegionCoord
	for _, r := range regions {
		lat, lon, ok := federation.RegionCoordinates(r)
		if !ok {
			return nil, fmt.Errorf("region %q has no built-in coordinates", r)
		}
		out = append(out, RegionCoord{r, lat, lon})
	}
	slices.SortFunc(out, func(a, b RegionCoord) int { return strings.Compare(a.Region, b.Region) })
	out = slices.CompactFunc(out, func(a, b RegionCoord) bool { return a.Region == b.Region })
	return out, nil
}

// nearestRegion returns the region nearest to (lat, lon) by great-circle
// distance, the first by name on a tie, as the plugin ranks regions.
func nearestRegion(regions []RegionCoord, lat, lon float64) string {
	best, bestKm := "", math.Inf(1)
	for _, rc := range regions {
		if d := greatCircleKm(lat, lon, rc.Lat, rc.Lon); d < bestKm {
			best, bestKm = rc.Region, d
		}
	}
	return best
}

// greatCircleKm is the haversine distance on a sphere of the Earth's mean radius.
func greatCircleKm(lat1, lon1, lat2, lon2 float64) float64 {
	const r = 6371.0
	rad := math.Pi / 180
	dlat, dlon := (lat2-lat1)*rad, (lon2-lon1)*rad
	h := math.Sin(dlat/2)*math.Sin(dlat/2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dlon/2)*math.Sin(dlon/2)
	return 2 * r * math.Asin(math.Min(1, math.Sqrt(h)))
}
