package bench

import (
	"testing"

	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/coredns-fed/coredns-fed/internal/lab"
)

// TestEndpointSliceLabels: the benchmark's slices carry their Service's
// labels and the EndpointSlice controller's own, as in a real cluster.
func TestEndpointSliceLabels(t *testing.T) {
	svc := federatedService(7)
	svc.UID = types.UID("uid-7")
	svc.Spec.ClusterIP = "10.96.0.7"
	for _, s := range []*discoveryv1.EndpointSlice{endpointSlice(1, 7, svc, true), endpointSlice(1, 7, nil, true)} {
		want := map[string]string{
			lab.FederationLabel:          Federation,
			"app":                        ServiceName(7),
			discoveryv1.LabelServiceName: ServiceName(7),
			discoveryv1.LabelManagedBy:   lab.ManagedBy,
		}
		if len(s.Labels) != len(want) {
			t.Errorf("labels %v, want %v", s.Labels, want)
		}
		for k, v := range want {
			if got, ok := s.Labels[k]; !ok || got != v {
				t.Errorf("label %s = %q, want %q", k, got, v)
			}
		}
	}
	if refs := endpointSlice(1, 7, svc, true).OwnerReferences; len(refs) != 1 || refs[0].UID != svc.UID || refs[0].Kind != "Service" || !*refs[0].Controller {
		t.Errorf("owner references %+v, want the Service as controller", refs)
	}
}
