package bench

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/coredns-fed/coredns-fed/internal/lab"
)

// adminClient returns a clientset for a member with the admin kubeconfig and
// no client-side rate limit: the benchmark writes tens of thousands of objects.
func adminClient(c *lab.Cluster) (kubernetes.Interface, error) {
	client, _, err := lab.ClientFor(c.AdminKubeconfig, func(rc *rest.Config) {
		rc.QPS, rc.Burst = -1, 0 // QPS < 0: no rate limiter
		rc.UserAgent = "fedbench"
		rc.ContentType = "application/vnd.kubernetes.protobuf"
	})
	return client, err
}

// federatedService is Service i as the lab's AddService writes one: type
// LoadBalancer, labelled into the federation. It asks for no NodePorts (a load
// balancer that reaches pods directly), which spares the apiserver one
// contended allocation per Service and changes nothing DNS sees.
func federatedService(i int) *corev1.Service {
	name := ServiceName(i)
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{
			Name:      name,
			Namespace: Namespace,
			Labels:    map[string]string{lab.FederationLabel: Federation, "app": name},
		},
		Spec: corev1.ServiceSpec{
			Type:                          corev1.ServiceTypeLoadBalancer,
			AllocateLoadBalancerNodePorts: ptr.To(false),
			Selector:                      map[string]string{"app": name},
			Ports: []corev1.ServicePort{{
				Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP,
			}},
		},
	}
}

// plainService is Service i as an application of the cluster holds it, outside
// any federation: type ClusterIP, labelled with its app only.
func plainService(i int) *corev1.Service {
	svc := federatedService(i)
	delete(svc.Labels, lab.FederationLabel)
	svc.Spec.Type = corev1.ServiceTypeClusterIP
	svc.Spec.AllocateLoadBalancerNodePorts = nil
	return svc
}

// SliceName is the name of Service i's EndpointSlice (fixed, so that flips
// can address it).
func SliceName(i int) string { return ServiceName(i) + "-1" }

// endpointSlice is Service i's slice in member m as the EndpointSlice
// controller writes it: two pods, ready or not, the Service's labels and its
// own, owned by svc. With svc nil (the synthetic part, where no API server
// gives the Service a UID) it carries the labels of federatedService(i) and
// no owner.
func endpointSlice(m, i int, svc *corev1.Service, ready bool) *discoveryv1.EndpointSlice {
	labelled := svc
	if labelled == nil {
		labelled = federatedService(i)
	}
	s := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Name:      SliceName(i),
			Namespace: Namespace,
			Labels:    lab.EndpointSliceLabels(labelled),
		},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports: []discoveryv1.EndpointPort{{
			Name: ptr.To("http"), Port: ptr.To(int32(8080)), Protocol: ptr.To(corev1.ProtocolTCP),
		}},
	}
	if svc != nil {
		s.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(svc, corev1.SchemeGroupVersion.WithKind("Service"))}
	}
	setEndpoints(s, m, i, ready)
	return s
}

// setEndpoints writes the slice's two endpoints with the given readiness.
func setEndpoints(s *discoveryv1.EndpointSlice, m, i int, ready bool) {
	s.Endpoints = s.Endpoints[:0]
	for k := range 2 {
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{
			Addresses: []string{fmt.Sprintf("172.%d.%d.%d", 16+m%16, i%256, 10+k)},
			Conditions: discoveryv1.EndpointConditions{
				Ready: ptr.To(ready), Serving: ptr.To(ready), Terminating: ptr.To(false),
			},
		})
	}
}

// Populate writes Services [from, to) of the topology into member m through
// its API, as a real cluster would hold them: the Service, its load-balancer
// status (the cloud controller's write) and its EndpointSlice (the
// EndpointSlice controller's), three requests each, from workers goroutines.
// Objects that exist already are left as they are. progress is called with the
// count of Services written so far.
func Populate(ctx context.Context, c *lab.Cluster, m, from, to, workers int, progress func(int64)) error {
	return PopulateMixed(ctx, c, m, from, to, workers, nil, progress)
}

// PopulateMixed is Populate where only the Services i for which federated(i)
// holds are federated (labelled, LoadBalancer, with their load-balancer
// status); the others are plain ClusterIP Services with their EndpointSlice,
// two requests each. A nil federated federates them all.
func PopulateMixed(ctx context.Context, c *lab.Cluster, m, from, to, workers int, federated func(int) bool, progress func(int64)) error {
	client, err := adminClient(c)
	if err != nil {
		return err
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: Namespace}}
	if _, err := client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("%s: namespace: %w", c.Name, err)
	}
	if err := extendServiceRange(ctx, client); err != nil {
		return fmt.Errorf("%s: %w", c.Name, err)
	}
	next := make(chan int)
	var done atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, workers)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for w := range workers {
		wg.Go(func() {
			for i := range next {
				if err := writeService(ctx, client, m, i, federated == nil || federated(i)); err != nil {
					errs[w] = fmt.Errorf("%s: %s: %w", c.Name, ServiceName(i), err)
					cancel()
					return
				}
				if n := done.Add(1); progress != nil {
					progress(n)
				}
			}
		})
	}
feed:
	for i := from; i < to; i++ {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return ctx.Err()
}

// ServiceCIDR is the extra Service range each member gets: the lab's own
// (--service-cluster-ip-range, a /24) holds 254 ClusterIPs, far fewer than the
// benchmark's Services.
const ServiceCIDR = "10.96.0.0/16"

// extendServiceRange adds ServiceCIDR to the member, as an administrator
// extends a cluster's Service range (networking.k8s.io/v1 ServiceCIDR, GA in
// Kubernetes 1.33). Without kube-controller-manager to mark it Ready the
// apiserver's allocator takes it as ready, and it does so once its informer has
// seen the object, which allocateRetry waits out.
func extendServiceRange(ctx context.Context, client kubernetes.Interface) error {
	cidr := &networkingv1.ServiceCIDR{
		ObjectMeta: metav1.ObjectMeta{Name: "fedbench"},
		Spec:       networkingv1.ServiceCIDRSpec{CIDRs: []string{ServiceCIDR}},
	}
	_, err := client.NetworkingV1().ServiceCIDRs().Create(ctx, cidr, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("ServiceCIDR %s: %w", ServiceCIDR, err)
	}
	return nil
}

// createService creates svc, retrying for a while when the apiserver has no
// ClusterIP to give yet (the new ServiceCIDR not yet in its allocator).
func createService(ctx context.Context, client kubernetes.Interface, svc *corev1.Service) (*corev1.Service, error) {
	for try := 0; ; try++ {
		out, err := client.CoreV1().Services(svc.Namespace).Create(ctx, svc, metav1.CreateOptions{})
		if err == nil || try == 50 || !strings.Contains(err.Error(), "failed to allocate") {
			return out, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func writeService(ctx context.Context, client kubernetes.Interface, m, i int, federated bool) error {
	want := plainService(i)
	if federated {
		want = federatedService(i)
	}
	svc, err := createService(ctx, client, want)
	if apierrors.IsAlreadyExists(err) {
		svc, err = client.CoreV1().Services(Namespace).Get(ctx, ServiceName(i), metav1.GetOptions{})
	}
	if err != nil {
		return err
	}
	if federated && len(svc.Status.LoadBalancer.Ingress) == 0 {
		svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: ServiceAddr(m, i).String()}}
		if svc, err = client.CoreV1().Services(Namespace).UpdateStatus(ctx, svc, metav1.UpdateOptions{}); err != nil {
			return err
		}
	}
	_, err = client.DiscoveryV1().EndpointSlices(Namespace).Create(ctx, endpointSlice(m, i, svc, Ready(m, i)), metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}
