package integration

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/coredns-fed/coredns-fed/internal/lab"
)

// convergeTimeout bounds how long a change in a member may take to show in
// the answers. Watches deliver in well under a second; a member whose
// kube-apiserver restarted is retried with client-go's backoff.
const convergeTimeout = 30 * time.Second

// Names of the seed service at each level.
func globalName() string {
	return fmt.Sprintf("%s.%s.%s.svc.%s.", lab.SeedService, lab.SeedNamespace, lab.SeedFederation, lab.SeedDomain)
}

func regionName(region string) string {
	return fmt.Sprintf("%s.%s.%s.svc.%s.%s.", lab.SeedService, lab.SeedNamespace, lab.SeedFederation, region, lab.SeedDomain)
}

// zoneName is the seed form S.N.F.svc.ZONE.DOMAIN.
func zoneName(zone string) string {
	return fmt.Sprintf("%s.%s.%s.svc.%s.%s.", lab.SeedService, lab.SeedNamespace, lab.SeedFederation, zone, lab.SeedDomain)
}

// zoneRegionName is the Federation v1 form S.N.F.svc.ZONE.REGION.DOMAIN.
func zoneRegionName(zone, region string) string {
	return fmt.Sprintf("%s.%s.%s.svc.%s.%s.%s.", lab.SeedService, lab.SeedNamespace, lab.SeedFederation, zone, region, lab.SeedDomain)
}

// reply is an expected answer. Answer records are written "NAME TYPE DATA"
// without TTL and class; their order does not matter, except that a CNAME
// chain must come in chain order.
type reply struct {
	rcode  int
	answer []string
	// soa, when set, requires the SOA of this zone in the authority
	// section (negative answers, RFC 2308).
	soa string
}

func positive(answer ...string) reply { return reply{rcode: dns.RcodeSuccess, answer: answer} }

func nodata() reply { return reply{rcode: dns.RcodeSuccess, soa: lab.SeedDomain + "."} }

func nxdomain() reply { return nxdomainIn(lab.SeedDomain + ".") }

// nxdomainIn is NXDOMAIN with the SOA of zone.
func nxdomainIn(zone string) reply { return reply{rcode: dns.RcodeNameError, soa: zone} }

func a(name, ip string) string { return name + " A " + ip }

func cname(name, target string) string { return name + " CNAME " + target }

// as returns the A records of name for the given members' load balancers.
func as(name string, clusters ...*lab.Cluster) []string {
	var rrs []string
	for _, c := range clusters {
		rrs = append(rrs, a(name, c.Addr))
	}
	return rrs
}

// cluster returns the lab's member by name, failing the test if unknown.
func cluster(t testing.TB, name string) *lab.Cluster {
	t.Helper()
	c, err := fed.Cluster(name)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// except returns every member but the named ones.
func except(names ...string) []*lab.Cluster {
	var cs []*lab.Cluster
	for _, c := range fed.Clusters() {
		if !slices.Contains(names, c.Name) {
			cs = append(cs, c)
		}
	}
	return cs
}

// exchange asks the lab's coredns-fed one question.
func exchange(name string, qtype uint16) (*dns.Msg, error) {
	return exchangeAt(dnsAddr, name, qtype)
}

// exchangeAt asks the server at addr one question over UDP, retrying over
// TCP when the reply is truncated.
func exchangeAt(addr, name string, qtype uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	c := &dns.Client{Net: "udp", Timeout: 2 * time.Second}
	r, _, err := c.Exchange(m, addr)
	if err == nil && r.Truncated {
		c.Net = "tcp"
		r, _, err = c.Exchange(m, addr)
	}
	return r, err
}

// rrText renders a record as "NAME TYPE DATA".
func rrText(rr dns.RR) string {
	h := rr.Header()
	switch v := rr.(type) {
	case *dns.A:
		return a(h.Name, v.A.String())
	case *dns.AAAA:
		return h.Name + " AAAA " + v.AAAA.String()
	case *dns.CNAME:
		return cname(h.Name, v.Target)
	}
	s := strings.TrimPrefix(rr.String(), h.String())
	return h.Name + " " + dns.TypeToString[h.Rrtype] + " " + s
}

// match reports how r differs from want, or nil.
func match(r *dns.Msg, want reply) error {
	var got []string
	for _, rr := range r.Answer {
		got = append(got, rrText(rr))
	}
	var errs []error
	if r.Rcode != want.rcode {
		errs = append(errs, fmt.Errorf("rcode %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[want.rcode]))
	}
	if !sameSet(got, want.answer) {
		errs = append(errs, fmt.Errorf("answer %q, want %q", got, want.answer))
	} else if err := chainOrder(r); err != nil {
		errs = append(errs, err)
	}
	if want.soa != "" {
		ok := false
		for _, rr := range r.Ns {
			if soa, isSOA := rr.(*dns.SOA); isSOA && strings.EqualFold(soa.Hdr.Name, want.soa) {
				ok = true
			}
		}
		if !ok {
			errs = append(errs, fmt.Errorf("no SOA of %s in authority %v", want.soa, r.Ns))
		}
	}
	return errors.Join(errs...)
}

// chainOrder checks that the answer starts at the question and that each
// CNAME's target owns the records that follow it.
func chainOrder(r *dns.Msg) error {
	owner := r.Question[0].Name
	for _, rr := range r.Answer {
		if !strings.EqualFold(rr.Header().Name, owner) {
			return fmt.Errorf("answer out of chain order: %s where %s was expected", rr.Header().Name, owner)
		}
		if c, ok := rr.(*dns.CNAME); ok {
			owner = c.Target
		}
	}
	return nil
}

func sameSet(got, want []string) bool {
	g := slices.Clone(got)
	w := slices.Clone(want)
	for i := range g {
		g[i] = strings.ToLower(g[i])
	}
	for i := range w {
		w[i] = strings.ToLower(w[i])
	}
	slices.Sort(g)
	slices.Sort(w)
	return slices.Equal(g, w)
}

// expect asks the lab's coredns-fed once and fails the test unless the
// reply matches.
func expect(t testing.TB, name string, qtype uint16, want reply) {
	t.Helper()
	expectAt(t, fed.DNS(), name, qtype, want)
}

// expectAt is expect against the server d.
func expectAt(t testing.TB, d *lab.CoreDNS, name string, qtype uint16, want reply) {
	t.Helper()
	r, err := exchangeAt(d.Addr, name, qtype)
	if err != nil {
		aliveAt(t, d)
		t.Fatalf("%s %s at %s: %v", name, dns.TypeToString[qtype], serverLabel(d), err)
	}
	if err := match(r, want); err != nil {
		t.Fatalf("%s %s at %s: %v\nfull reply:\n%s", name, dns.TypeToString[qtype], serverLabel(d), err, r)
	}
}

// eventually asks until the reply matches or convergeTimeout passes.
func eventually(t testing.TB, name string, qtype uint16, want reply) {
	t.Helper()
	eventuallyWithin(t, convergeTimeout, name, qtype, want)
}

func eventuallyWithin(t testing.TB, timeout time.Duration, name string, qtype uint16, want reply) {
	t.Helper()
	eventuallyAt(t, fed.DNS(), timeout, name, qtype, want)
}

// eventuallyAt asks the server d until the reply matches or timeout passes,
// and returns the reply.
func eventuallyAt(t testing.TB, d *lab.CoreDNS, timeout time.Duration, name string, qtype uint16, want reply) *dns.Msg {
	t.Helper()
	var r *dns.Msg
	waitFor(t, d, timeout, name+" "+dns.TypeToString[qtype], func() error {
		var err error
		if r, err = exchangeAt(d.Addr, name, qtype); err != nil {
			return err
		}
		if err := match(r, want); err != nil {
			return fmt.Errorf("%w\nlast reply:\n%s", err, r)
		}
		return nil
	})
	return r
}

// pollInterval is how often waitFor checks again.
const pollInterval = 100 * time.Millisecond

// waitFor calls check every pollInterval until it returns nil, and fails the
// test when timeout passes first, or as soon as the server d stops: it will
// answer nothing more. what names the wait in the failure. Every test waits
// through it; none sleeps for a fixed time.
func waitFor(t testing.TB, d *lab.CoreDNS, timeout time.Duration, what string, check func() error) {
	t.Helper()
	// Not t.Context(): it ends before the cleanups run, and they wait too.
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := lab.Poll(ctx, pollInterval, d, check); err != nil {
		t.Fatalf("%s at %s, within %s: %v", what, serverLabel(d), timeout, err)
	}
}

// serverLabel names a lab server in failure messages.
func serverLabel(d *lab.CoreDNS) string {
	if d.Name == "" {
		return "coredns-fed " + d.Addr
	}
	return "coredns-fed " + d.Name + " " + d.Addr
}

// soaSerial returns the serial of the zone's SOA.
func soaSerial(t testing.TB) uint32 {
	t.Helper()
	r, err := exchange(lab.SeedDomain+".", dns.TypeSOA)
	if err != nil {
		t.Fatalf("SOA %s: %v", lab.SeedDomain, err)
	}
	for _, rr := range r.Answer {
		if soa, ok := rr.(*dns.SOA); ok {
			return soa.Serial
		}
	}
	t.Fatalf("SOA %s: no SOA in the answer:\n%s", lab.SeedDomain, r)
	return 0
}

// aliveAt fails the test at once when d is no longer running: no answer will
// come.
func aliveAt(t testing.TB, d *lab.CoreDNS) {
	t.Helper()
	select {
	case <-d.Exited():
		t.Fatalf("%s is not running: %v", serverLabel(d), d.ExitErr())
	default:
	}
}

// healthy waits until every level answers the seed's all-healthy state, so
// each test starts from it whatever ran before.
func healthy(t testing.TB) {
	t.Helper()
	healthyAt(t, fed.DNS())
}

// healthyAt waits until the server d answers the all-healthy state.
func healthyAt(t testing.TB, d *lab.CoreDNS) {
	t.Helper()
	eventuallyAt(t, d, convergeTimeout, globalName(), dns.TypeA, positive(as(globalName(), fed.Clusters()...)...))
	for _, c := range fed.Clusters() {
		eventuallyAt(t, d, convergeTimeout, regionName(c.Region), dns.TypeA, positive(as(regionName(c.Region), c)...))
		for _, z := range c.Zones {
			eventuallyAt(t, d, convergeTimeout, zoneName(z), dns.TypeA, positive(as(zoneName(z), c)...))
		}
	}
}

// TestNegativeAnswers checks the lab's negative answers as a caching resolver
// reads them: the names above each in-zone name server exist (NODATA, not an
// NXDOMAIN that would cut the name server off, RFC 8020), and the SOA of
// NXDOMAIN and NODATA carries min(TTL, MINIMUM) (RFC 2308 §3).
func TestNegativeAnswers(t *testing.T) {
	apex := lab.SeedDomain + "."
	r, err := exchange(apex, dns.TypeSOA)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Answer) != 1 {
		t.Fatalf("SOA %s: %s", apex, r)
	}
	soa := r.Answer[0].(*dns.SOA)
	negTTL := min(soa.Hdr.Ttl, soa.Minttl)

	r, err = exchange(apex, dns.TypeNS)
	if err != nil {
		t.Fatal(err)
	}
	var above []string
	for _, rr := range r.Answer {
		ns := strings.ToLower(rr.(*dns.NS).Ns)
		if !dns.IsSubDomain(apex, ns) || ns == apex {
			continue
		}
		labels := dns.SplitDomainName(strings.TrimSuffix(ns, "."+apex))
		for i := 1; i < len(labels); i++ {
			above = append(above, strings.Join(labels[i:], ".")+"."+apex)
		}
	}
	for _, name := range above {
		expect(t, name, dns.TypeA, nodata())
	}

	for _, tc := range []struct {
		name  string
		qtype uint16
	}{
		{"no-such-name." + apex, dns.TypeA},
		{globalName(), dns.TypeTXT},
		{"svc." + apex, dns.TypeA},
	} {
		r, err := exchange(tc.name, tc.qtype)
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Ns) != 1 || r.Ns[0].Header().Rrtype != dns.TypeSOA || r.Ns[0].Header().Ttl != negTTL {
			t.Errorf("%s %s: want the SOA with TTL %d in the authority\n%s", tc.name, dns.TypeToString[tc.qtype], negTTL, r)
		}
	}
	t.Logf("SOA TTL %d MINIMUM %d; names above in-zone name servers: %v", soa.Hdr.Ttl, soa.Minttl, above)
}
