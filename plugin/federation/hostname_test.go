package federation

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coredns-fed/coredns-fed/internal/fixture"
	"github.com/coredns/caddy"
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"
	"k8s.io/apimachinery/pkg/runtime"
)

// lbServer is an authoritative DNS server on loopback for load-balancer
// hostnames: each name answers the addresses set last, or NXDOMAIN.
type lbServer struct {
	mu    sync.Mutex
	addrs map[string][]string // fqdn -> addresses; absent: NXDOMAIN
	addr  string
}

func newLBServer(t *testing.T) *lbServer {
	t.Helper()
	s := &lbServer{addrs: map[string][]string{}}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = pc.LocalAddr().String()
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(s.serve)}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go srv.ActivateAndServe()
	<-started
	t.Cleanup(func() { srv.Shutdown() })
	return s
}

func (s *lbServer) set(name string, addrs ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if addrs == nil {
		delete(s.addrs, dns.Fqdn(name))
		return
	}
	s.addrs[dns.Fqdn(name)] = addrs
}

func (s *lbServer) serve(w dns.ResponseWriter, r *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(r)
	q := r.Question[0]
	s.mu.Lock()
	addrs, ok := s.addrs[strings.ToLower(q.Name)]
	s.mu.Unlock()
	if !ok {
		m.Rcode = dns.RcodeNameError
	}
	for _, a := range addrs {
		ip := netip.MustParseAddr(a)
		switch {
		case ip.Is4() && q.Qtype == dns.TypeA:
			m.Answer = append(m.Answer, test.A(fmt.Sprintf("%s 1 IN A %s", q.Name, a)))
		case ip.Is6() && q.Qtype == dns.TypeAAAA:
			m.Answer = append(m.Answer, test.AAAA(fmt.Sprintf("%s 1 IN AAAA %s", q.Name, a)))
		}
	}
	w.WriteMsg(m)
}

// A Service whose load balancer publishes a hostname (AWS) answers the
// hostname's addresses beside the IP shards of the same level, follows a
// change of them, and falls back when the name stops resolving.
func TestHostnameIngress(t *testing.T) {
	lb := newLBServer(t)
	elb := "a1b2c3.us-east-1.elb.example.net"
	lb.set(elb, "192.0.2.20", "2001:db8::20")
	server := fmt.Sprintf("dns://hostname-ingress-%d.test:53", time.Now().UnixNano())
	cs := seed()[:2]
	cs[1].objs = []runtime.Object{
		fixture.Service("mynamespace", "nginx", "myfederation", elb),
		slice("mynamespace", "nginx", fixture.Ready),
	}
	f, _ := newTestFederation(t, cs, func(f *Federation) {
		f.server = server
		f.Resolvers = &ResolverConfig{Servers: []string{lb.addr}, RefreshMin: 10 * time.Millisecond, RefreshMax: time.Second, Timeout: time.Second}
	})
	global, region := nginx(""), nginx("europe-west1.")
	eventually(t, f, []test.Case{
		{Qname: global, Qtype: dns.TypeA, Answer: []dns.RR{test.A(global + " 30 IN A 192.0.2.1"), test.A(global + " 30 IN A 192.0.2.20")}},
		{Qname: global, Qtype: dns.TypeAAAA, Answer: []dns.RR{test.AAAA(global + " 30 IN AAAA 2001:db8::20")}},
		{Qname: region, Qtype: dns.TypeA, Answer: []dns.RR{test.A(region + " 30 IN A 192.0.2.20")}},
	})

	// The record changes: the answers follow, without a change in the member.
	lb.set(elb, "192.0.2.21")
	eventually(t, f, []test.Case{
		{Qname: region, Qtype: dns.TypeA, Answer: []dns.RR{test.A(region + " 30 IN A 192.0.2.21")}},
		{Qname: global, Qtype: dns.TypeA, Answer: []dns.RR{test.A(global + " 30 IN A 192.0.2.1"), test.A(global + " 30 IN A 192.0.2.21")}},
	})

	// NXDOMAIN: the shard is unusable, the region falls back, nothing fails.
	lb.set(elb)
	eventually(t, f, []test.Case{
		{Qname: region, Qtype: dns.TypeA, Answer: []dns.RR{
			test.CNAME(region + " 30 IN CNAME " + global), test.A(global + " 30 IN A 192.0.2.1"),
		}},
	})
	sh := f.Shards()
	var reason string
	for i := range sh {
		if sh[i].Member == "gce-europe-west1" {
			reason = shardReport(&sh[i], nil, MemberStatus{}).Reason
		}
	}
	if want := "unresolved: " + elb + " (nxdomain)"; reason != want {
		t.Errorf("shard reason %q, want %q", reason, want)
	}
	if got := counterValue(t, hostnameLookups.WithLabelValues(server, "nxdomain")); got < 1 {
		t.Errorf("hostname_lookups_total{result=nxdomain} = %v, want at least 1", got)
	}
	if got := counterValue(t, hostnameLookups.WithLabelValues(server, "success")); got < 2 {
		t.Errorf("hostname_lookups_total{result=success} = %v, want at least 2", got)
	}
}

// A resolver that does not answer (a closed port) leaves the shard unusable
// with the reason; the level falls back rather than fail.
func TestHostnameUnreachableResolver(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := pc.LocalAddr().String() // reads nothing: every query times out
	t.Cleanup(func() { pc.Close() })
	cs := seed()[:2]
	cs[1].objs = []runtime.Object{
		fixture.Service("mynamespace", "nginx", "myfederation", "lb.example.net"),
		slice("mynamespace", "nginx", fixture.Ready),
	}
	f, _ := newTestFederation(t, cs, func(f *Federation) {
		f.Resolvers = &ResolverConfig{Servers: []string{dead}, RefreshMin: 10 * time.Millisecond, RefreshMax: time.Second, Timeout: 50 * time.Millisecond}
	})
	global, region := nginx(""), nginx("europe-west1.")
	waitFor(t, "the timeout as reason", func() bool {
		for _, sh := range f.Shards() {
			if sh.Member == "gce-europe-west1" && len(sh.Unresolved) == 1 && sh.Unresolved[0] == "lb.example.net (timeout)" {
				return true
			}
		}
		return false
	})
	check(t, f, []test.Case{{Qname: region, Qtype: dns.TypeA, Answer: []dns.RR{
		test.CNAME(region + " 30 IN CNAME " + global), test.A(global + " 30 IN A 192.0.2.1"),
	}}})
}

func TestSetupResolvers(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    ResolverConfig
		wantErr string
	}{
		{in: "resolvers", want: DefaultResolverConfig()},
		{in: "resolvers 127.0.0.1 [::1]:5353 127.0.0.2:53", want: ResolverConfig{Servers: []string{"127.0.0.1:53", "[::1]:5353", "127.0.0.2:53"},
			RefreshMin: defaultRefreshMin, RefreshMax: defaultRefreshMax, Timeout: defaultResolverTimeout}},
		{in: "resolvers 127.0.0.1 {\n refresh 1s 10m\n timeout 500ms\n }", want: ResolverConfig{Servers: []string{"127.0.0.1:53"},
			RefreshMin: time.Second, RefreshMax: 10 * time.Minute, Timeout: 500 * time.Millisecond}},
		{in: "resolvers {\n timeout 1s }", want: ResolverConfig{RefreshMin: defaultRefreshMin, RefreshMax: defaultRefreshMax, Timeout: time.Second}},
		{in: "resolvers dns.example.net", wantErr: `resolvers "dns.example.net": not an IP address or IP:PORT`},
		{in: "resolvers 127.0.0.1:0", wantErr: `resolvers "127.0.0.1:0"`},
		{in: "resolvers {\n refresh 10s 1s\n }", wantErr: "MAX 1s is below MIN 10s"},
		{in: "resolvers {\n refresh 1s\n }", wantErr: "refresh needs MIN and MAX"},
		{in: "resolvers {\n timeout -1s\n }", wantErr: `resolvers timeout "-1s": must be a positive duration`},
		{in: "resolvers {\n retries 3\n }", wantErr: `resolvers: unknown option "retries"`},
	} {
		c := caddy.NewTestController("dns", tc.in)
		c.Next()
		got, err := parseResolvers(c)
		switch {
		case tc.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%q: error %v, want %q", tc.in, err, tc.wantErr)
			}
		case err != nil:
			t.Errorf("%q: %v", tc.in, err)
		case fmt.Sprint(*got) != fmt.Sprint(tc.want):
			t.Errorf("%q: %+v, want %+v", tc.in, *got, tc.want)
		}
	}
}

// Resolved addresses go through the ingress filter as IPs do: a hostname that
// resolves to loopback is refused (and counted) unless an ingress rule allows it.
func TestHostnameIngressFiltered(t *testing.T) {
	lb := newLBServer(t)
	lb.set("lb.example.net", "127.0.0.5")
	server := fmt.Sprintf("dns://hostname-filtered-%d.test:53", time.Now().UnixNano())
	cs := seed()[:2]
	cs[1].objs = []runtime.Object{
		fixture.Service("mynamespace", "nginx", "myfederation", "lb.example.net"),
		slice("mynamespace", "nginx", fixture.Ready),
	}
	f, _ := newTestFederation(t, cs, func(f *Federation) {
		f.server = server
		f.Resolvers = &ResolverConfig{Servers: []string{lb.addr}, RefreshMin: 10 * time.Millisecond, RefreshMax: time.Second, Timeout: time.Second}
	})
	waitFor(t, "the loopback address refused", func() bool {
		return counterValue(t, ingressRefused.WithLabelValues(server, "gce-europe-west1", refusedLoopback)) == 1
	})
	global, region := nginx(""), nginx("europe-west1.")
	check(t, f, []test.Case{{Qname: region, Qtype: dns.TypeA, Answer: []dns.RR{
		test.CNAME(region + " 30 IN CNAME " + global), test.A(global + " 30 IN A 192.0.2.1"),
	}}})
}
