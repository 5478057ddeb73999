package federation

import (
	"context"
	"fmt"
	"slices"
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

// clusterSOA is the SOA the kubernetes plugin puts in its negative answers.
var clusterSOA = test.SOA("cluster.local. 5 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 5")

// clusterNames are the names the kubernetes stub holds: a Service's ClusterIP,
// and the endpoint of a headless Service in a namespace named like the
// federation, whose name has the shape of a federation name.
var clusterNames = map[string][]dns.RR{
	"nginx.mynamespace.svc.cluster.local.":      {test.A("nginx.mynamespace.svc.cluster.local. 5 IN A 10.0.0.10")},
	"web-0.web.myfederation.svc.cluster.local.": {test.A("web-0.web.myfederation.svc.cluster.local. 5 IN A 10.1.0.5")},
}

// kubernetesStub stands in for the kubernetes plugin: it answers the clusterNames
// (NODATA for another type) and everything else with NXDOMAIN.
var kubernetesStub = test.HandlerFunc(func(_ context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	q := r.Question[0]
	rrs, ok := clusterNames[q.Name]
	if !ok {
		m.Rcode = dns.RcodeNameError
	}
	for _, rr := range rrs {
		if rr.Header().Rrtype == q.Qtype {
			m.Answer = append(m.Answer, rr)
		}
	}
	if len(m.Answer) == 0 {
		m.Ns = []dns.RR{clusterSOA}
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
		// A federation domain in the cluster domain would be chased back here without end.
		{"federation {\n a cluster.local\n}", "Testfile:2 - Error during parsing: federation a: domain cluster.local. is the cluster domain cluster.local. or inside it", nil},
		{"federation {\n a fed.svc.cluster.local\n}", "domain fed.svc.cluster.local. is the cluster domain cluster.local. or inside it", nil},
		{"federation cluster.local example.org {\n a example.com\n b fed.example.org\n}", "Testfile:3 - Error during parsing: federation b: domain fed.example.org. is the cluster domain example.org. or inside it", nil},
		{"federation {\n a local\n}", "", func(l *MemberMode) bool { return l.Federations["a"] == "local." }},
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

// A name of the cluster that has the shape of a federation name, the endpoint
// of a headless Service web in the namespace myfederation, is the cluster's:
// member mode keeps the next plugin's answer, positive or NODATA, and answers
// only names the cluster does not have (NXDOMAIN).
func TestMemberModeKeepsClusterNames(t *testing.T) {
	l := newTestLocal(t, seed()[3])
	const headless = "web-0.web.myfederation.svc.cluster.local."
	const absent = "web-1.web.myfederation.svc.cluster.local."
	absentTarget := "web-1.web.myfederation.svc.us-central1-b.us-central1.example.com."
	tests := []test.Case{
		{Qname: headless, Qtype: dns.TypeA, Authoritative: true, Answer: []dns.RR{
			test.A(headless + " 5 IN A 10.1.0.5"),
		}},
		{Qname: headless, Qtype: dns.TypeAAAA, Authoritative: true, Ns: []dns.RR{clusterSOA}},
		{Qname: absent, Qtype: dns.TypeA, Authoritative: true, Answer: []dns.RR{
			test.CNAME(absent + " 30 IN CNAME " + absentTarget),
			test.A(absentTarget + " 30 IN A 192.0.2.7"),
		}},
	}
	for _, tc := range tests {
		m, _ := serve(t, l, tc.Qname, tc.Qtype)
		if m == nil {
			t.Errorf("%s %s: no reply", tc.Qname, dns.TypeToString[tc.Qtype])
			continue
		}
		if err := test.SortAndCheck(m, sorted(tc)); err != nil {
			t.Errorf("%s %s: %v\n%s", tc.Qname, dns.TypeToString[tc.Qtype], err, m)
		}
	}
}

// When the next plugin cannot tell whether the name exists (it fails), member
// mode passes the failure on rather than a CNAME that could hide a cluster name.
func TestMemberModeNextFails(t *testing.T) {
	l := newTestLocal(t, seed()[3])
	l.Next = test.NextHandler(dns.RcodeServerFailure, nil)
	if m, rcode := serve(t, l, localQ, dns.TypeA); rcode != dns.RcodeServerFailure || m != nil {
		t.Errorf("next plugin failing: rcode %d, reply %v; want SERVFAIL left to the server", rcode, m)
	}
}

// A block with several federations keys local readiness by federation: nginx
// labelled for myfederation is not local-first for otherfed.
func TestMemberModeReadyPerFederation(t *testing.T) {
	client := fakeClient(seed()[3])
	l := newTestLocal(t, seed()[3], func(l *MemberMode) {
		l.Federations = map[string]string{"myfederation": "example.com.", "otherfed": "example.org."}
		l.Cluster = &Member{Name: "local", client: client}
	})
	const other = "nginx.mynamespace.otherfed.svc.cluster.local."
	local := func(qname string) test.Case {
		return test.Case{Qname: qname, Qtype: dns.TypeA, Answer: []dns.RR{
			test.CNAME(qname + " 30 IN CNAME nginx.mynamespace.svc.cluster.local."),
			test.A("nginx.mynamespace.svc.cluster.local. 5 IN A 10.0.0.10"),
		}}
	}
	remote := func(qname, fed, domain string) test.Case {
		target := "nginx.mynamespace." + fed + ".svc.us-central1-b.us-central1." + domain
		return test.Case{Qname: qname, Qtype: dns.TypeA, Answer: []dns.RR{
			test.CNAME(qname + " 30 IN CNAME " + target),
			test.A(target + " 30 IN A 192.0.2.7"),
		}}
	}
	check := func(cases ...test.Case) error {
		for _, tc := range cases {
			m, _ := serve(t, l, tc.Qname, tc.Qtype)
			if err := test.SortAndCheck(m, sorted(tc)); err != nil {
				return fmt.Errorf("%s: %v\n%s", tc.Qname, err, m)
			}
		}
		return nil
	}
	if err := check(local(localQ), remote(other, "otherfed", "example.org.")); err != nil {
		t.Fatal(err)
	}

	// Relabelled into the other federation, the Service is local-first there only.
	_, err := client.CoreV1().Services("mynamespace").Update(context.Background(),
		fixture.Service("mynamespace", "nginx", "otherfed", "192.0.2.4"), meta.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "nginx local-first in otherfed only", func() bool {
		return check(local(other), remote(localQ, "myfederation", "example.com.")) == nil
	})
}

// A truncated answer for the chased target makes the reply truncated (RFC 2181
// section 9): the client retries over TCP instead of caching a partial RRset.
func TestMemberModeChaseTruncated(t *testing.T) {
	absent := seed()[3]
	absent.objs = nil
	truncated := func(_ context.Context, _ request.Request, name string, _ uint16) (*dns.Msg, error) {
		m := new(dns.Msg)
		m.Truncated = true
		m.Answer = []dns.RR{test.A(name + " 30 IN A 192.0.2.7")}
		return m, nil
	}
	l := newTestLocal(t, absent, func(l *MemberMode) { l.lookup = truncated })
	m, _ := serve(t, l, localQ, dns.TypeA)
	if m == nil || !m.Truncated {
		t.Errorf("chased target truncated: reply %v, want TC set", m)
	}
	l.lookup = remoteStub
	if m, _ := serve(t, l, localQ, dns.TypeA); m == nil || m.Truncated {
		t.Errorf("chased target whole: reply %v, want TC clear", m)
	}
}

// A CNAME target inside the cluster domain would come back to this plugin: it
// is answered without being chased.
func TestMemberModeTargetInClusterDomain(t *testing.T) {
	absent := seed()[3]
	absent.objs = nil
	l := newTestLocal(t, absent, func(l *MemberMode) {
		l.Federations = map[string]string{"myfederation": "local."}
		l.Region = "cluster"
		l.Cluster.NoNodes = true
		l.lookup = func(_ context.Context, _ request.Request, name string, _ uint16) (*dns.Msg, error) {
			t.Errorf("chased %s, inside the cluster domain", name)
			return nil, nil
		}
	})
	m, _ := serve(t, l, localQ, dns.TypeA)
	tc := test.Case{Qname: localQ, Qtype: dns.TypeA, Answer: []dns.RR{test.CNAME(localQ + " 30 IN CNAME " + localQ)}}
	if err := test.SortAndCheck(m, tc); err != nil {
		t.Errorf("%v\n%s", err, m)
	}
}

// Member mode in the root server block (kubeadm's ".:53") answers the cluster
// domain given as its argument; without one it would match no federation name,
// so setup says what to write.
func TestParseMemberModeRootBlock(t *testing.T) {
	tests := []struct {
		input   string
		zones   []string
		errText string
	}{
		{"federation cluster.local {\n myfederation example.com\n}", []string{"cluster.local."}, ""},
		{"federation cluster.local in-addr.arpa {\n myfederation example.com\n}", []string{"cluster.local.", "in-addr.arpa."}, ""},
		{"federation {\n myfederation example.com\n}", nil, "Testfile:1 - Error during parsing: federation in member mode needs the cluster domain"},
		{"federation . {\n myfederation example.com\n}", nil, "federation cluster.local {"},
	}
	for i, tc := range tests {
		c := caddy.NewTestController("dns", tc.input)
		c.ServerBlockKeys = []string{"."}
		l, err := parseMemberMode(c)
		if tc.errText != "" {
			if err == nil || !strings.Contains(err.Error(), tc.errText) {
				t.Errorf("test %d: error %v, want %q", i, err, tc.errText)
			}
			continue
		}
		if err != nil || !slices.Equal(l.Zones, tc.zones) {
			t.Errorf("test %d: error %v, zones %v, want %v", i, err, l.Zones, tc.zones)
		}
	}
}

// TestLocalTwoOPT: a query with two OPT records is malformed (RFC 6891
// §6.1.1) and gets FORMERR, not an answer, as from the authoritative handler.
func TestLocalTwoOPT(t *testing.T) {
	l := newTestLocal(t, seed()[3])
	r := new(dns.Msg)
	r.SetQuestion(localQ, dns.TypeA)
	r.SetEdns0(1232, false)
	r.Extra = append(r.Extra, r.Extra[0])
	w := &captureWriter{}
	rcode, err := l.ServeDNS(context.Background(), w, r)
	if err != nil || rcode != dns.RcodeFormatError {
		t.Errorf("ServeDNS = %d, %v; want FORMERR", rcode, err)
	}
}
