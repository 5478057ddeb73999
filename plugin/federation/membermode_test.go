package federation

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/plugin/test"
	"github.com/coredns/coredns/request"

	"github.com/coredns-fed/coredns-fed/internal/fixture"

	"github.com/miekg/dns"
	meta "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// kubernetesStub stands in for the kubernetes plugin: it answers S.N.svc.cluster.local
// with a ClusterIP and everything else with NXDOMAIN.
var kubernetesStub = test.HandlerFunc(func(_ context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	m := new(dns.Msg)
	m.SetReply(r)
	if r.Question[0].Name == "nginx.mynamespace.svc.cluster.local." && r.Question[0].Qtype == dns.TypeA {
		m.Answer = []dns.RR{test.A("nginx.mynamespace.svc.cluster.local. 5 IN A 10.0.0.10")}
	} else {
		m.Rcode = dns.RcodeNameError
	}
	w.WriteMsg(m)
	return m.Rcode, nil
})

// remoteStub stands in for the server's own resolution of the CNAME target, which a
// stub domain forwards to the federation's name servers.
func remoteStub(_ context.Context, _ request.Request, name string, _ uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.Answer = []dns.RR{test.A(name + " 30 IN A 192.0.2.7")}
	return m, nil
}

func newTestLocal(t *testing.T, c cluster, opts ...func(*MemberMode)) *MemberMode {
	t.Helper()
	l := NewMemberMode()
	l.Zones = []string{"cluster.local."}
	l.Federations = map[string]string{"myfederation": "example.com."}
	l.Cluster = &Member{Name: "local", client: fakeClient(c)}
	l.Next = kubernetesStub
	l.lookup = remoteStub
	for _, o := range opts {
		o(l)
	}
	if err := l.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Stop)
	waitFor(t, "local cluster synced", l.Ready)
	return l
}

func serve(t *testing.T, h interface {
	ServeDNS(context.Context, dns.ResponseWriter, *dns.Msg) (int, error)
}, name string, qtype uint16) (*dns.Msg, int) {
	t.Helper()
	rec := &captureWriter{}
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	rcode, err := h.ServeDNS(context.Background(), rec, m)
	if err != nil {
		t.Fatal(err)
	}
	return rec.msg, rcode
}

type captureWriter struct {
	test.ResponseWriter
	msg *dns.Msg
}

func (c *captureWriter) WriteMsg(m *dns.Msg) error { c.msg = m; return nil }

const localQ = "nginx.mynamespace.myfederation.svc.cluster.local."

func TestLocalHealthy(t *testing.T) {
	l := newTestLocal(t, seed()[3])
	m, _ := serve(t, l, localQ, dns.TypeA)
	tc := test.Case{Qname: localQ, Qtype: dns.TypeA, Answer: []dns.RR{
		test.CNAME(localQ + " 30 IN CNAME nginx.mynamespace.svc.cluster.local."),
		test.A("nginx.mynamespace.svc.cluster.local. 5 IN A 10.0.0.10"),
	}}
	if err := test.SortAndCheck(m, sorted(tc)); err != nil {
		t.Errorf("%v\n%s", err, m)
	}
}

func TestLocalUnhealthy(t *testing.T) {
	remote := func(level string) test.Case {
		target := "nginx.mynamespace.myfederation.svc." + level + "example.com."
		return test.Case{Qname: localQ, Qtype: dns.TypeA, Answer: []dns.RR{
			test.CNAME(localQ + " 30 IN CNAME " + target),
			test.A(target + " 30 IN A 192.0.2.7"),
		}}
	}
	notReady := seed()[3]
	notReady.objs[1] = slice("mynamespace", "nginx", fixture.Unready)
	absent := seed()[3]
	absent.objs = nil
	multiZone := seed()[3]
	multiZone.nodes = []Place{{"us-central1", "us-central1-a"}, {"us-central1", "us-central1-b"}}

	tests := []struct {
		name string
		c    cluster
		opts []func(*MemberMode)
		want test.Case
	}{
		{"not ready", notReady, nil, remote("us-central1-b.us-central1.")},
		{"absent", absent, nil, remote("us-central1-b.us-central1.")},
		{"configured place", absent, []func(*MemberMode){func(l *MemberMode) { l.Region, l.Zone = "europe-west1", "europe-west1-d" }}, remote("europe-west1-d.europe-west1.")},
		{"multi-zone, unknown node", func() cluster { c := multiZone; c.objs = nil; return c }(), nil, remote("us-central1.")},
		{"multi-zone, this node's zone", func() cluster { c := multiZone; c.objs = nil; return c }(),
			[]func(*MemberMode){func(l *MemberMode) { l.nodeName = "gce-us-central1-node-0" }}, remote("us-central1-a.us-central1.")},
		{"no topology", func() cluster { c := absent; c.nodes = nil; return c }(), nil, remote("")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := newTestLocal(t, tc.c, tc.opts...)
			m, _ := serve(t, l, localQ, dns.TypeA)
			if err := test.SortAndCheck(m, sorted(tc.want)); err != nil {
				t.Errorf("%v\n%s", err, m)
			}
		})
	}
}

func TestLocalPassesOtherNames(t *testing.T) {
	l := newTestLocal(t, seed()[3])
	for _, name := range []string{
		"nginx.mynamespace.svc.cluster.local.",          // a plain Service name
		"nginx.mynamespace.otherfed.svc.cluster.local.", // not a configured federation
		"x.nginx.mynamespace.myfederation.svc.cluster.local.",
		"nginx.mynamespace.myfederation.svc.example.org.", // another zone
	} {
		l.Next = test.NextHandler(dns.RcodeBadCookie, nil)
		if _, rcode := serve(t, l, name, dns.TypeA); rcode != dns.RcodeBadCookie {
			t.Errorf("%s: rcode %d, want it passed to the next plugin", name, rcode)
		}
	}
}

func TestLocalServfailBeforeSync(t *testing.T) {
	l := NewMemberMode()
	l.Zones = []string{"cluster.local."}
	l.Federations = map[string]string{"myfederation": "example.com."}
	l.Cluster = &Member{Name: "local", client: blockedClient()}
	if err := l.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Stop)
	if _, rcode := serve(t, l, localQ, dns.TypeA); rcode != dns.RcodeServerFailure {
		t.Errorf("before sync: rcode %d, want SERVFAIL", rcode)
	}
}

// After its startup timeout, member mode answers without the local cluster: the
// CNAME into the federation, at the configured place.
func TestMemberModeStartupTimeout(t *testing.T) {
	l := NewMemberMode()
	l.Zones = []string{"cluster.local."}
	l.Federations = map[string]string{"myfederation": "example.com."}
	l.Region, l.Zone = "europe-west1", "europe-west1-b"
	l.StartupTimeout = 50 * time.Millisecond
	l.Cluster = &Member{Name: "local", client: blockedClient()}
	l.Next = kubernetesStub
	l.lookup = remoteStub
	if err := l.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Stop)
	waitFor(t, "ready after the startup timeout", l.Ready)
	m, rcode := serve(t, l, localQ, dns.TypeA)
	if rcode != dns.RcodeSuccess || len(m.Answer) == 0 {
		t.Fatalf("after the startup timeout: rcode %d, answer %v", rcode, m)
	}
	want := "nginx.mynamespace.myfederation.svc.europe-west1-b.europe-west1.example.com."
	if c, ok := m.Answer[0].(*dns.CNAME); !ok || c.Target != want {
		t.Errorf("answer %v, want a CNAME to %s", m.Answer[0], want)
	}
}

func TestParseMemberMode(t *testing.T) {
	tests := []struct {
		input   string
		errText string
		check   func(*MemberMode) bool
	}{
		{"federation cluster.local {\n myfederation example.com\n prod prod.feddomain.com.\n}", "", func(l *MemberMode) bool {
			return l.Federations["myfederation"] == "example.com." && l.Federations["prod"] == "prod.feddomain.com." &&
				l.Zones[0] == "cluster.local." && l.Cluster.InCluster && !l.Cluster.NoNodes && l.TTL == 30
		}},
		{"federation {\n myfederation example.com\n kubeconfig " + kc + " lab\n region r1\n zone z1\n ttl 10\n}", "", func(l *MemberMode) bool {
			return l.Zones[0] == "cluster.local." && l.Cluster.Kubeconfig == kc && l.Cluster.Context == "lab" &&
				l.Region == "r1" && l.Zone == "z1" && l.Cluster.NoNodes && l.TTL == 10
		}},
		{"federation {\n myfederation example.com\n startup_timeout 5s\n}", "", func(l *MemberMode) bool {
			return l.StartupTimeout == 5*time.Second
		}},
		{"federation {\n myfederation example.com\n startup_timeout soon\n}", `startup_timeout "soon": must be a positive duration`, nil},
		{"federation cluster.local {\n}", "at least one NAME DOMAIN line", nil},
		{"federation {\n myfederation\n}", `unknown option "myfederation"`, nil},
		{"federation {\n my_fed example.com\n}", `federation name "my_fed"`, nil},
		{"federation {\n a example.com\n a example.org\n}", "federation a defined twice", nil},
		{"federation {\n a example.com\n zone Bad_Zone\n}", `zone "Bad_Zone"`, nil},
		{"federation {\n a example.com\n ttl -1\n}", `ttl "-1"`, nil},
	}
	for i, tc := range tests {
		c := caddy.NewTestController("dns", tc.input)
		c.ServerBlockKeys = []string{"cluster.local."}
		if !memberMode(c) {
			t.Errorf("test %d: not detected as member mode", i)
			continue
		}
		l, err := parseMemberMode(c)
		if tc.errText != "" {
			if err == nil || !strings.Contains(err.Error(), tc.errText) {
				t.Errorf("test %d: error %v, want %q", i, err, tc.errText)
			}
			continue
		}
		if err != nil || !tc.check(l) {
			t.Errorf("test %d: %v %+v", i, err, l)
		}
	}
}

func TestLocalFollowsChanges(t *testing.T) {
	c := seed()[3]
	client := fakeClient(c)
	l := NewMemberMode()
	l.Zones = []string{"cluster.local."}
	l.Federations = map[string]string{"myfederation": "example.com."}
	l.Cluster = &Member{Name: "local", client: client}
	l.Next, l.lookup = kubernetesStub, remoteStub
	if err := l.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Stop)
	waitFor(t, "local cluster synced", l.Ready)

	target := func() string {
		m, _ := serve(t, l, localQ, dns.TypeA)
		if m == nil || len(m.Answer) == 0 {
			return ""
		}
		return m.Answer[0].(*dns.CNAME).Target
	}
	if got := target(); got != "nginx.mynamespace.svc.cluster.local." {
		t.Fatalf("healthy: CNAME to %q", got)
	}
	_, err := client.DiscoveryV1().EndpointSlices("mynamespace").Update(context.Background(), slice("mynamespace", "nginx", fixture.Unready), meta.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "CNAME into the federation", func() bool {
		return target() == "nginx.mynamespace.myfederation.svc.us-central1-b.us-central1.example.com."
	})
}
