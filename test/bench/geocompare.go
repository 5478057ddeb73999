package bench

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// GeoAnswer is what one server answered one client subnet: the region whose
// addresses it gave and the ECS scope of the reply.
type GeoAnswer struct {
	Region string // "" for no address; regions joined by "+" when several
	Scope  int    // SCOPE PREFIX-LENGTH, -1 when the reply had no ECS option
	Rcode  string
}

// RegionOfAnswer maps the address records of an answer back to regions by
// address: one region, several joined by "+" in name order, or "" for none.
// An address of no known region counts as "?".
func RegionOfAnswer(answer []dns.RR, regionOf map[string]string) string {
	var regions []string
	for _, rr := range answer {
		var addr string
		switch a := rr.(type) {
		case *dns.A:
			addr = a.A.String()
		case *dns.AAAA:
			addr = a.AAAA.String()
		default:
			continue
		}
		r, ok := regionOf[addr]
		if !ok {
			r = "?"
		}
		regions = append(regions, r)
	}
	slices.Sort(regions)
	return strings.Join(slices.Compact(regions), "+")
}

// ecsQuery is a question for the A records of name from a client subnet.
func ecsQuery(name string, subnet netip.Prefix) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	m.SetEdns0(1232, false)
	family := uint16(1)
	if subnet.Addr().Is6() {
		family = 2
	}
	o := m.IsEdns0()
	o.Option = append(o.Option, &dns.EDNS0_SUBNET{
		Code: dns.EDNS0SUBNET, Family: family, SourceNetmask: uint8(subnet.Bits()),
		Address: subnet.Addr().AsSlice(),
	})
	return m
}

// ECSOptionHex is the ECS option of a query from subnet in dnsperf's -E
// form, CODE:HEX (RFC 7871 §6: family, source and scope prefix lengths, and
// the address truncated to the source prefix).
func ECSOptionHex(subnet netip.Prefix) string {
	family := 1
	if subnet.Addr().Is6() {
		family = 2
	}
	addr := subnet.Masked().Addr().AsSlice()[:(subnet.Bits()+7)/8]
	return fmt.Sprintf("%d:%04x%02x00%x", dns.EDNS0SUBNET, family, subnet.Bits(), addr)
}

// askGeo asks addr for name from subnet.
func askGeo(c *dns.Client, addr, name string, subnet netip.Prefix, regionOf map[string]string) (GeoAnswer, error) {
	r, _, err := c.Exchange(ecsQuery(name, subnet), addr)
	if err != nil {
		return GeoAnswer{}, err
	}
	a := GeoAnswer{Region: RegionOfAnswer(r.Answer, regionOf), Scope: -1, Rcode: dns.RcodeToString[r.Rcode]}
	if o := r.IsEdns0(); o != nil {
		for _, opt := range o.Option {
			if e, ok := opt.(*dns.EDNS0_SUBNET); ok {
				a.Scope = int(e.SourceScope)
			}
		}
	}
	return a, nil
}

// GeoComparison is the region choice and ECS scopes of several servers for
// the same client subnets. The first server is the one judged (coredns-fed
// with geo), the second the one its scopes are held against (gdnsd).
type GeoComparison struct {
	Servers   []string       `json:"servers"`
	Subnets   int            `json:"subnets"`
	Identical int            `json:"identical"`            // every server chose the same region
	SameAs    map[string]int `json:"same_region_as_first"` // per other server
	// Scopes of the first server against the second's, per subnet; wider
	// is a shorter SCOPE PREFIX-LENGTH.
	ScopeWider    int                    `json:"scope_wider"`
	ScopeEqual    int                    `json:"scope_equal"`
	ScopeNarrower int                    `json:"scope_narrower"`
	Scopes        map[string]map[int]int `json:"scopes"`  // server -> scope -> subnets
	Regions       map[string]int         `json:"regions"` // the first server's choice -> subnets
	Mismatches    []string               `json:"mismatches,omitempty"`
	Narrower      []string               `json:"narrower,omitempty"`
	NarrowerWhy   map[string]int         `json:"narrower_why,omitempty"` // reason -> subnets

	// Why explains a narrower scope: what lies in the other server's wider
	// prefix around subnet that makes the first server's answer differ.
	Why func(subnet netip.Prefix, theirScope int, region string) string `json:"-"`
}

// NewGeoComparison starts a comparison of servers, the judged one first.
func NewGeoComparison(servers []string) *GeoComparison {
	c := &GeoComparison{Servers: servers, SameAs: map[string]int{}, Scopes: map[string]map[int]int{}, Regions: map[string]int{}, NarrowerWhy: map[string]int{}}
	for _, s := range servers {
		c.Scopes[s] = map[int]int{}
	}
	return c
}

// maxExamples is how many mismatches and narrower scopes are described.
const maxExamples = 10

// Add counts the answers of every server (in Servers' order) to one subnet.
func (c *GeoComparison) Add(subnet netip.Prefix, answers []GeoAnswer) {
	c.Subnets++
	first := answers[0]
	c.Regions[first.Region]++
	same := true
	for k, a := range answers {
		c.Scopes[c.Servers[k]][a.Scope]++
		if k == 0 {
			continue
		}
		if a.Region == first.Region {
			c.SameAs[c.Servers[k]]++
		} else {
			same = false
		}
	}
	if same {
		c.Identical++
	} else if len(c.Mismatches) < maxExamples {
		c.Mismatches = append(c.Mismatches, fmt.Sprintf("%s: %s", subnet, c.describe(answers)))
	}
	if len(answers) < 2 {
		return
	}
	// A missing option (-1) is no scope at all: narrower than any.
	switch ours, theirs := scopeWidth(first.Scope), scopeWidth(answers[1].Scope); {
	case ours < theirs:
		c.ScopeWider++
	case ours == theirs:
		c.ScopeEqual++
	default:
		c.ScopeNarrower++
		why := "unexplained"
		if c.Why != nil && answers[1].Scope >= 0 {
			if w := c.Why(subnet, answers[1].Scope, first.Region); w != "" {
				why = w
			}
		}
		c.NarrowerWhy[why]++
		if len(c.Narrower) < maxExamples {
			c.Narrower = append(c.Narrower, fmt.Sprintf("%s: %s (%s)", subnet, c.describe(answers), why))
		}
	}
}

// scopeWidth orders scopes from widest (0) to narrowest; no option is
// narrower than any prefix.
func scopeWidth(scope int) int {
	if scope < 0 {
		return 1 << 10
	}
	return scope
}

func (c *GeoComparison) describe(answers []GeoAnswer) string {
	parts := make([]string, len(answers))
	for k, a := range answers {
		region := a.Region
		if region == "" {
			region = a.Rcode + " without addresses"
		}
		parts[k] = fmt.Sprintf("%s %s /%d", c.Servers[k], region, a.Scope)
	}
	return strings.Join(parts, ", ")
}

// CompareGeo asks every server for names[k % len(names)] from subnet k and
// compares the regions chosen and the scopes.
func CompareGeo(servers []*Server, names []string, subnets []netip.Prefix, regionOf map[string]string, why func(netip.Prefix, int, string) string) (*GeoComparison, error) {
	var labels []string
	for _, s := range servers {
		labels = append(labels, s.Name)
	}
	cmp := NewGeoComparison(labels)
	cmp.Why = why
	c := &dns.Client{Timeout: 2 * time.Second}
	answers := make([]GeoAnswer, len(servers))
	for k, subnet := range subnets {
		name := names[k%len(names)]
		for i, s := range servers {
			a, err := askGeo(c, s.Addr, name, subnet, regionOf)
			if err != nil {
				return nil, fmt.Errorf("%s: %s from %s: %w", s.Name, name, subnet, err)
			}
			answers[i] = a
		}
		cmp.Add(subnet, answers)
	}
	return cmp, nil
}

// Reasons a scope is narrower than another server's: the wider prefix holds
// clients the first server answers differently.
const (
	WhyUnplaced    = "the wider prefix holds addresses the database does not place: every region from coredns-fed, gdnsd's first datacenter"
	WhyOtherRegion = "the wider prefix holds networks nearest to another region"
)

// WhyNarrower explains a narrower scope from the database: whether the
// prefix of length theirScope around subnet holds networks nearest to
// another region than region, or addresses no network places.
func (g GeoSetup) WhyNarrower(subnet netip.Prefix, theirScope int, region string) string {
	wide, err := subnet.Addr().Prefix(theirScope)
	if err != nil {
		return ""
	}
	var covered uint64
	other := false
	for _, n := range g.Networks {
		p := netip.MustParsePrefix(n.Prefix)
		if !wide.Overlaps(p) {
			continue
		}
		if nearestRegion(g.Regions, n.Lat, n.Lon) != region {
			other = true
		}
		if p.Bits() <= wide.Bits() { // one network holds the whole prefix
			if other {
				return WhyOtherRegion
			}
			return ""
		}
		covered += 1 << (32 - p.Bits())
	}
	switch {
	case other:
		return WhyOtherRegion
	case wide.Addr().Is4() && covered < 1<<(32-wide.Bits()):
		return WhyUnplaced
	}
	return ""
}
