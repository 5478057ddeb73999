package lab

import (
	"maps"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestEndpointSliceLabels(t *testing.T) {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "nginx", Labels: map[string]string{
			FederationLabel:                          "myfederation",
			"app":                                    "nginx",
			"kubernetes.io/service-name":             "other",
			"endpointslice.kubernetes.io/managed-by": "someone",
			"service.kubernetes.io/headless":         "",
		}},
		Spec: corev1.ServiceSpec{ClusterIP: "10.0.0.7"},
	}
	want := map[string]string{
		FederationLabel:                          "myfederation",
		"app":                                    "nginx",
		"kubernetes.io/service-name":             "nginx",
		"endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
	}
	if got := EndpointSliceLabels(svc); !maps.Equal(got, want) {
		t.Errorf("labels %v, want %v", got, want)
	}
	if _, ok := svc.Labels["app"]; !ok || svc.Labels["kubernetes.io/service-name"] != "other" {
		t.Error("the Service's own labels changed")
	}

	svc.Spec.ClusterIP = corev1.ClusterIPNone
	want["service.kubernetes.io/headless"] = ""
	if got := EndpointSliceLabels(svc); !maps.Equal(got, want) {
		t.Errorf("headless: labels %v, want %v", got, want)
	}
}
