package integration

import (
	"context"
	"fmt"
	"testing"

	"github.com/miekg/dns"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/coredns-fed/coredns-fed/internal/lab"
)

// clusterDomain is the member clusters' own DNS domain.
const clusterDomain = "cluster.local"

// memberTTL is the federation plugin's default TTL for member mode's CNAME.
const memberTTL = 30

// startMemberDNS starts a second coredns-fed as member c's cluster DNS: the
// kubernetes plugin answers cluster.local with federation in member mode in
// front of it, and a stub domain forwards the federation's domain to the
// lab's coredns-fed. federation watches c with its reader kubeconfig (the
// ServiceAccount of deploy/member/rbac.yaml: Services, EndpointSlices,
// Nodes); the kubernetes plugin also watches Namespaces, which that role does
// not grant, so it gets c's admin kubeconfig.
func startMemberDNS(t *testing.T, c *lab.Cluster) *lab.CoreDNS {
	t.Helper()
	corefile := func(p lab.Ports) string {
		return fmt.Sprintf(`%[1]s:%[2]d {
    bind 127.0.0.1
    federation {
        %[3]s %[4]s
        kubeconfig %[5]s
    }
    kubernetes %[1]s {
        kubeconfig %[6]s
    }
    ready 127.0.0.1:%[7]d
    health 127.0.0.1:%[8]d
    prometheus 127.0.0.1:%[9]d
    errors
}

%[4]s:%[2]d {
    bind 127.0.0.1
    forward . %[10]s
    errors
}
`, clusterDomain, p.DNS, lab.SeedFederation, lab.SeedDomain, c.ReaderKubeconfig, c.AdminKubeconfig,
			p.Ready, p.Health, p.Metrics, dnsAddr)
	}
	ctx, cancel := context.WithTimeout(t.Context(), convergeTimeout*3)
	defer cancel()
	d, err := fed.StartServer(ctx, "member-"+c.Name, corefile)
	if err != nil {
		t.Fatalf("starting %s's cluster DNS: %v", c.Name, err)
	}
	t.Cleanup(d.Stop)
	return d
}

// TestMemberModeLocalFirst: europe's own cluster DNS, a coredns-fed with
// kubernetes and federation in member mode, answers the name a pod's search
// path makes of nginx.mynamespace.myfederation with the local Service while
// europe's endpoints are ready, and with a CNAME into the federation's
// zone → region → global chain, resolved through the stub domain, once they
// are not. Other names are the kubernetes plugin's.
func TestMemberModeLocalFirst(t *testing.T) {
	healthy(t)
	eu := cluster(t, europe)
	d := startMemberDNS(t, eu)

	svc, err := eu.Client.CoreV1().Services(lab.SeedNamespace).Get(t.Context(), lab.SeedService, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	clusterIP := svc.Spec.ClusterIP
	if clusterIP == "" || clusterIP == "None" {
		t.Fatalf("%s/%s in %s has no ClusterIP", lab.SeedNamespace, lab.SeedService, eu.Name)
	}
	fedName := fmt.Sprintf("%s.%s.%s.svc.%s.", lab.SeedService, lab.SeedNamespace, lab.SeedFederation, clusterDomain)
	localName := fmt.Sprintf("%s.%s.svc.%s.", lab.SeedService, lab.SeedNamespace, clusterDomain)
	local := positive(cname(fedName, localName), a(localName, clusterIP))

	eventuallyAt(t, d, convergeTimeout, fedName, dns.TypeA, local)
	// Names that are not federation queries are the kubernetes plugin's.
	expectAt(t, d, localName, dns.TypeA, positive(a(localName, clusterIP)))
	api, err := eu.Client.CoreV1().Services("default").Get(t.Context(), "kubernetes", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	apiName := "kubernetes.default.svc." + clusterDomain + "."
	expectAt(t, d, apiName, dns.TypeA, positive(a(apiName, api.Spec.ClusterIP)))
	expectAt(t, d, "nosuch."+lab.SeedNamespace+".svc."+clusterDomain+".", dns.TypeA, nxdomainIn(clusterDomain+"."))
	// The stub domain reaches the federation's name server.
	expectAt(t, d, globalName(), dns.TypeA, positive(as(globalName(), fed.Clusters()...)...))

	setReady(t, europe, false)
	t.Cleanup(func() { setReady(t, europe, true) })

	zone, region := eu.Zones[0], regionName(eu.Region)
	remote := zoneRegionName(zone, eu.Region)
	others := except(europe)
	chain := append([]string{cname(fedName, remote), cname(remote, region), cname(region, globalName())},
		as(globalName(), others...)...)
	r := eventuallyAt(t, d, convergeTimeout, fedName, dns.TypeA, positive(chain...))
	if ttl := r.Answer[0].Header().Ttl; ttl != memberTTL {
		t.Errorf("CNAME %s → %s has TTL %d, want %d", fedName, remote, ttl, memberTTL)
	}
	expectAt(t, d, localName, dns.TypeA, positive(a(localName, clusterIP)))
	wantDig := append([]digRR{
		{fedName, "CNAME", remote},
		{remote, "CNAME", region},
		{region, "CNAME", globalName()},
	}, digAs(globalName(), others...)...)
	checkDig(t, digAnswerAt(t, d.Addr, fedName), wantDig)

	setReady(t, europe, true)
	eventuallyAt(t, d, convergeTimeout, fedName, dns.TypeA, local)
}
