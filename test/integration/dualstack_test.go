package integration

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/coredns-fed/coredns-fed/internal/lab"
)

// startPlainUnbound runs a non-validating unbound on loopback whose only
// upstream is addr, for the zone and for the root, so nothing leaves the host.
func startPlainUnbound(t *testing.T, addr string) string {
	t.Helper()
	bin := requireCommand(t, "unbound", "unbound")
	dir := t.TempDir()
	port, err := lab.FreeDNSPort()
	if err != nil {
		t.Fatal(err)
	}
	host, dnsPort, _ := net.SplitHostPort(addr)
	conf := filepath.Join(dir, "unbound.conf")
	cfg := fmt.Sprintf(`server:
    interface: %[1]s
    port: %[2]d
    outgoing-interface: %[1]s
    do-ip6: no
    do-daemonize: no
    use-syslog: no
    logfile: ""
    chroot: ""
    username: ""
    directory: %[3]q
    pidfile: ""
    do-not-query-localhost: no
    module-config: "iterator"
    qname-minimisation: no
    verbosity: 1
stub-zone:
    name: "."
    stub-addr: %[4]s@%[5]s
stub-zone:
    name: %[6]q
    stub-addr: %[4]s@%[5]s
`, lab.Loopback, port, dir, host, dnsPort, lab.SeedDomain+".")
	if err := os.WriteFile(conf, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	proc, err := lab.StartProcess("unbound-plain", filepath.Join(dir, "unbound.log"), bin, "-d", "-c", conf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proc.Stop)
	resolver := lab.HostPort(lab.Loopback, port)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := lab.Poll(ctx, 50*time.Millisecond, proc, func() error {
		m := new(dns.Msg)
		m.SetQuestion(lab.SeedDomain+".", dns.TypeSOA)
		r, err := dns.Exchange(m, resolver)
		if err == nil && r.Rcode != dns.RcodeSuccess {
			err = fmt.Errorf("rcode %s", dns.RcodeToString[r.Rcode])
		}
		return err
	}); err != nil {
		t.Fatalf("unbound at %s: %v\n%s", resolver, err, lab.Tail(proc.Log(), 20))
	}
	return resolver
}

// lastAAAA asks resolver (recursion desired) for name's AAAA records and
// returns the addresses at the end of the answer, and the rcode.
func lastAAAA(resolver, name string) ([]string, int, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeAAAA)
	r, err := dns.Exchange(m, resolver)
	if err != nil {
		return nil, 0, err
	}
	var out []string
	for _, rr := range r.Answer {
		if v, ok := rr.(*dns.AAAA); ok {
			out = append(out, v.AAAA.String())
		}
	}
	return out, r.Rcode, nil
}

// TestDualStack: a Service whose load balancer in one member has an IPv6
// address (::1, probed over IPv6 by shardhealth at [::1]:80, served by the
// test) beside its IPv4 one answers AAAA at every level: its own at the
// member's region and zone and at the global name, the upper level's under
// their own names elsewhere (no CNAME beside A records). The same answers come
// through unbound and through a CoreDNS forward. When the IPv6 backend stops,
// its probe fails and AAAA becomes NODATA everywhere.
func TestDualStack(t *testing.T) {
	healthy(t)
	ln, err := net.Listen("tcp6", net.JoinHostPort("::1", fmt.Sprint(lab.BackendPort)))
	if err != nil {
		t.Fatalf("IPv6 backend on [::1]:%d: %v", lab.BackendPort, err)
	}
	backend := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {})}
	go backend.Serve(ln)
	t.Cleanup(func() { backend.Close() })

	clusters := fed.Clusters()
	v6 := clusters[0]
	const svc = "dual"
	for _, c := range clusters {
		do(t, "adding "+svc+" to "+c.Name, func(ctx context.Context) error { return c.AddService(ctx, lab.SeedNamespace, svc, lab.SeedFederation) })
		t.Cleanup(func() {
			do(t, "removing "+svc+" from "+c.Name, func(ctx context.Context) error { return c.RemoveService(ctx, lab.SeedNamespace, svc) })
		})
	}
	do(t, "adding ::1 to "+v6.Name, func(ctx context.Context) error {
		return publishIngress(ctx, v6, lab.SeedNamespace, svc, v6.Addr, "::1")
	})

	ctx, cancel := context.WithTimeout(t.Context(), 3*convergeTimeout)
	defer cancel()
	d, err := fed.StartVariant(ctx, "dualstack", lab.Variant{
		ShardHealth:       lab.SeedShardHealth(),
		FederationOptions: []string{lab.SeedIngressAllow, "ingress allow ::1/128"},
	})
	if err != nil {
		t.Fatalf("starting coredns-fed: %v", err)
	}
	t.Cleanup(d.Stop)
	eventuallyMetric(t, d, convergeTimeout, "coredns_shardhealth_address_up",
		map[string]string{"target": fmt.Sprintf("http://[::1]:%d/", lab.BackendPort)}, 1)

	name := func(level string) string {
		return fmt.Sprintf("%s.%s.%s.svc.%s%s.", svc, lab.SeedNamespace, lab.SeedFederation, level, lab.SeedDomain)
	}
	levels := []string{name(""), name(v6.Zones[0] + ".")}
	for _, c := range clusters {
		levels = append(levels, name(c.Region+"."))
	}
	eventuallyAt(t, d, convergeTimeout, name(""), dns.TypeAAAA, positive(name("")+" AAAA ::1"))
	for _, n := range levels {
		expectAt(t, d, n, dns.TypeAAAA, positive(n+" AAAA ::1"))
	}
	// The other regions' own IPv4 answers stay theirs, with no CNAME.
	other := clusters[1]
	expectAt(t, d, name(other.Region+"."), dns.TypeA, positive(a(name(other.Region+"."), other.Addr)))

	forward, err := fed.StartServer(ctx, "dualstack-forward", func(p lab.Ports) string {
		return fmt.Sprintf(`%s:%d {
    bind 127.0.0.1
    forward . %s
    ready 127.0.0.1:%d
    health 127.0.0.1:%d
    prometheus 127.0.0.1:%d
    errors
}
`, lab.SeedDomain, p.DNS, d.Addr, p.Ready, p.Health, p.Metrics)
	})
	if err != nil {
		t.Fatalf("starting the forwarding CoreDNS: %v", err)
	}
	t.Cleanup(forward.Stop)
	resolvers := map[string]string{"unbound": startPlainUnbound(t, d.Addr), "forward": forward.Addr}
	for via, addr := range resolvers {
		for _, n := range levels {
			got, rcode, err := lastAAAA(addr, n)
			if err != nil || rcode != dns.RcodeSuccess || len(got) != 1 || got[0] != "::1" {
				t.Errorf("AAAA %s through %s: %v rcode %s (%v), want ::1", n, via, got, dns.RcodeToString[rcode], err)
			}
		}
	}

	// The IPv6 backend stops: its probe fails, no level answers IPv6.
	backend.Close()
	eventuallyAt(t, d, 3*convergeTimeout, name(""), dns.TypeAAAA, nodata())
	for _, n := range levels {
		expectAt(t, d, n, dns.TypeAAAA, nodata())
	}
}
