package federation

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/oschwald/geoip2-golang/v2"
	"github.com/oschwald/maxminddb-golang/v2"
	"go4.org/netipx"
)

// geoDB is one opened GeoIP2/GeoLite2 City database: memory-mapped once,
// read when a geo table is built, and closed only after a newer file has
// replaced it and nothing refers to it.
type geoDB struct {
	path   string
	reader *maxminddb.Reader
	mtime  time.Time
	size   int64
}

// openGeoDB opens path and checks it has the City layout: a file of another
// layout (ASN, Country, anything else) would place every client nowhere.
func openGeoDB(path string) (*geoDB, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("geo database %s: %w", path, err)
	}
	// geoip2 knows which database types have the City layout.
	g, err := geoip2.Open(path)
	if err != nil {
		return nil, fmt.Errorf("geo database %s: %w", path, err)
	}
	typ := g.Metadata().DatabaseType
	_, err = g.City(netip.IPv4Unspecified())
	g.Close()
	var invalid geoip2.InvalidMethodError
	if errors.As(err, &invalid) || strings.Contains(typ, "Country") {
		return nil, fmt.Errorf("geo database %s: type %q is not a GeoIP2/GeoLite2 City database (it has no coordinates)", path, typ)
	}
	r, err := maxminddb.Open(path)
	if err != nil {
		return nil, fmt.Errorf("geo database %s: %w", path, err)
	}
	return &geoDB{path: path, reader: r, mtime: fi.ModTime(), size: fi.Size()}, nil
}

// changedOnDisk reports whether the file at the path differs from the one opened.
func (d *geoDB) changedOnDisk() bool {
	fi, err := os.Stat(d.path)
	return err == nil && (!fi.ModTime().Equal(d.mtime) || fi.Size() != d.size)
}

// statMtime returns the modification time of path.
func statMtime(path string) (time.Time, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return time.Time{}, err
	}
	return fi.ModTime(), nil
}

// geoPlace is what a database record says about where its clients are.
type geoPlace struct {
	continent, country string // "EU", "DE"; empty when unknown
	at                 coord
	located            bool // the record has coordinates
}

// place decodes the record at offset.
func (d *geoDB) place(res maxminddb.Result) (geoPlace, error) {
	var c geoip2.City
	if err := res.Decode(&c); err != nil {
		return geoPlace{}, err
	}
	p := geoPlace{continent: c.Continent.Code, country: c.Country.ISOCode}
	if c.Location.HasCoordinates() {
		p.at, p.located = coord{*c.Location.Latitude, *c.Location.Longitude}, true
	}
	return p, nil
}

// geoNet is one network of a table's partition of the address space: the
// clients in it get the answers of one class.
type geoNet struct {
	prefix netip.Prefix
	class  int32 // -1: location unknown
}

// netMerger turns the database's networks, which come in address order, into
// a partition of the whole address family: gaps become networks of unknown
// location, and two sibling networks of the same class become their parent,
// so that each network is the widest prefix over which the answer is the same.
type netMerger struct {
	next netip.Addr // first address not yet covered; invalid once all is
	nets []geoNet
	skip int // networks that overlapped an earlier one
}

func newNetMerger(first netip.Addr) *netMerger { return &netMerger{next: first} }

func (m *netMerger) add(p netip.Prefix, class int32) {
	if !m.next.IsValid() || p.Addr().Less(m.next) {
		m.skip++
		return
	}
	if m.next.Less(p.Addr()) {
		m.fill(p.Addr().Prev())
	}
	m.push(geoNet{p, class})
	m.next = netipx.PrefixLastIP(p).Next()
}

// fill covers the addresses from next to last as networks of unknown location.
func (m *netMerger) fill(last netip.Addr) {
	for _, p := range netipx.IPRangeFrom(m.next, last).Prefixes() {
		m.push(geoNet{p, -1})
	}
	m.next = last.Next()
}

// finish covers the rest of the family and returns the partition.
func (m *netMerger) finish(last netip.Addr) []geoNet {
	if m.next.IsValid() {
		m.fill(last)
	}
	return m.nets
}

func (m *netMerger) push(n geoNet) {
	m.nets = append(m.nets, n)
	for k := len(m.nets); k >= 2; k = len(m.nets) {
		a, b := m.nets[k-2], m.nets[k-1]
		bits := a.prefix.Bits()
		if a.class != b.class || bits == 0 || b.prefix.Bits() != bits {
			return
		}
		parent, _ := a.prefix.Addr().Prefix(bits - 1)
		if parent.Addr() != a.prefix.Addr() || !parent.Contains(b.prefix.Addr()) {
			return
		}
		m.nets = append(m.nets[:k-2], geoNet{parent, a.class})
	}
}

// geoClass is what the clients of a class share: the regions in the order
// they are preferred, and how far the answer spills from each.
type geoClass struct {
	order []uint8 // region indices, preferred first
	reach []uint8 // reach[k]: when order[k] is the first usable region, order[k:reach[k]] may be answered
}

// geoTable places every client address in a class, for one database and one
// set of regions. It is built when either changes, never per query.
type geoTable struct {
	regions []string // the federation's regions, sorted; index = bit in a region mask
	classes []geoClass
	v4, v6  []geoNet     // partitions of each family, in address order
	starts4 []uint32     // first address of each v4 network
	starts6 []netip.Addr // first address of each v6 network
	skipped int          // database networks that were not used
}

// locate returns the class of addr (-1: unknown) and the length of the widest
// prefix around it that shares the class.
func (t *geoTable) locate(addr netip.Addr) (int32, uint8) {
	var n geoNet
	if addr.Is4() {
		a := addr.As4()
		v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
		i, found := slices.BinarySearch(t.starts4, v)
		if !found {
			i--
		}
		n = t.v4[i]
	} else {
		i, found := slices.BinarySearchFunc(t.starts6, addr, netip.Addr.Compare)
		if !found {
			i--
		}
		n = t.v6[i]
	}
	return n.class, uint8(n.prefix.Bits())
}

// buildGeoTable reads every network of db and classifies it by cfg for the
// regions. Records are decoded once each, however many networks share them.
func buildGeoTable(db *geoDB, cfg *geoConfig, regions []string) (*geoTable, error) {
	t := &geoTable{regions: regions}
	ids := map[string]int32{}
	byOffset := map[uintptr]int32{}
	m4 := newNetMerger(netip.IPv4Unspecified())
	m6 := newNetMerger(netip.IPv6Unspecified())
	for res := range db.reader.Networks() {
		if err := res.Err(); err != nil {
			return nil, fmt.Errorf("geo database %s: %w", db.path, err)
		}
		class, ok := byOffset[res.Offset()]
		if !ok {
			p, err := db.place(res)
			if err != nil {
				return nil, fmt.Errorf("geo database %s: network %s: %w", db.path, res.Prefix(), err)
			}
			class = t.classOf(cfg, p, ids)
			byOffset[res.Offset()] = class
		}
		if p := res.Prefix(); p.Addr().Is4() {
			m4.add(p, class)
		} else {
			m6.add(p, class)
		}
	}
	t.v4 = m4.finish(netipx.PrefixLastIP(netip.MustParsePrefix("0.0.0.0/0")))
	t.v6 = m6.finish(netipx.PrefixLastIP(netip.MustParsePrefix("::/0")))
	t.skipped = m4.skip + m6.skip
	t.starts4 = make([]uint32, len(t.v4))
	for i, n := range t.v4 {
		a := n.prefix.Addr().As4()
		t.starts4[i] = uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	}
	t.starts6 = make([]netip.Addr, len(t.v6))
	for i, n := range t.v6 {
		t.starts6[i] = n.prefix.Addr()
	}
	return t, nil
}

// classOf returns the class of clients at p: the operator's map for its
// country or continent, else the located regions by distance; -1 when
// neither places it.
func (t *geoTable) classOf(cfg *geoConfig, p geoPlace, ids map[string]int32) int32 {
	var c geoClass
	if list, ok := cfg.mapped(p.continent, p.country); ok {
		for _, r := range list {
			if i, found := slices.BinarySearch(t.regions, r); found {
				c.order = append(c.order, uint8(i))
			}
		}
		for k := range c.order {
			c.reach = append(c.reach, uint8(k+1)) // a map names an order, not distances
		}
	} else if p.located {
		var dist []float64
		for i, r := range t.regions {
			at, ok := cfg.coords(r)
			if !ok {
				continue
			}
			c.order = append(c.order, uint8(i))
			dist = append(dist, distanceKm(p.at, at))
		}
		idx := make([]int, len(c.order))
		for i := range idx {
			idx[i] = i
		}
		slices.SortStableFunc(idx, func(a, b int) int {
			return cmpFloat(dist[a], dist[b])
		})
		order := make([]uint8, len(idx))
		sorted := make([]float64, len(idx))
		for k, i := range idx {
			order[k], sorted[k] = c.order[i], dist[i]
		}
		c.order = order
		for k := range order {
			end := k + 1
			for end < len(order) && sorted[end] <= sorted[k]+cfg.spillKm {
				end++
			}
			c.reach = append(c.reach, uint8(end))
		}
	}
	if len(c.order) == 0 {
		return -1
	}
	key := string(c.order) + "/" + string(c.reach)
	if id, ok := ids[key]; ok {
		return id
	}
	id := int32(len(t.classes))
	t.classes = append(t.classes, c)
	ids[key] = id
	return id
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// distanceKm is the great-circle distance between a and b (haversine, on a
// sphere of the Earth's mean radius).
func distanceKm(a, b coord) float64 {
	const r = 6371.0
	rad := math.Pi / 180
	dlat := (b.lat - a.lat) * rad
	dlon := (b.lon - a.lon) * rad
	h := math.Sin(dlat/2)*math.Sin(dlat/2) +
		math.Cos(a.lat*rad)*math.Cos(b.lat*rad)*math.Sin(dlon/2)*math.Sin(dlon/2)
	return 2 * r * math.Asin(math.Min(1, math.Sqrt(h)))
}
