package lab

import (
	"path/filepath"

	"github.com/coredns-fed/coredns-fed/internal/fixture"
)

// GeoDatabase is the path of the lab's geo database: a small GeoLite2 City
// database (fixture.GeoWorld) written at start when Config.Geo is set, or by
// WriteGeoDatabase. Loopback clients are not in it: without ECS they get
// every region, as without geo.
func (l *Lab) GeoDatabase() string { return filepath.Join(l.dir, "geo.mmdb") }

// WriteGeoDatabase writes the lab's geo database, for a variant that turns
// geo on with "geo " + GeoDatabase().
func (l *Lab) WriteGeoDatabase() error {
	return fixture.WriteGeoCity(l.GeoDatabase(), "", fixture.GeoWorld)
}

// GeoClient is a client subnet of the lab's geo database and the seed region
// nearest to it.
type GeoClient struct {
	Subnet, Place, Region string
}

// SeedGeoClients are clients on two continents and the seed regions they
// are answered from while every region is healthy.
var SeedGeoClients = []GeoClient{
	{"81.2.69.0/24", "London", "europe-west1"},
	{"1.0.16.0/24", "Tokyo", "asia-east1"},
}
