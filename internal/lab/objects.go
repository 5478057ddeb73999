package lab

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
)

// Labels the lab writes and the federation plugin reads.
const (
	RegionLabel     = "topology.kubernetes.io/region"
	ZoneLabel       = "topology.kubernetes.io/zone"
	FederationLabel = "coredns-fed.io/federation"
)

// The EndpointSlice controller's own labels, written as it would write them.
const (
	serviceNameLabel = discoveryv1.LabelServiceName
	managedByLabel   = discoveryv1.LabelManagedBy
	// ManagedBy is the EndpointSlice controller's value of managedByLabel.
	ManagedBy = "endpointslice-controller.k8s.io"
)

// EndpointSliceLabels returns the labels the EndpointSlice controller gives
// the slices of svc: every label of the Service except the three it reserves
// for itself, service.kubernetes.io/headless when the Service is headless,
// kubernetes.io/service-name and endpointslice.kubernetes.io/managed-by (as
// setEndpointSliceLabels in k8s.io/endpointslice does). A Service read from
// the API has a ClusterIP or None; one built in memory without a ClusterIP
// does not count as headless.
func EndpointSliceLabels(svc *corev1.Service) map[string]string {
	labels := make(map[string]string, len(svc.Labels)+2)
	for k, v := range svc.Labels {
		switch k {
		case serviceNameLabel, managedByLabel, corev1.IsHeadlessService:
			continue
		}
		labels[k] = v
	}
	if svc.Spec.ClusterIP == corev1.ClusterIPNone {
		labels[corev1.IsHeadlessService] = ""
	}
	labels[serviceNameLabel] = svc.Name
	labels[managedByLabel] = ManagedBy
	return labels
}

// NodeName is the name of the lab's Node for the member in zone.
func (c *Cluster) NodeName(zone string) string {
	return c.Name + "-" + zone
}

// AddNode creates a Node in zone carrying the member's region and the zone
// as topology labels, the way a kubelet registers itself on a cloud. The
// member becomes a shard of that zone.
func (c *Cluster) AddNode(ctx context.Context, zone string) error {
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: c.NodeName(zone),
			Labels: map[string]string{
				RegionLabel:            c.Region,
				ZoneLabel:              zone,
				corev1.LabelHostname:   c.NodeName(zone),
				corev1.LabelOSStable:   "linux",
				corev1.LabelArchStable: "amd64",
			},
		},
	}
	_, err := c.Client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// RemoveNode deletes the member's Node in zone.
func (c *Cluster) RemoveNode(ctx context.Context, zone string) error {
	err := c.Client.CoreV1().Nodes().Delete(ctx, c.NodeName(zone), metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

func (c *Cluster) ensureNamespace(ctx context.Context, name string) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	_, err := c.Client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// AddService creates the federated Service namespace/name in the member, as
// type LoadBalancer, and then plays the two controllers a real cluster runs:
// the cloud controller fills status.loadBalancer.ingress with the member's
// backend address, and the EndpointSlice controller writes a slice whose
// endpoints are ready when the member's endpoints are (see SetReady).
func (c *Cluster) AddService(ctx context.Context, namespace, name, federation string) error {
	if err := c.ensureNamespace(ctx, namespace); err != nil {
		return err
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{
			Name:      name,
			Namespace: namespace,
			Labels:    map[string]string{FederationLabel: federation, "app": name},
		},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeLoadBalancer,
			Selector: map[string]string{"app": name},
			Ports: []corev1.ServicePort{{
				Name:       "http",
				Port:       80,
				TargetPort: intstr.FromInt32(80),
				Protocol:   corev1.ProtocolTCP,
			}},
		},
	}
	created, err := c.Client.CoreV1().Services(namespace).Create(ctx, svc, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		created, err = c.Client.CoreV1().Services(namespace).Get(ctx, name, metav1.GetOptions{})
	}
	if err != nil {
		return fmt.Errorf("creating service %s/%s in %s: %w", namespace, name, c.Name, err)
	}
	if err := c.publishLoadBalancer(ctx, created); err != nil {
		return err
	}
	return c.writeEndpointSlice(ctx, created)
}

// publishLoadBalancer sets the Service's load-balancer ingress to the
// member's backend address, through the status subresource.
func (c *Cluster) publishLoadBalancer(ctx context.Context, svc *corev1.Service) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := c.Client.CoreV1().Services(svc.Namespace).Get(ctx, svc.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		cur.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: c.Addr}}
		_, err = c.Client.CoreV1().Services(svc.Namespace).UpdateStatus(ctx, cur, metav1.UpdateOptions{})
		return err
	})
}

// writeEndpointSlice creates the Service's EndpointSlice unless one exists,
// labelled and owned as the EndpointSlice controller makes them.
func (c *Cluster) writeEndpointSlice(ctx context.Context, svc *corev1.Service) error {
	slices, err := c.Client.DiscoveryV1().EndpointSlices(svc.Namespace).List(ctx, metav1.ListOptions{
		LabelSelector: serviceNameLabel + "=" + svc.Name,
	})
	if err != nil {
		return err
	}
	if len(slices.Items) > 0 {
		return nil
	}
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName:    svc.Name + "-",
			Namespace:       svc.Namespace,
			Labels:          EndpointSliceLabels(svc),
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(svc, corev1.SchemeGroupVersion.WithKind("Service"))},
		},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   c.endpoints(c.Ready()),
		Ports: []discoveryv1.EndpointPort{{
			Name:     ptr.To("http"),
			Port:     ptr.To(int32(80)),
			Protocol: ptr.To(corev1.ProtocolTCP),
		}},
	}
	_, err = c.Client.DiscoveryV1().EndpointSlices(svc.Namespace).Create(ctx, slice, metav1.CreateOptions{})
	return err
}

// endpoints returns one endpoint per zone of the member, standing for one
// pod on the zone's Node.
func (c *Cluster) endpoints(ready bool) []discoveryv1.Endpoint {
	var eps []discoveryv1.Endpoint
	for i, zone := range c.Zones {
		eps = append(eps, discoveryv1.Endpoint{
			Addresses: []string{fmt.Sprintf("10.%d.0.%d", 100+c.index, 10+i)},
			Conditions: discoveryv1.EndpointConditions{
				Ready:       ptr.To(ready),
				Serving:     ptr.To(ready),
				Terminating: ptr.To(false),
			},
			NodeName: ptr.To(c.NodeName(zone)),
			Zone:     ptr.To(zone),
		})
	}
	return eps
}

// RemoveService deletes the Service namespace/name from the member, and its
// EndpointSlices as the garbage collector would.
func (c *Cluster) RemoveService(ctx context.Context, namespace, name string) error {
	err := c.Client.CoreV1().Services(namespace).Delete(ctx, name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	return c.Client.DiscoveryV1().EndpointSlices(namespace).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{
		LabelSelector: serviceNameLabel + "=" + name,
	})
}

// SetReady marks the endpoints of every Service the lab manages in the
// member's namespace ready or not ready, as the EndpointSlice controller
// does when pods pass or fail their readiness probes. Services added later
// follow the same state.
func (c *Cluster) SetReady(ctx context.Context, namespace string, ready bool) error {
	c.mu.Lock()
	c.ready = ready
	c.mu.Unlock()
	slices, err := c.Client.DiscoveryV1().EndpointSlices(namespace).List(ctx, metav1.ListOptions{
		LabelSelector: managedByLabel + "=" + ManagedBy,
	})
	if err != nil {
		return err
	}
	for _, s := range slices.Items {
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			cur, err := c.Client.DiscoveryV1().EndpointSlices(namespace).Get(ctx, s.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			cur.Endpoints = c.endpoints(ready)
			_, err = c.Client.DiscoveryV1().EndpointSlices(namespace).Update(ctx, cur, metav1.UpdateOptions{})
			return err
		})
		if err != nil {
			return fmt.Errorf("updating EndpointSlice %s/%s in %s: %w", namespace, s.Name, c.Name, err)
		}
	}
	return nil
}

// Ready reports whether the member's endpoints are currently marked ready.
func (c *Cluster) Ready() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ready
}
