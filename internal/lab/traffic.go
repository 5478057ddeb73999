package lab

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
)

// DrainAnnotation takes a shard out of coredns-fed's answers while its
// endpoints stay ready (plugin/federation/README.md, Traffic policy).
const DrainAnnotation = "coredns-fed.io/drain"

// SetDrain sets (on) or removes the drain annotation of every federated
// Service of the named member, as an operator would with kubectl annotate.
func (l *Lab) SetDrain(ctx context.Context, cluster string, on bool) error {
	c, err := l.Cluster(cluster)
	if err != nil {
		return err
	}
	svcs := c.Client.CoreV1().Services(l.cfg.Namespace)
	list, err := svcs.List(ctx, metav1.ListOptions{LabelSelector: FederationLabel + "=" + l.cfg.Federation})
	if err != nil {
		return fmt.Errorf("listing services in %s: %w", c.Name, err)
	}
	for _, item := range list.Items {
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			s, err := svcs.Get(ctx, item.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if on {
				if s.Annotations == nil {
					s.Annotations = map[string]string{}
				}
				s.Annotations[DrainAnnotation] = "true"
			} else {
				delete(s.Annotations, DrainAnnotation)
			}
			_, err = svcs.Update(ctx, s, metav1.UpdateOptions{})
			return err
		})
		if err != nil {
			return fmt.Errorf("annotating service %s/%s in %s: %w", l.cfg.Namespace, item.Name, c.Name, err)
		}
	}
	return nil
}
