package federation

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"

	"github.com/coredns-fed/coredns-fed/internal/fixture"

	"github.com/miekg/dns"
	core "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
)

// cluster describes one fake member for tests.
type cluster struct {
	name  string
	nodes []Place
	objs  []runtime.Object
}

// slice returns the EndpointSlice "abcde" of the federated Service ns/svc.
func slice(ns, svc string, ready ...*bool) *discovery.EndpointSlice {
	return fixture.EndpointSlice(fixture.Service(ns, svc, "myfederation"), "abcde", ready...)
}

// clusterIPService is a federated Service that is not a load balancer, with a
// stale ingress status.
func clusterIPService(ns, name, ip string) *core.Service {
	s := fixture.Service(ns, name, "myfederation", ip)
	s.Spec.Type = core.ServiceTypeClusterIP
	return s
}

// seed returns the four clusters of the seed walkthrough, each with a healthy nginx shard.
func seed() []cluster {
	var cs []cluster
	for i, r := range []string{"asia-east1", "europe-west1", "us-east1", "us-central1"} {
		cs = append(cs, cluster{
			name:  "gce-" + r,
			nodes: []Place{{r, r + "-b"}},
			objs: []runtime.Object{
				fixture.Service("mynamespace", "nginx", "myfederation", fmt.Sprintf("192.0.2.%d", i+1)),
				slice("mynamespace", "nginx", fixture.Ready),
			},
		})
	}
	return cs
}

// newTestFederation starts a Federation on fake clientsets and waits for its first
// snapshot. It returns the clients so a test can change objects.
func newTestFederation(t testing.TB, clusters []cluster, opts ...func(*Federation)) (*Federation, map[string]kubernetes.Interface) {
	t.Helper()
	f := New()
	f.Zone = "example.com."
	f.Fed = "myfederation"
	f.ns = []nameServer{{name: "ns1.example.com.", addrs: nil}}
	clients := map[string]kubernetes.Interface{}
	for _, c := range clusters {
		objs := c.objs
		for i, p := range c.nodes {
			objs = append(objs, fixture.Node(fmt.Sprintf("%s-node-%d", c.name, i), p.Region, p.Zone))
		}
		client := fake.NewClientset(objs...)
		clients[c.name] = client
		f.Members = append(f.Members, &Member{Name: c.name, client: client})
	}
	for _, o := range opts {
		o(f)
	}
	f.soa = soaConfig{mname: f.ns[0].name, rname: "hostmaster.example.com.", refresh: 7200, retry: 1800, expire: 86400, minttl: f.TTL}
	f.Start()
	t.Cleanup(f.Stop)
	waitFor(t, "first snapshot", func() bool { return f.Ready() })
	return f, clients
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	fixture.WaitFor(t, 10*time.Second, what, cond)
}

func query(t *testing.T, f *Federation, name string, qtype uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	rec := dnstest.NewRecorder(&test.ResponseWriter{})
	rcode, err := f.ServeDNS(context.Background(), rec, m)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if rec.Msg == nil {
		r := new(dns.Msg)
		r.SetRcode(m, rcode)
		return r
	}
	return rec.Msg
}

// sorted orders the expected sections the way test.SortAndCheck orders the
// response, so cases can list records in reading order.
func sorted(tc test.Case) test.Case {
	for _, sec := range []*[]dns.RR{&tc.Answer, &tc.Ns, &tc.Extra} {
		*sec = append([]dns.RR(nil), *sec...)
		sort.Sort(test.RRSet(*sec))
	}
	return tc
}

func check(t *testing.T, f *Federation, cases []test.Case) {
	t.Helper()
	for _, tc := range cases {
		tc = sorted(tc)
		resp := query(t, f, tc.Qname, tc.Qtype)
		if err := test.SortAndCheck(resp, tc); err != nil {
			t.Errorf("%s %s: %v\n%s", tc.Qname, dns.TypeToString[tc.Qtype], err, resp)
		}
	}
}

// eventually re-checks cases until they pass: answers follow object changes
// through the informers asynchronously.
func eventually(t *testing.T, f *Federation, cases []test.Case) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ok := true
		for _, tc := range cases {
			if test.SortAndCheck(query(t, f, tc.Qname, tc.Qtype), sorted(tc)) != nil {
				ok = false
				break
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			check(t, f, cases) // report the differences
			t.FailNow()
		}
		time.Sleep(5 * time.Millisecond)
	}
}

const soaRR = "example.com. 30 IN SOA ns1.example.com. hostmaster.example.com. 1 7200 1800 86400 30"

func nginx(level string) string {
	return "nginx.mynamespace.myfederation.svc." + level + "example.com."
}
