package integration

import (
	"context"
	"fmt"
	"testing"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
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
//
// With root, the server block is kubeadm's: the root zone, with the cluster
// domain given to federation and kubernetes as their argument.
func startMemberDNS(t *testing.T, c *lab.Cluster, root bool) *lab.CoreDNS {
	t.Helper()
	block, fedZone := clusterDomain, ""
	if root {
		block, fedZone = ".", " "+clusterDomain
	}
	corefile := func(p lab.Ports) string {
		return fmt.Sprintf(`%[11]s:%[2]d {
    bind 127.0.0.1
    federation%[12]s {
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
			p.Ready, p.Health, p.Metrics, dnsAddr, block, fedZone)
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
	d := startMemberDNS(t, eu, false)

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

// TestMemberModeKeepsClusterNames: in kubeadm's server block (the root zone,
// federation and kubernetes given cluster.local), the endpoint of a headless
// Service web in a namespace named like the federation,
// web-0.web.myfederation.svc.cluster.local, has the shape of a federation name
// and stays the cluster's: its A record, and NODATA for AAAA, come from the
// kubernetes plugin. A name of that shape the cluster does not have, and the
// federation name of the seed Service, are member mode's.
func TestMemberModeKeepsClusterNames(t *testing.T) {
	healthy(t)
	eu := cluster(t, europe)
	d := startMemberDNS(t, eu, true)

	const ns, svcName, host, ip = lab.SeedFederation, "web", "web-0", "10.9.0.5"
	headless(t, eu, ns, svcName, host, ip)

	hostName := fmt.Sprintf("%s.%s.%s.svc.%s.", host, svcName, ns, clusterDomain)
	eventuallyAt(t, d, convergeTimeout, hostName, dns.TypeA, positive(a(hostName, ip)))
	expectAt(t, d, hostName, dns.TypeAAAA, reply{rcode: dns.RcodeSuccess, soa: clusterDomain + "."})

	// The cluster has no web-1: member mode's CNAME into the federation, whose
	// name server has no such Service either.
	absent := fmt.Sprintf("web-1.%s.%s.svc.%s.", svcName, ns, clusterDomain)
	target := fmt.Sprintf("web-1.%s.%s.svc.%s.%s.%s.", svcName, ns, eu.Zones[0], eu.Region, lab.SeedDomain)
	expectAt(t, d, absent, dns.TypeA, reply{rcode: dns.RcodeNameError, answer: []string{cname(absent, target)}, soa: lab.SeedDomain + "."})

	// The seed Service's federation name is local-first in this block too.
	svc, err := eu.Client.CoreV1().Services(lab.SeedNamespace).Get(t.Context(), lab.SeedService, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fedName := fmt.Sprintf("%s.%s.%s.svc.%s.", lab.SeedService, lab.SeedNamespace, lab.SeedFederation, clusterDomain)
	localName := fmt.Sprintf("%s.%s.svc.%s.", lab.SeedService, lab.SeedNamespace, clusterDomain)
	eventuallyAt(t, d, convergeTimeout, fedName, dns.TypeA, positive(cname(fedName, localName), a(localName, svc.Spec.ClusterIP)))
}

// headless creates, in member c, the namespace ns and a headless Service name
// in it with one ready endpoint host at ip, as a StatefulSet's pod and the
// EndpointSlice controller would leave them; the test's cleanup removes them.
func headless(t *testing.T, c *lab.Cluster, ns, name, host, ip string) {
	t.Helper()
	ctx := t.Context()
	_, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.ServiceSpec{
			ClusterIP: corev1.ClusterIPNone,
			Ports:     []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}},
		},
	}
	if _, err := c.Client.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ready := true
	es := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-abcde", Labels: map[string]string{
			discoveryv1.LabelServiceName: name,
			discoveryv1.LabelManagedBy:   "endpointslice-controller.k8s.io",
		}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{
			Addresses:  []string{ip},
			Hostname:   &host,
			Conditions: discoveryv1.EndpointConditions{Ready: &ready},
		}},
		Ports: []discoveryv1.EndpointPort{{Name: &svc.Spec.Ports[0].Name, Port: &svc.Spec.Ports[0].Port}},
	}
	if _, err := c.Client.DiscoveryV1().EndpointSlices(ns).Create(ctx, es, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		c.Client.DiscoveryV1().EndpointSlices(ns).Delete(ctx, es.Name, metav1.DeleteOptions{})
		c.Client.CoreV1().Services(ns).Delete(ctx, name, metav1.DeleteOptions{})
		// No namespace controller runs in the lab: the namespace stays
		// Terminating, empty, and unlabelled Services were never federated.
		c.Client.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{})
	})
}
