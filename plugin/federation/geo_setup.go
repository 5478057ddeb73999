package federation

import (
	"strconv"
	"strings"

	"github.com/coredns/caddy"
)

// continents are the continent codes of GeoIP2 databases.
var continents = map[string]bool{"AF": true, "AN": true, "AS": true, "EU": true, "NA": true, "OC": true, "SA": true}

// parseGeo reads "geo [DATABASE] { ... }" and opens the database. The caddy
// dispenser does not nest blocks, so the block is read token by token, as a
// member block is.
func parseGeo(c *caddy.Controller) (*geo, error) {
	cfg := newGeoConfig()
	args, block, err := blockArgs(c, "geo", "geo [DATABASE] { database PATH ... }")
	if err != nil {
		return nil, err
	}
	switch len(args) {
	case 0:
	case 1:
		cfg.path = args[0]
	default:
		return nil, c.Errf("geo takes at most one DATABASE before its block, got %d arguments", len(args))
	}
	err = blockOptions(c, "geo", block, func(opt string, a []string) error { return cfg.option(c, opt, a) })
	if err != nil {
		return nil, err
	}
	if cfg.path == "" {
		return nil, c.Err("geo needs a database: geo { database PATH }")
	}
	g, err := newGeo(cfg)
	if err != nil {
		return nil, c.Errf("geo: %v", err)
	}
	return g, nil
}

// option applies one line of the geo block.
func (cfg *geoConfig) option(c *caddy.Controller, opt string, a []string) error {
	switch opt {
	case "database":
		if len(a) != 1 {
			return c.Errf("geo: database needs exactly one PATH, got %d arguments", len(a))
		}
		cfg.path = a[0]
	case "coordinates":
		if len(a) != 3 {
			return c.Errf("geo: coordinates needs REGION LATITUDE LONGITUDE, got %d arguments", len(a))
		}
		if err := checkLabel(a[0]); err != nil {
			return c.Errf("geo: coordinates: region %q: %v", a[0], err)
		}
		lat, err1 := strconv.ParseFloat(a[1], 64)
		lon, err2 := strconv.ParseFloat(a[2], 64)
		if err1 != nil || err2 != nil || lat < -90 || lat > 90 || lon < -180 || lon > 180 {
			return c.Errf("geo: coordinates %s %s %s: latitude must be a number in [-90, 90] and longitude in [-180, 180] (degrees)", a[0], a[1], a[2])
		}
		cfg.override[strings.ToLower(a[0])] = coord{lat, lon}
	case "map":
		if len(a) < 2 {
			return c.Errf("geo: map needs CONTINENT[/COUNTRY] and at least one REGION, got %d arguments", len(a))
		}
		key := strings.ToUpper(a[0])
		cont, country, hasCountry := strings.Cut(key, "/")
		if !continents[cont] {
			return c.Errf("geo: map %q: %q is not a continent code (AF, AN, AS, EU, NA, OC, SA)", a[0], cont)
		}
		if hasCountry && (len(country) != 2 || strings.Trim(country, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "") {
			return c.Errf("geo: map %q: %q is not an ISO 3166 two-letter country code", a[0], country)
		}
		if _, dup := cfg.maps[key]; dup {
			return c.Errf("geo: map %s given twice", key)
		}
		var regions []string
		for _, r := range a[1:] {
			if err := checkLabel(r); err != nil {
				return c.Errf("geo: map %s: region %q: %v", key, r, err)
			}
			regions = append(regions, strings.ToLower(r))
		}
		cfg.maps[key] = regions
	case "nearest":
		n, err := strconv.Atoi(strings.Join(a, " "))
		if len(a) != 1 || err != nil || n < 1 || n > 64 {
			return c.Errf("geo: nearest needs one number of regions in [1, 64], got %q", strings.Join(a, " "))
		}
		cfg.nearest = n
	case "spill":
		km, err := strconv.ParseFloat(strings.TrimSuffix(strings.Join(a, " "), "km"), 64)
		if len(a) != 1 || err != nil || km < 0 || km > 20040 {
			return c.Errf("geo: spill needs one distance in kilometres in [0, 20040], such as 1500 or 1500km, got %q", strings.Join(a, " "))
		}
		cfg.spillKm = km
	case "reload":
		d, err := parseDuration(c, "geo: reload", a)
		if err != nil {
			return err
		}
		cfg.poll = d
	default:
		return c.Errf("geo: unknown option %q", opt)
	}
	return nil
}
