package shardhealth

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coredns-fed/coredns-fed/internal/fixture"
	"github.com/coredns-fed/coredns-fed/plugin/federation"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"
	"k8s.io/client-go/kubernetes/fake"
)

// A member cluster on a fake clientset with one federated nginx Service whose
// load balancer is ip, in region/zone.
func fakeMember(name, region, zone, ip string) *federation.Member {
	svc := fixture.Service("mynamespace", "nginx", "myfederation", ip)
	return federation.NewMember(name, fake.NewClientset(
		fixture.Node(name+"-node", region, zone), svc, fixture.EndpointSlice(svc, "abcde", fixture.Ready)))
}

// backend serves HTTP 200 on addr until stopped.
type backend struct {
	addr string
	srv  *http.Server
}

// start listens on addr (port 0 picks one, and addr is updated).
func (b *backend) start(t *testing.T) error {
	l, err := net.Listen("tcp", b.addr)
	if err != nil {
		return err
	}
	b.addr = l.Addr().String()
	srv := &http.Server{Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})}
	b.srv = srv
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return nil
}

func (b *backend) stop() { b.srv.Close() }

// twoBackends starts backends on 127.0.0.1 and 127.0.0.2 with the same port, as
// the load balancers of one Service in two clusters would be.
func twoBackends(t *testing.T) (uint16, *backend, *backend) {
	t.Helper()
	for range 20 {
		a := &backend{addr: "127.0.0.1:0"}
		if err := a.start(t); err != nil {
			t.Fatal(err)
		}
		ap := netip.MustParseAddrPort(a.addr)
		b := &backend{addr: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.2"), ap.Port()).String()}
		if err := b.start(t); err != nil {
			a.stop() // the port is taken on 127.0.0.2; try another
			continue
		}
		return ap.Port(), a, b
	}
	t.Fatal("no port free on both 127.0.0.1 and 127.0.0.2")
	return 0, nil, nil
}

func TestFederationAnswersFollowProbes(t *testing.T) {
	port, _, b := twoBackends(t)

	f := federation.New()
	f.Zone, f.Fed = "example.com.", "myfederation"
	// The backends are on loopback, which is answered only when allowed.
	f.Ingress = []federation.IngressRule{{Allow: true, Prefix: netip.MustParsePrefix("127.0.0.0/8")}}
	f.Members = []*federation.Member{
		fakeMember("a", "r1", "r1-a", "127.0.0.1"),
		fakeMember("b", "r2", "r2-a", "127.0.0.2"),
	}

	const interval, fall, rise = 200 * time.Millisecond, 2, 2
	h := New()
	h.Probe = Probe{Kind: kindHTTP, Port: port, Path: "/healthz", ExpectMin: 200, ExpectMax: 399}
	h.Interval, h.Timeout, h.Jitter, h.Rise, h.Fall = interval, 100*time.Millisecond, 0.1, rise, fall

	// As at server start: the federation starts its health checker first.
	f.SetHealth(h)
	f.Start()
	t.Cleanup(f.Stop)

	global := "nginx.mynamespace.myfederation.svc.example.com."
	zoneB := "nginx.mynamespace.myfederation.svc.r2-a.example.com."
	both := []string{"A 127.0.0.1", "A 127.0.0.2"}
	answers(t, f, global, both)
	answers(t, f, zoneB, []string{"A 127.0.0.2"})
	waitFor(t, "both addresses to be probed up", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		n := 0
		for _, c := range h.checks {
			if c.state == up {
				n++
			}
		}
		return n == 2
	})

	// Stop b's backend: its address leaves after fall probes, one interval apart
	// (with slack for the jitter and a loaded test machine).
	b.stop()
	stopped := time.Now()
	answers(t, f, global, []string{"A 127.0.0.1"})
	if took := time.Since(stopped); took > time.Duration(fall+2)*interval {
		t.Errorf("127.0.0.2 left the answer after %s, want within about %s", took, fall*interval)
	}
	// The zone had only b's shard: it turns into its CNAME chain to the global name.
	answers(t, f, zoneB, []string{
		"CNAME nginx.mynamespace.myfederation.svc.r2.example.com.",
		"CNAME " + global,
		"A 127.0.0.1",
	})

	// Start it again: it returns within rise intervals.
	if err := b.start(t); err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	answers(t, f, global, both)
	if took := time.Since(started); took > time.Duration(rise+2)*interval {
		t.Errorf("127.0.0.2 returned after %s, want within about %s", took, rise*interval)
	}
	answers(t, f, zoneB, []string{"A 127.0.0.2"})
}

// Ingress addresses the federation refuses never reach the probes: the cloud
// metadata address with a probe path chosen by an annotation, loopback (not
// allowed here), the unspecified address. The fake prober dials nothing; it
// records what it would have probed.
func TestRefusedIngressNotProbed(t *testing.T) {
	clk := newFakeClock()
	prober := newFakeProber(clk)
	h := New()
	h.clock, h.prober = clk, prober
	h.Interval, h.Timeout, h.Jitter = 10*time.Second, time.Second, 0

	f := federation.New()
	f.Zone, f.Fed = "example.com.", "myfederation"
	svc := fixture.Service("mynamespace", "nginx", "myfederation", "192.0.2.1", "169.254.169.254", "127.0.0.1", "0.0.0.0", "fe80::1")
	fixture.Annotate(svc, AnnotationPath, "/latest/meta-data/iam/security-credentials/", AnnotationPort, "80")
	f.Members = []*federation.Member{federation.NewMember("a", fake.NewClientset(
		fixture.Node("a-node", "r1", "r1-a"), svc, fixture.EndpointSlice(svc, "abcde", fixture.Ready)))}
	f.SetHealth(h)
	f.Start()
	t.Cleanup(f.Stop)

	global := "nginx.mynamespace.myfederation.svc.example.com."
	answers(t, f, global, []string{"A 192.0.2.1"})
	waitFor(t, "192.0.2.1 probed", func() bool { return len(prober.callsOf("192.0.2.1")) > 0 })
	for range 3 {
		tick(t, h, clk, h.Interval)
	}
	if n := len(prober.callsOf("192.0.2.1")); n < 3 {
		t.Errorf("192.0.2.1 probed %d times, want one per interval", n)
	}
	for _, a := range []string{"169.254.169.254", "127.0.0.1", "0.0.0.0", "fe80::1"} {
		if calls := prober.callsOf(a); len(calls) > 0 {
			t.Errorf("%s probed %d times (%s), want never", a, len(calls), calls[0].probe.url(calls[0].addr))
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for tg := range h.checks {
		if tg.Addr != netip.MustParseAddr("192.0.2.1") {
			t.Errorf("a check for %s", tg)
		}
	}
}

func TestCheckFederation(t *testing.T) {
	tests := []struct {
		name    string
		handler plugin.Handler // the block's federation handler
		err     string
	}{
		{"none", nil, "federation plugin is not in this server block"},
		{"member mode", federation.NewMemberMode(), "member mode"},
		{"authoritative", federation.New(), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := caddy.NewTestController("dns", "shardhealth")
			cfg := dnsserver.GetConfig(c)
			if tc.handler != nil {
				cfg.AddPlugin(func(plugin.Handler) plugin.Handler { return tc.handler })
			}
			if _, err := dnsserver.NewServer("dns://:0", []*dnsserver.Config{cfg}); err != nil {
				t.Fatal(err)
			}
			err := checkFederation(cfg)
			if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Errorf("error %v, want %q", err, tc.err)
			}
		})
	}
}

// answers waits until an A query for name answers want ("TYPE data" per record,
// in order), and fails the test if it does not within a few seconds.
func answers(t *testing.T, f *federation.Federation, name string, want []string) {
	t.Helper()
	var got []string
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		got = query(t, f, name)
		if slices.Equal(got, want) {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("%s: answer %q, want %q", name, got, want)
}

func query(t *testing.T, f *federation.Federation, name string) []string {
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	rec := dnstest.NewRecorder(&test.ResponseWriter{})
	if _, err := f.ServeDNS(context.Background(), rec, m); err != nil {
		t.Fatal(err)
	}
	if rec.Msg == nil {
		return nil
	}
	var out []string
	for _, rr := range rec.Msg.Answer {
		switch rr := rr.(type) {
		case *dns.A:
			out = append(out, "A "+rr.A.String())
		case *dns.CNAME:
			out = append(out, "CNAME "+rr.Target)
		}
	}
	// Addresses in a stable order; CNAMEs keep theirs, ahead of them.
	slices.SortStableFunc(out, func(x, y string) int {
		if strings.HasPrefix(x, "A ") && strings.HasPrefix(y, "A ") {
			return strings.Compare(x, y)
		}
		return 0
	})
	return out
}
