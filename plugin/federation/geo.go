package federation

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coredns/coredns/plugin"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// geoAnswers counts geo answers by the nearest region answered; its label values
// are the federation's regions and two more, so they stay few.
var geoAnswers = promauto.NewCounterVec(prometheus.CounterOpts{
	Namespace: plugin.Namespace,
	Subsystem: pluginName,
	Name:      "geo_answers_total",
	Help:      "Answers of global names by the nearest region answered; unknown: client not placed, fallback: none of its regions usable.",
}, []string{"server", "region"})

// Geo answers: the global name of a service answers the usable shards of the
// region nearest the client that has any. The work is split by when it can be
// done:
//
//   - when the database or the federation's set of regions changes, every
//     database network is given a class (the regions in the order its clients
//     prefer them) and adjacent networks of one class are merged, so that each
//     network is the widest prefix over which the answer is the same (geoTable);
//   - when a snapshot is built, each class gets, per service, the regions it is
//     answered from and the packed records (geoPicker);
//   - per query, one lookup of the client in the table and one map lookup.
//
// Region and zone names are not geo-routed: the client asked for that place.

// geoConfig is the geo section of the Corefile.
type geoConfig struct {
	path     string
	override map[string]coord    // coordinates REGION LAT LON
	maps     map[string][]string // "EU" or "EU/DE" -> regions, preferred first
	nearest  int                 // regions answered (1: the nearest usable one)
	spillKm  float64             // also answer usable regions this much farther than the nearest
	poll     time.Duration       // how often the database file is checked for a change
}

func newGeoConfig() *geoConfig {
	return &geoConfig{override: map[string]coord{}, maps: map[string][]string{}, nearest: 1, poll: 5 * time.Second}
}

// coords returns where region is: the Corefile's coordinates, else the built-in table.
func (c *geoConfig) coords(region string) (coord, bool) {
	if at, ok := c.override[region]; ok {
		return at, true
	}
	at, ok := regionCoords[region]
	return at, ok
}

// mapped returns the operator's region list for a country or, failing that, its continent.
func (c *geoConfig) mapped(continent, country string) ([]string, bool) {
	if continent == "" {
		return nil, false
	}
	if l, ok := c.maps[continent+"/"+country]; ok && country != "" {
		return l, true
	}
	l, ok := c.maps[continent]
	return l, ok
}

// geo is the running geo step of one Federation: the current database, swapped
// when the file changes, and the table of the last snapshot build.
type geo struct {
	cfg *geoConfig
	db  atomic.Pointer[geoDB]

	mu      sync.Mutex
	retired []*geoDB // replaced databases, closed by the build loop once no table is read from them

	// Only the build loop uses these.
	table     *geoTable
	tableDB   *geoDB
	tableKey  string
	failedDB  *geoDB // a database whose table failed for failedKey: not retried
	failedKey string
	warned    map[string]bool
}

// newGeo opens the database; an error names the path.
func newGeo(cfg *geoConfig) (*geo, error) {
	db, err := openGeoDB(cfg.path)
	if err != nil {
		return nil, err
	}
	g := &geo{cfg: cfg, warned: map[string]bool{}}
	g.db.Store(db)
	return g, nil
}

// watch checks the database file every poll interval and swaps in a changed
// one; changed asks for a rebuild. A file that fails to open keeps the old database.
func (g *geo) watch(ctx context.Context, changed func()) {
	t := time.NewTicker(g.cfg.poll)
	defer t.Stop()
	var failed time.Time // mtime of a file that failed, not retried until it changes again
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cur := g.db.Load()
		if !cur.changedOnDisk() {
			continue
		}
		db, err := openGeoDB(cur.path)
		if err != nil {
			if fi, serr := statMtime(cur.path); serr == nil && !fi.Equal(failed) {
				failed = fi
				log.Errorf("Geo database reload failed, keeping the one loaded at %s: %v", cur.mtime.Format(time.RFC3339), err)
			}
			continue
		}
		g.mu.Lock()
		g.retired = append(g.retired, cur)
		g.db.Store(db)
		g.mu.Unlock()
		log.Infof("Geo database %s reloaded (%s, built %s)", db.path, db.reader.Metadata.DatabaseType, db.reader.Metadata.BuildTime().Format(time.RFC3339))
		changed()
	}
}

// close releases every database; the build loop has stopped.
func (g *geo) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, d := range g.retired {
		d.reader.Close()
	}
	g.retired = nil
	if d := g.db.Load(); d != nil {
		d.reader.Close()
	}
}

// forBuild returns the geo step of one snapshot build for the members'
// topology, or nil when geo cannot place anything (no region, or no table).
func (g *geo) forBuild(topo map[string][]Place, server string) *geoBuild {
	if g == nil {
		return nil
	}
	g.mu.Lock()
	for _, d := range g.retired {
		if d != g.tableDB {
			d.reader.Close()
		}
	}
	g.retired = slices.DeleteFunc(g.retired, func(d *geoDB) bool { return d != g.tableDB })
	g.mu.Unlock()

	var regions []string
	for _, places := range topo {
		for _, p := range places {
			if p.Region != "" {
				regions = append(regions, p.Region)
			}
		}
	}
	slices.Sort(regions)
	regions = slices.Compact(regions)
	if len(regions) > 64 {
		g.warnOnce("many", "Geo answers rank at most 64 regions; the federation has %d, the global name answers every region", len(regions))
		return nil
	}
	for _, r := range regions {
		if _, ok := g.cfg.coords(r); !ok {
			g.warnOnce("region "+r, "Region %s has no coordinates (add \"coordinates %s LAT LON\" to the geo section); it is answered by distance only when no placed region can be", r, r)
		}
	}
	key := strings.Join(regions, " ")
	g.refresh(regions, key)
	if g.table == nil || key != g.tableKey {
		return nil
	}
	b := &geoBuild{table: g.table, cfg: g.cfg, members: map[string]uint64{}, choices: map[uint64][]geoChoice{}}
	for member, places := range topo {
		for _, p := range places {
			if i, ok := slices.BinarySearch(regions, p.Region); ok && p.Region != "" {
				b.members[member] |= 1 << i
			}
		}
	}
	b.counters = make([]prometheus.Counter, len(regions)+2)
	for i, r := range regions {
		b.counters[i] = geoAnswers.WithLabelValues(server, r)
	}
	b.counters[len(regions)] = geoAnswers.WithLabelValues(server, geoUnknown)
	b.counters[len(regions)+1] = geoAnswers.WithLabelValues(server, geoFallback)
	return b
}

// refresh builds the table for the current database and the regions (named
// by key) unless it is built already, or failed for both before. A table that
// fails keeps the previous one for the same regions.
func (g *geo) refresh(regions []string, key string) {
	db := g.db.Load()
	if (db == g.tableDB && key == g.tableKey) || (db == g.failedDB && key == g.failedKey) {
		return
	}
	t, err := buildGeoTable(db, g.cfg, regions)
	if err != nil {
		g.failedDB, g.failedKey = db, key
		if g.table != nil && key == g.tableKey {
			log.Errorf("Geo table not rebuilt, keeping the one of the database loaded at %s: %v", g.tableDB.mtime.Format(time.RFC3339), err)
			return
		}
		log.Errorf("Geo table not built, the global name answers every region: %v", err)
		g.table, g.tableKey = nil, ""
		return
	}
	if old := g.tableDB; old != nil && old != db {
		g.mu.Lock()
		if slices.Contains(g.retired, old) { // replaced on disk, and now read by no table
			old.reader.Close()
			g.retired = slices.DeleteFunc(g.retired, func(d *geoDB) bool { return d == old })
		}
		g.mu.Unlock()
	}
	g.table, g.tableDB, g.tableKey = t, db, key
	log.Infof("Geo table built: %d regions, %d client classes, %d IPv4 and %d IPv6 networks", len(regions), len(t.classes), len(t.v4), len(t.v6))
}

func (g *geo) warnOnce(key, format string, args ...any) {
	if !g.warned[key] {
		g.warned[key] = true
		log.Warningf(format, args...)
	}
}

// Label values of geo_answers_total besides region names.
const (
	geoUnknown  = "unknown"  // the client's location is unknown: every region answered
	geoFallback = "fallback" // none of the client's regions has usable shards: every region answered
)

// geoBuild is the geo step of one snapshot build.
type geoBuild struct {
	table    *geoTable
	cfg      *geoConfig
	members  map[string]uint64      // member -> mask of its regions
	choices  map[uint64][]geoChoice // usable-region mask -> choice per class
	counters []prometheus.Counter   // by region index, then unknown, then fallback
}

// geoChoice is what the clients of one class get from one set of usable regions.
type geoChoice struct {
	mask    uint64 // regions answered; 0: none usable, answer every region
	nearest uint8  // the first of them, for metrics
}

// choose returns, for each class, the regions it is answered from when the
// regions of usable are. Services with the same usable regions share it.
func (b *geoBuild) choose(usable uint64) []geoChoice {
	if c, ok := b.choices[usable]; ok {
		return c
	}
	out := make([]geoChoice, len(b.table.classes))
	for i, cl := range b.table.classes {
		first := -1
		n := 0
		for k, r := range cl.order {
			if usable&(1<<r) == 0 {
				continue
			}
			if first < 0 {
				first = k
				out[i].nearest = r
			} else if n >= b.cfg.nearest && k >= int(cl.reach[first]) {
				break
			}
			out[i].mask |= 1 << r
			n++
		}
	}
	b.choices[usable] = out
	return out
}

// picker returns the global answer of a service: by client location among the
// usable shards, with fallback (the level's ordinary answer) for clients that
// cannot be placed. Each address family is chosen on its own, so that an AAAA
// query goes to the nearest region with IPv6 addresses, not to NODATA because
// the nearest region has only IPv4 ones.
func (b *geoBuild) picker(owner string, shards []usableShard, fallback picker, rr recordMaker) picker {
	var usable4, usable6 uint64
	for _, s := range shards {
		m := b.members[s.shard.Member]
		for _, a := range s.addrs {
			if a.Is4() {
				usable4 |= m
			} else {
				usable6 |= m
			}
		}
	}
	if usable4|usable6 == 0 {
		return fallback // no usable shard is in a region geo knows
	}
	p := &geoPicker{table: b.table, fallback: fallback, sets: map[uint64]picker{}, counters: b.counters}
	if usable4 != 0 {
		p.choice4 = b.choose(usable4)
	}
	if usable6 != 0 {
		p.choice6 = b.choose(usable6)
	}
	for _, choice := range [][]geoChoice{p.choice4, p.choice6} {
		for _, c := range choice {
			if _, ok := p.sets[c.mask]; ok || c.mask == 0 {
				continue
			}
			var in []usableShard
			for _, s := range shards {
				if b.members[s.shard.Member]&c.mask != 0 {
					in = append(in, s)
				}
			}
			p.sets[c.mask] = rr(owner, in)
		}
	}
	return p
}

// geoPicker answers the global name of one service by client location.
type geoPicker struct {
	table            *geoTable
	fallback         picker
	choice4, choice6 []geoChoice // by class, for A and AAAA queries; nil: no region has that family
	sets             map[uint64]picker
	counters         []prometheus.Counter
}

// pick chooses by the client's location for an A (or, with v6, AAAA) query
// and sets the client's ECS scope. A client whose place is not known gets the
// fallback.
func (p *geoPicker) pick(loc *location, v6 bool) []dns.RR {
	if loc == nil || loc.source == 0 {
		// RFC 7871 §7.1.2: no address given; the answer for everybody, scope 0.
		return p.fallback.pick(nil, v6)
	}
	class, width := p.table.locate(loc.addr)
	loc.scope = min(width, loc.source)
	if class < 0 {
		p.counters[len(p.counters)-2].Inc()
		return p.fallback.pick(nil, v6)
	}
	choice := p.choice4
	if v6 {
		choice = p.choice6
	}
	if choice == nil || choice[class].mask == 0 {
		p.counters[len(p.counters)-1].Inc()
		return p.fallback.pick(nil, v6)
	}
	c := choice[class]
	p.counters[c.nearest].Inc()
	return p.sets[c.mask].pick(loc, v6)
}

// location is where a query comes from: the ECS option's subnet, else the
// packet's source address.
type location struct {
	addr   netip.Addr
	source uint8             // prefix length known: ECS SOURCE PREFIX-LENGTH, or the full address
	ecs    *dns.EDNS0_SUBNET // the query's option; nil without one
	scope  uint8             // the reply's SCOPE PREFIX-LENGTH; 0 unless a geo answer set it
}

// errFormat marks a query to answer with FORMERR.
type errFormat string

func (e errFormat) Error() string { return string(e) }

// locate reads the client's location from the query. A malformed ECS option is
// an error (RFC 7871 §6: FORMERR).
func locate(w dns.ResponseWriter, r *dns.Msg, loc *location) error {
	if o := r.IsEdns0(); o != nil {
		for _, opt := range o.Option {
			e, ok := opt.(*dns.EDNS0_SUBNET)
			if !ok {
				continue
			}
			if loc.ecs != nil {
				return errFormat("more than one ECS option")
			}
			if err := loc.fromECS(e); err != nil {
				return err
			}
		}
		if loc.ecs != nil {
			return nil
		}
	}
	var ip net.IP
	switch a := w.RemoteAddr().(type) {
	case *net.UDPAddr:
		ip = a.IP
	case *net.TCPAddr:
		ip = a.IP
	}
	if addr, ok := netip.AddrFromSlice(ip); ok {
		loc.addr = addr.Unmap()
		loc.source = uint8(loc.addr.BitLen())
	}
	return nil
}

func (loc *location) fromECS(e *dns.EDNS0_SUBNET) error {
	if e.SourceScope != 0 {
		return errFormat("ECS SCOPE PREFIX-LENGTH is not 0 in a query")
	}
	loc.ecs, loc.source = e, e.SourceNetmask
	var addr netip.Addr
	switch e.Family {
	case 0: // dig +subnet=0 sends family 0 with SOURCE PREFIX-LENGTH 0
		return nil
	case 1:
		a, ok := netip.AddrFromSlice(e.Address.To4())
		if !ok {
			return errFormat("ECS address is not IPv4")
		}
		addr = a
	case 2:
		a, ok := netip.AddrFromSlice(e.Address.To16())
		if !ok {
			return errFormat("ECS address is not IPv6")
		}
		addr = a
	}
	p, err := addr.Prefix(int(e.SourceNetmask))
	if err != nil || p.Addr() != addr {
		return errFormat("ECS address has bits set beyond SOURCE PREFIX-LENGTH")
	}
	loc.addr = addr
	return nil
}

// appendOPT appends to extra the reply's OPT record carrying the query's ECS
// option with the scope of the answer (RFC 7871 §7.2.1).
func (loc *location) appendOPT(extra []dns.RR) []dns.RR {
	// One allocation for the record, its option, the option list and, when
	// there is no other additional record, the section.
	r := &struct {
		opt   dns.OPT
		ecs   dns.EDNS0_SUBNET
		list  [1]dns.EDNS0
		extra [1]dns.RR
	}{opt: dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}, ecs: *loc.ecs}
	r.ecs.SourceScope = loc.scope
	r.opt.SetUDPSize(dns.MinMsgSize)
	r.list[0] = &r.ecs
	r.opt.Option = r.list[:]
	if len(extra) == 0 {
		r.extra[0] = &r.opt
		return r.extra[:]
	}
	return append(extra, &r.opt)
}
