package chaos

import (
	"context"
	"fmt"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/coredns-fed/coredns-fed/internal/lab"
)

// shards writes the readiness of the Services' EndpointSlices in every
// member directly: it keeps each slice as the last update returned it, so a
// change is one request.
type shards struct {
	env     *Env
	clients []kubernetes.Interface
	// slices[m][s] is Service s's EndpointSlice in member m.
	slices [][]*discoveryv1.EndpointSlice
}

// readyShards reads every Service's EndpointSlice from every member, marks
// every endpoint ready, and waits until each of servers answers every
// Service's global name with every member's address: where a scenario starts.
func readyShards(ctx context.Context, env *Env, servers ...*lab.CoreDNS) (*shards, error) {
	sh, err := newShards(ctx, env)
	if err != nil {
		return nil, err
	}
	if err := sh.allReady(ctx); err != nil {
		return nil, err
	}
	for _, s := range servers {
		if err := waitAllAnswered(ctx, env, s.Addr, time.Minute); err != nil {
			return nil, err
		}
	}
	return sh, nil
}

// memberIndex returns the position of the member name among the lab's clusters.
func memberIndex(env *Env, name string) (int, error) {
	for m, c := range env.Lab.Clusters() {
		if c.Name == name {
			return m, nil
		}
	}
	return -1, fmt.Errorf("no member %q", name)
}

// newShards reads every Service's EndpointSlice from every member.
func newShards(ctx context.Context, env *Env) (*shards, error) {
	sh := &shards{env: env}
	ns := env.Lab.Config().Namespace
	for _, c := range env.Lab.Clusters() {
		client, _, err := lab.ClientFor(c.AdminKubeconfig, func(rc *rest.Config) {
			rc.QPS, rc.Burst = -1, 0 // no client-side rate limit
			rc.UserAgent = "fedchaos"
			rc.ContentType = "application/vnd.kubernetes.protobuf"
		})
		if err != nil {
			return nil, err
		}
		sh.clients = append(sh.clients, client)
		var row []*discoveryv1.EndpointSlice
		for _, svc := range env.Services {
			list, err := client.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{
				LabelSelector: discoveryv1.LabelServiceName + "=" + svc,
			})
			if err != nil {
				return nil, fmt.Errorf("%s: %w", c.Name, err)
			}
			if len(list.Items) != 1 {
				return nil, fmt.Errorf("%s: Service %s has %d EndpointSlices, want 1", c.Name, svc, len(list.Items))
			}
			row = append(row, &list.Items[0])
		}
		sh.slices = append(sh.slices, row)
	}
	return sh, nil
}

// ready reports whether member m's copy of Service s is ready, as last
// written.
func (sh *shards) ready(m, s int) bool {
	for _, ep := range sh.slices[m][s].Endpoints {
		if ep.Conditions.Ready != nil && *ep.Conditions.Ready {
			return true
		}
	}
	return false
}

// set writes member m's copy of Service s ready or not, and returns when the
// request was sent and when the API server acknowledged it.
func (sh *shards) set(ctx context.Context, m, s int, ready bool) (sent, acked time.Time, err error) {
	cur := sh.slices[m][s].DeepCopy()
	for k := range cur.Endpoints {
		r := ready
		cur.Endpoints[k].Conditions.Ready = &r
		cur.Endpoints[k].Conditions.Serving = &r
	}
	sent = time.Now()
	out, err := sh.clients[m].DiscoveryV1().EndpointSlices(cur.Namespace).Update(ctx, cur, metav1.UpdateOptions{})
	acked = time.Now()
	if err != nil {
		return sent, acked, fmt.Errorf("%s: EndpointSlice %s: %w", sh.env.Lab.Clusters()[m].Name, cur.Name, err)
	}
	sh.slices[m][s] = out
	return sent, acked, nil
}

// reread fetches member m's slices again, after its API server restarted.
func (sh *shards) reread(ctx context.Context, m int) error {
	for s, cur := range sh.slices[m] {
		out, err := sh.clients[m].DiscoveryV1().EndpointSlices(cur.Namespace).Get(ctx, cur.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		sh.slices[m][s] = out
	}
	return nil
}

// allReady writes every shard that is not ready back to ready.
func (sh *shards) allReady(ctx context.Context) error {
	for m := range sh.slices {
		for s := range sh.slices[m] {
			if sh.ready(m, s) {
				continue
			}
			if _, _, err := sh.set(ctx, m, s, true); err != nil {
				return err
			}
		}
	}
	return nil
}
