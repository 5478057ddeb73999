package integration

import (
	"os"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/coredns-fed/coredns-fed/internal/lab"
)

// TestReaderIsLeastPrivilege: coredns-fed connects with the reader
// ServiceAccount's token from deploy/member/rbac.yaml, which may list and
// watch what federation reads and nothing more.
func TestReaderIsLeastPrivilege(t *testing.T) {
	corefile, err := os.ReadFile(fed.DNS().Corefile)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range fed.Clusters() {
		if !strings.Contains(string(corefile), "kubeconfig "+c.ReaderKubeconfig+"\n") {
			t.Errorf("Corefile does not use %s's reader kubeconfig:\n%s", c.Name, corefile)
		}
		if strings.Contains(string(corefile), c.AdminKubeconfig) {
			t.Errorf("Corefile uses %s's admin kubeconfig", c.Name)
		}
	}

	for _, c := range fed.Clusters() {
		t.Run(c.Name, func(t *testing.T) {
			reader, _, err := lab.ClientFor(c.ReaderKubeconfig)
			if err != nil {
				t.Fatal(err)
			}
			ctx := t.Context()

			if _, err := reader.CoreV1().Services("").List(ctx, metav1.ListOptions{}); err != nil {
				t.Errorf("listing services: %v", err)
			}
			if _, err := reader.DiscoveryV1().EndpointSlices("").List(ctx, metav1.ListOptions{}); err != nil {
				t.Errorf("listing endpointslices: %v", err)
			}
			if _, err := reader.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); err != nil {
				t.Errorf("listing nodes: %v", err)
			}

			svc := &corev1.Service{
				ObjectMeta: metav1.ObjectMeta{Name: "intruder", Namespace: lab.SeedNamespace},
				Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}},
			}
			_, err = reader.CoreV1().Services(lab.SeedNamespace).Create(ctx, svc, metav1.CreateOptions{})
			if !apierrors.IsForbidden(err) {
				t.Errorf("creating a service: got %v, want Forbidden", err)
			}
			err = reader.CoreV1().Services(lab.SeedNamespace).Delete(ctx, lab.SeedService, metav1.DeleteOptions{})
			if !apierrors.IsForbidden(err) {
				t.Errorf("deleting a service: got %v, want Forbidden", err)
			}
			_, err = reader.CoreV1().Secrets(lab.ReaderNamespace).List(ctx, metav1.ListOptions{})
			if !apierrors.IsForbidden(err) {
				t.Errorf("listing secrets: got %v, want Forbidden", err)
			}
		})
	}
}
