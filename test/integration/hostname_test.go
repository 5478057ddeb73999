package integration

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	"github.com/coredns-fed/coredns-fed/internal/lab"
)

// lbDNS is an authoritative server on loopback for load-balancer hostnames,
// as a cloud's DNS would publish them: the addresses set last (TTL 1), or
// NXDOMAIN.
type lbDNS struct {
	mu    sync.Mutex
	addrs map[string][]string
	addr  string
}

func startLBDNS(t *testing.T) *lbDNS {
	t.Helper()
	s := &lbDNS{addrs: map[string][]string{}}
	pc, err := net.ListenPacket("udp", net.JoinHostPort(lab.Loopback, "0"))
	if err != nil {
		t.Fatal(err)
	}
	s.addr = pc.LocalAddr().String()
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		m.Authoritative = true
		q := r.Question[0]
		s.mu.Lock()
		addrs, ok := s.addrs[strings.ToLower(q.Name)]
		s.mu.Unlock()
		if !ok {
			m.Rcode = dns.RcodeNameError
		}
		for _, a := range addrs {
			ip := netip.MustParseAddr(a)
			hdr := dns.RR_Header{Name: q.Name, Class: dns.ClassINET, Ttl: 1}
			switch {
			case ip.Is4() && q.Qtype == dns.TypeA:
				hdr.Rrtype = dns.TypeA
				m.Answer = append(m.Answer, &dns.A{Hdr: hdr, A: ip.AsSlice()})
			case ip.Is6() && q.Qtype == dns.TypeAAAA:
				hdr.Rrtype = dns.TypeAAAA
				m.Answer = append(m.Answer, &dns.AAAA{Hdr: hdr, AAAA: ip.AsSlice()})
			}
		}
		w.WriteMsg(m)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go srv.ActivateAndServe()
	<-started
	t.Cleanup(func() { srv.Shutdown() })
	return s
}

func (s *lbDNS) set(name string, addrs ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if addrs == nil {
		delete(s.addrs, dns.Fqdn(name))
		return
	}
	s.addrs[dns.Fqdn(name)] = addrs
}

// publishHostname replaces the Service's load-balancer ingress with a
// hostname, as an AWS load balancer controller does.
func publishHostname(ctx context.Context, c *lab.Cluster, ns, name, hostname string) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := c.Client.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		cur.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{Hostname: hostname}}
		_, err = c.Client.CoreV1().Services(ns).UpdateStatus(ctx, cur, metav1.UpdateOptions{})
		return err
	})
}

// TestHostnameIngress: a Service whose load balancer in one member publishes
// a hostname (served by a DNS server of the test on loopback) and an IP in
// another. A coredns-fed resolving through that server answers the resolved
// addresses beside the IP at the global name and alone at the member's
// region and zone (checked with dig); a change of the record is followed; an
// NXDOMAIN makes the shard unusable and its levels fall back with a CNAME,
// never SERVFAIL.
func TestHostnameIngress(t *testing.T) {
	healthy(t)
	lb := startLBDNS(t)
	clusters := fed.Clusters()
	aws, gce := clusters[0], clusters[1]
	const svc = "elb"
	elb := "k8s-elb-0a1b2c.elb.us-east-1.amazonaws.example"
	lb.set(elb, "127.88.0.1", "::1")

	for _, c := range []*lab.Cluster{aws, gce} {
		do(t, "adding "+svc+" to "+c.Name, func(ctx context.Context) error { return c.AddService(ctx, lab.SeedNamespace, svc, lab.SeedFederation) })
		t.Cleanup(func() {
			do(t, "removing "+svc+" from "+c.Name, func(ctx context.Context) error { return c.RemoveService(ctx, lab.SeedNamespace, svc) })
		})
	}
	do(t, "publishing the hostname", func(ctx context.Context) error { return publishHostname(ctx, aws, lab.SeedNamespace, svc, elb) })

	ctx, cancel := context.WithTimeout(t.Context(), 3*convergeTimeout)
	defer cancel()
	d, err := fed.StartVariant(ctx, "hostname", lab.Variant{FederationOptions: []string{
		lab.SeedIngressAllow, "ingress allow ::1/128",
		"resolvers " + lb.addr + " {\n            refresh 200ms 2s\n            timeout 1s\n        }",
	}})
	if err != nil {
		t.Fatalf("starting coredns-fed with resolvers %s: %v", lb.addr, err)
	}
	t.Cleanup(d.Stop)

	name := func(level string) string {
		return fmt.Sprintf("%s.%s.%s.svc.%s%s.", svc, lab.SeedNamespace, lab.SeedFederation, level, lab.SeedDomain)
	}
	global, region, zone := name(""), name(aws.Region+"."), name(aws.Zones[0]+".")
	eventuallyAt(t, d, convergeTimeout, global, dns.TypeA, positive(a(global, "127.88.0.1"), a(global, gce.Addr)))
	expectAt(t, d, region, dns.TypeA, positive(a(region, "127.88.0.1")))
	expectAt(t, d, zone, dns.TypeA, positive(a(zone, "127.88.0.1")))
	expectAt(t, d, region, dns.TypeAAAA, positive(region+" AAAA ::1"))
	expectAt(t, d, global, dns.TypeAAAA, positive(global+" AAAA ::1"))
	// The real dig sees the flattened addresses, no CNAME to the load balancer.
	if out := digAt(t, d.Addr, region, "A", "+noall", "+answer"); !strings.Contains(out, "127.88.0.1") || strings.Contains(out, "CNAME") {
		t.Errorf("dig %s A:\n%s", region, out)
	}

	// The record changes: the answers follow, the member unchanged.
	lb.set(elb, "127.88.0.2")
	eventuallyAt(t, d, convergeTimeout, region, dns.TypeA, positive(a(region, "127.88.0.2")))
	expectAt(t, d, global, dns.TypeA, positive(a(global, "127.88.0.2"), a(global, gce.Addr)))

	// NXDOMAIN: the shard is unusable; region and zone fall back, no SERVFAIL.
	lb.set(elb)
	eventuallyAt(t, d, convergeTimeout, region, dns.TypeA, positive(cname(region, global), a(global, gce.Addr)))
	expectAt(t, d, zone, dns.TypeA, positive(cname(zone, region), cname(region, global), a(global, gce.Addr)))
	if out := digAt(t, d.Addr, region, "A", "+noall", "+comments"); !strings.Contains(out, "status: NOERROR") {
		t.Errorf("dig %s A after NXDOMAIN of the load balancer:\n%s", region, out)
	}
	eventuallyMetric(t, d, convergeTimeout, "coredns_federation_hostnames", nil, 1)
	if v, ok, err := metricValue(d, "coredns_federation_hostname_lookups_total", map[string]string{"result": "nxdomain"}); err != nil || !ok || v < 1 {
		t.Errorf("coredns_federation_hostname_lookups_total{result=nxdomain} = %v (%v, %v), want at least 1", v, ok, err)
	}
}

// publishIngress replaces the Service's load-balancer ingress with IPs.
func publishIngress(ctx context.Context, c *lab.Cluster, ns, name string, ips ...string) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := c.Client.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		cur.Status.LoadBalancer.Ingress = nil
		for _, ip := range ips {
			cur.Status.LoadBalancer.Ingress = append(cur.Status.LoadBalancer.Ingress, corev1.LoadBalancerIngress{IP: ip})
		}
		_, err = c.Client.CoreV1().Services(ns).UpdateStatus(ctx, cur, metav1.UpdateOptions{})
		return err
	})
}
