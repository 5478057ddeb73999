package federation

import (
	"bytes"
	"fmt"
	golog "log"
	"maps"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/coredns-fed/coredns-fed/internal/fixture"
)

func rules(t *testing.T, lines ...string) []IngressRule {
	t.Helper()
	var out []IngressRule
	for _, l := range lines {
		verb, cidr, _ := strings.Cut(l, " ")
		r, err := parseIngressRule(verb == "allow", cidr)
		if err != nil {
			t.Fatalf("%s: %v", l, err)
		}
		out = append(out, r)
	}
	return out
}

func TestIngressAllowed(t *testing.T) {
	tests := []struct {
		rules []string
		addr  string
		want  string // "" admitted, else the reason
	}{
		// The defaults: ordinary addresses, private and documentation ranges included, pass.
		{nil, "192.0.2.1", ""},
		{nil, "203.0.113.7", ""},
		{nil, "10.1.2.3", ""},
		{nil, "172.16.0.1", ""},
		{nil, "100.64.0.1", ""},
		{nil, "2001:db8::1", ""},
		{nil, "fd00::1", ""},
		// Addresses no load balancer has, and that reach this host or its link.
		{nil, "127.0.0.1", refusedLoopback},
		{nil, "127.63.1.1", refusedLoopback},
		{nil, "::1", refusedLoopback},
		{nil, "::ffff:127.0.0.1", refusedLoopback},
		{nil, "169.254.169.254", refusedLinkLocal},
		{nil, "::ffff:169.254.169.254", refusedLinkLocal},
		{nil, "fe80::1", refusedLinkLocal},
		{nil, "fe80::1%eth0", refusedLinkLocal},
		{nil, "0.0.0.0", refusedUnspecified},
		{nil, "0.1.2.3", refusedUnspecified},
		{nil, "::", refusedUnspecified},
		{nil, "224.0.0.1", refusedMulticast},
		{nil, "239.255.255.250", refusedMulticast},
		{nil, "ff02::1", refusedMulticast},
		{nil, "255.255.255.255", refusedBroadcast},
		{nil, "240.0.0.1", refusedReserved},
		{nil, "::7f00:1", refusedReserved}, // IPv4-compatible 127.0.0.1
		// An allow inside loopback or link-local re-admits; a broader one does not.
		{[]string{"allow 127.0.0.0/8"}, "127.63.1.1", ""},
		{[]string{"allow 127.0.0.0/8"}, "::1", refusedLoopback},
		{[]string{"allow ::1"}, "::1", ""},
		{[]string{"allow 127.63.1.0/24"}, "127.63.1.9", ""},
		{[]string{"allow 127.63.1.0/24"}, "127.0.0.1", refusedLoopback},
		{[]string{"allow 0.0.0.0/0"}, "127.0.0.1", refusedLoopback},
		{[]string{"allow 0.0.0.0/0"}, "169.254.169.254", refusedLinkLocal},
		{[]string{"allow 128.0.0.0/1", "allow 0.0.0.0/1"}, "127.0.0.1", refusedLoopback},
		{[]string{"allow 169.254.0.0/16"}, "169.254.169.254", ""},
		{[]string{"allow fe80::/10"}, "fe80::1%eth0", ""},
		{[]string{"allow ::ffff:127.0.0.0/104"}, "127.0.0.1", ""},
		// Never admitted.
		{[]string{"allow 0.0.0.0/32"}, "0.0.0.0", refusedUnspecified},
		{[]string{"allow 224.0.0.0/4"}, "224.0.0.1", refusedMulticast},
		{[]string{"allow 255.255.255.255"}, "255.255.255.255", refusedBroadcast},
		// The first rule that contains the address decides.
		{[]string{"deny 10.0.0.0/8"}, "10.1.2.3", refusedDenied},
		{[]string{"deny 10.0.0.0/8"}, "192.0.2.1", ""},
		{[]string{"allow 10.1.0.0/16", "deny 10.0.0.0/8"}, "10.1.2.3", ""},
		{[]string{"allow 10.1.0.0/16", "deny 10.0.0.0/8"}, "10.2.0.1", refusedDenied},
		{[]string{"deny 10.0.0.0/8", "allow 10.1.0.0/16"}, "10.1.2.3", refusedDenied},
		{[]string{"deny 127.0.0.0/8", "allow 127.0.0.1"}, "127.0.0.1", refusedDenied},
		{[]string{"allow 203.0.113.0/24", "deny 0.0.0.0/0", "deny ::/0"}, "203.0.113.9", ""},
		{[]string{"allow 203.0.113.0/24", "deny 0.0.0.0/0", "deny ::/0"}, "192.0.2.1", refusedDenied},
		{[]string{"allow 203.0.113.0/24", "deny 0.0.0.0/0", "deny ::/0"}, "2001:db8::1", refusedDenied},
		{[]string{"deny 2001:db8::/32"}, "2001:db8::1", refusedDenied},
	}
	for _, tc := range tests {
		got := ingressAllowed(rules(t, tc.rules...), netip.MustParseAddr(tc.addr))
		if got != tc.want {
			t.Errorf("rules %q, %s: %q, want %q", tc.rules, tc.addr, got, tc.want)
		}
	}
}

func TestParseIngress(t *testing.T) {
	tests := []struct {
		lines   string
		want    []string
		errText string
	}{
		{"ingress allow 127.0.0.0/8", []string{"allow 127.0.0.0/8"}, ""},
		{"ingress allow 127.0.0.1 ::1\n ingress deny 10.0.0.0/8 fd00::/8", []string{"allow 127.0.0.1/32", "allow ::1/128", "deny 10.0.0.0/8", "deny fd00::/8"}, ""},
		{"ingress deny 10.1.2.3/8", []string{"deny 10.0.0.0/8"}, ""},
		{"ingress allow ::ffff:127.0.0.0/104", []string{"allow 127.0.0.0/8"}, ""},
		{"ingress allow", nil, "ingress needs allow or deny and at least one CIDR"},
		{"ingress 10.0.0.0/8", nil, "ingress needs allow or deny"},
		{"ingress permit 10.0.0.0/8", nil, `got "permit 10.0.0.0/8"`},
		{"ingress deny 10.0.0.0/33", nil, `ingress deny "10.0.0.0/33": not a CIDR or IP address`},
		{"ingress allow localhost", nil, `ingress allow "localhost": not a CIDR or IP address`},
		{"ingress allow fe80::/10%eth0", nil, `not a CIDR or IP address`},
		{"ingress allow ::ffff:0.0.0.0/90", nil, "IPv4-mapped prefix must be /96 or longer"},
	}
	for _, tc := range tests {
		c := caddy.NewTestController("dns", `federation myfederation {
			member a {
				kubeconfig `+kc+`
			}
			ns ns1.example.com. 192.0.2.53
			`+tc.lines+`
		}`)
		c.ServerBlockKeys = []string{"example.com."}
		f, err := parse(c)
		if tc.errText != "" {
			if err == nil || !strings.Contains(err.Error(), tc.errText) {
				t.Errorf("%q: error %v, want %q", tc.lines, err, tc.errText)
			} else if !strings.Contains(err.Error(), "Testfile:6") {
				t.Errorf("%q: error %v does not name the line", tc.lines, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.lines, err)
			continue
		}
		var got []string
		for _, r := range f.Ingress {
			got = append(got, r.String())
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%q: rules %q, want %q", tc.lines, got, tc.want)
		}
	}
}

// seenHealth is a HealthChecker that records every address the federation
// shows it, through Usable and through the sink's Shards.
type seenHealth struct {
	mu   sync.Mutex
	sink HealthSink
	seen map[netip.Addr]bool
}

func (h *seenHealth) Usable(s *Shard) ([]netip.Addr, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, a := range s.Addrs {
		h.seen[a] = true
	}
	return s.Addrs, false
}

func (h *seenHealth) Start(sink HealthSink) {
	h.sink = sink
	sink.OnSnapshot(func() {
		for _, s := range sink.Shards() {
			h.Usable(&s)
		}
	})
}

func (h *seenHealth) Stop() {}

func (h *seenHealth) addrs() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for a := range h.seen {
		out = append(out, a.String())
	}
	slices.Sort(out)
	return out
}

// captureLog collects what the plugin logs while the test runs.
func captureLog(t *testing.T) *logBuffer {
	t.Helper()
	buf := &logBuffer{}
	golog.SetOutput(buf)
	t.Cleanup(func() { golog.SetOutput(os.Stderr) })
	return buf
}

type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// count returns how many lines contain every one of words.
func (b *logBuffer) count(words ...string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for l := range strings.Lines(b.b.String()) {
		if !slices.ContainsFunc(words, func(w string) bool { return !strings.Contains(l, w) }) {
			n++
		}
	}
	return n
}

// ingressFederation starts a Federation on MemorySources, one per member
// name, each in region r-NAME with a ready nginx Service at the addresses given.
func ingressFederation(t *testing.T, server string, health HealthChecker, ingress []IngressRule, members map[string][]string) (*Federation, map[string]*MemorySource) {
	t.Helper()
	f := New()
	f.Zone, f.Fed, f.server, f.Ingress = "example.com.", "myfederation", server, ingress
	f.ns = []nameServer{{name: "ns1.example.com."}}
	f.soa = soaConfig{mname: "ns1.example.com.", rname: "hostmaster.example.com.", refresh: 7200, retry: 1800, expire: 86400, minttl: 30}
	srcs := map[string]*MemorySource{}
	for _, name := range slices.Sorted(maps.Keys(members)) {
		src := NewMemorySource()
		src.SetNode(name+"-node", Place{"r-" + name, ""})
		setIngress(src, members[name]...)
		srcs[name] = src
		f.Members = append(f.Members, &Member{Name: name, Source: src})
	}
	if health != nil {
		f.SetHealth(health)
	}
	f.Start()
	t.Cleanup(f.Stop)
	waitFor(t, "first snapshot", f.Ready)
	return f, srcs
}

// setIngress sets the ready nginx Service of src with the ingress addresses.
func setIngress(src *MemorySource, addrs ...string) {
	s := ServiceState{Namespace: "mynamespace", Name: "nginx", LoadBalancer: true}
	for _, a := range addrs {
		s.Ingress = append(s.Ingress, netip.MustParseAddr(a))
	}
	src.SetService(s, true)
}

// rebuilds forces two full rebuilds and one of nginx, and waits for them.
func rebuilds(t *testing.T, f *Federation, server string) {
	t.Helper()
	builds := snapshotBuilds.WithLabelValues(server)
	for _, key := range []string{"", "", "mynamespace/nginx"} {
		n := counterValue(t, builds)
		f.changed(key)
		waitFor(t, "a rebuild", func() bool { return counterValue(t, builds) > n })
	}
}

// Loopback, link-local and other special ingress addresses are not answered,
// and the health checker never sees them, so they are never probed; each is
// logged and counted once, however often the Service is rebuilt.
func TestIngressFiltered(t *testing.T) {
	logs := captureLog(t)
	server := fmt.Sprintf("dns://ingress-%d.test:53", time.Now().UnixNano())
	health := &seenHealth{seen: map[netip.Addr]bool{}}
	f, srcs := ingressFederation(t, server, health, rules(t, "deny 10.0.0.0/8"), map[string][]string{
		"a": {"192.0.2.1", "127.0.0.1", "169.254.169.254", "10.0.0.1"},
		"b": {"fe80::1", "0.0.0.0", "224.0.0.1", "::ffff:127.0.0.1"},
		"c": {"192.0.2.3"},
	})

	global := nginx("")
	regionB := nginx("r-b.")
	publicOnly := []test.Case{
		{Qname: global, Qtype: dns.TypeA, Answer: []dns.RR{
			test.A(global + " 30 IN A 192.0.2.1"), test.A(global + " 30 IN A 192.0.2.3"),
		}},
		{Qname: global, Qtype: dns.TypeAAAA, Ns: []dns.RR{test.SOA(soaRR)}},
		// b has no address left: its region falls back to the global name.
		{Qname: regionB, Qtype: dns.TypeA, Answer: []dns.RR{
			test.CNAME(regionB + " 30 IN CNAME " + global),
			test.A(global + " 30 IN A 192.0.2.1"), test.A(global + " 30 IN A 192.0.2.3"),
		}},
	}
	check(t, f, publicOnly)
	// Rebuilds of the same Service do not log or count its refusals again.
	rebuilds(t, f, server)
	check(t, f, publicOnly)

	if got, want := health.addrs(), []string{"192.0.2.1", "192.0.2.3"}; !slices.Equal(got, want) {
		t.Errorf("the health checker saw %q, want only %q", got, want)
	}
	for _, s := range f.Shards() {
		if s.Member == "b" && (len(s.Addrs) > 0 || s.Healthy()) {
			t.Errorf("shard of b: %+v, want no address and not healthy", s)
		}
	}
	for _, tc := range []struct {
		member, reason string
		n              float64
	}{
		{"a", refusedLoopback, 1}, {"a", refusedLinkLocal, 1}, {"a", refusedDenied, 1},
		{"b", refusedLinkLocal, 1}, {"b", refusedUnspecified, 1}, {"b", refusedMulticast, 1}, {"b", refusedLoopback, 1},
		{"c", refusedLoopback, 0},
	} {
		if got := counterValue(t, ingressRefused.WithLabelValues(server, tc.member, tc.reason)); got != tc.n {
			t.Errorf("ingress_refused_total{member=%s, reason=%s} = %v, want %v", tc.member, tc.reason, got, tc.n)
		}
	}
	for _, tc := range []struct{ member, addr, reason string }{
		{"a", "127.0.0.1", "loopback"}, {"a", "169.254.169.254", "link-local"}, {"a", "10.0.0.1", "denied"},
		{"b", "fe80::1", "link-local"}, {"b", "0.0.0.0", "unspecified"}, {"b", "224.0.0.1", "multicast"},
		{"b", "::ffff:127.0.0.1", "loopback"},
	} {
		if n := logs.count("mynamespace/nginx in member "+tc.member+":", "ingress "+tc.addr+" refused ("+tc.reason+")"); n != 1 {
			t.Errorf("%s of %s logged %d times, want once", tc.addr, tc.member, n)
		}
	}
	if n := logs.count("mynamespace/nginx in member b:", "no address left"); n != 4 {
		t.Errorf("b's refusals logged %d times with 'no address left', want 4", n)
	}

	// The address leaves and comes back: it is logged and counted again.
	setIngress(srcs["a"], "192.0.2.9")
	eventually(t, f, []test.Case{{Qname: global, Qtype: dns.TypeA, Answer: []dns.RR{
		test.A(global + " 30 IN A 192.0.2.3"), test.A(global + " 30 IN A 192.0.2.9"),
	}}})
	setIngress(srcs["a"], "192.0.2.1", "127.0.0.1")
	eventually(t, f, publicOnly)
	if n := logs.count("member a:", "ingress 127.0.0.1 refused (loopback)"); n != 2 {
		t.Errorf("127.0.0.1 logged %d times after it came back, want 2", n)
	}
	if got := counterValue(t, ingressRefused.WithLabelValues(server, "a", refusedLoopback)); got != 2 {
		t.Errorf("loopback refusals of a: %v, want 2", got)
	}
}

// The lab's case: an explicit allow of loopback answers the lab's addresses.
func TestIngressAllowLoopback(t *testing.T) {
	f, _ := ingressFederation(t, "dns://allow.test:53", nil, rules(t, "allow 127.0.0.0/8"),
		map[string][]string{"a": {"127.63.1.1"}, "b": {"127.63.1.2", "::1"}})
	global := nginx("")
	check(t, f, []test.Case{{Qname: global, Qtype: dns.TypeA, Answer: []dns.RR{
		test.A(global + " 30 IN A 127.63.1.1"), test.A(global + " 30 IN A 127.63.1.2"),
	}}})
}

// A Service whose load balancer publishes only a hostname (AWS ELB) is not
// answered, and says so once: a log line and the hostname reason.
func TestIngressHostnameOnly(t *testing.T) {
	logs := captureLog(t)
	server := fmt.Sprintf("dns://hostname-%d.test:53", time.Now().UnixNano())
	cs := seed()[:2]
	elb := "a1b2c3-123456789.us-east-1.elb.amazonaws.com"
	cs[1].objs = []runtime.Object{
		fixture.Service("mynamespace", "nginx", "myfederation", elb),
		slice("mynamespace", "nginx", fixture.Ready),
	}
	f, _ := newTestFederation(t, cs, func(f *Federation) { f.server = server })
	rebuilds(t, f, server)

	global, region := nginx(""), nginx("europe-west1.")
	check(t, f, []test.Case{
		{Qname: global, Qtype: dns.TypeA, Answer: []dns.RR{test.A(global + " 30 IN A 192.0.2.1")}},
		{Qname: region, Qtype: dns.TypeA, Answer: []dns.RR{
			test.CNAME(region + " 30 IN CNAME " + global), test.A(global + " 30 IN A 192.0.2.1"),
		}},
	})
	if got := counterValue(t, ingressRefused.WithLabelValues(server, "gce-europe-west1", refusedHostname)); got != 1 {
		t.Errorf("ingress_refused_total{reason=hostname} = %v, want 1", got)
	}
	if n := logs.count("Service mynamespace/nginx in member gce-europe-west1:", "hostname "+strings.ToLower(elb)+" ignored", "not answered"); n != 1 {
		t.Errorf("hostname-only Service logged %d times, want once", n)
	}
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
