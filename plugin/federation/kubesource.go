package federation

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	core "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	meta "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
)

// pingInterval is how often a member's API server is asked for /version, so that
// a member whose watches are quiet still shows whether it is reachable.
const pingInterval = 5 * time.Second

// kubeSource is a Source that watches a member's API server with client-go
// informers: federated Services (selected by label on the server side), their
// EndpointSlices, and Nodes (for topology, unless it is configured). Objects are
// stored as slim copies (object.go).
type kubeSource struct {
	member   string // named in client-go's log lines
	client   kubernetes.Interface
	ping     func(context.Context) error // nil for clients without a REST endpoint (tests)
	services cache.SharedIndexInformer
	slices   cache.SharedIndexInformer
	nodes    cache.SharedIndexInformer // nil when topology is configured

	mu    sync.Mutex
	ready map[string]int // namespace/name -> EndpointSlices with a ready endpoint
	ev    Events         // set by Run
	// regs are the event handlers' registrations, set by Run: synced once
	// the handlers were given every object of the first lists, so that the
	// ready index is whole when the member counts as synced.
	regs []cache.ResourceEventHandlerRegistration
}

// restConfig loads the member's client configuration; errors name the member and path.
func restConfig(m *Member) (*rest.Config, error) {
	if m.InCluster {
		cfg, err := rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("member %s: incluster: %w", m.Name, err)
		}
		return cfg, nil
	}
	rules := &clientcmd.ClientConfigLoadingRules{ExplicitPath: m.Kubeconfig}
	overrides := &clientcmd.ConfigOverrides{CurrentContext: m.Context}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("member %s: kubeconfig %s: %w", m.Name, m.Kubeconfig, err)
	}
	return cfg, nil
}

// connect builds the member's client from its configuration.
func connect(m *Member) (kubernetes.Interface, func(context.Context) error, error) {
	cfg, err := restConfig(m)
	if err != nil {
		return nil, nil, err
	}
	cfg.UserAgent = "coredns-fed/" + m.Name
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("member %s: %w", m.Name, err)
	}
	rc := client.Discovery().RESTClient()
	ping := func(ctx context.Context) error {
		return rc.Get().AbsPath("/version").Do(ctx).Error()
	}
	return client, ping, nil
}

// newKubeSource creates the informers of client. Services and EndpointSlices are
// selected by sel on the server side: the EndpointSlice controller copies a
// Service's labels onto its slices, so the slices of Services that are not
// federated are never listed, watched or kept.
func newKubeSource(member string, client kubernetes.Interface, ping func(context.Context) error, sel labels.Selector, watchNodes bool) *kubeSource {
	k := &kubeSource{member: member, client: client, ping: ping, ready: map[string]int{}}
	selector := sel.String()
	c := client
	k.services = newInformer(
		untilReached(k, func(ctx context.Context, o meta.ListOptions) (runtime.Object, error) {
			o.LabelSelector = selector
			return c.CoreV1().Services("").List(ctx, o)
		}),
		untilReached(k, func(ctx context.Context, o meta.ListOptions) (watch.Interface, error) {
			o.LabelSelector = selector
			return c.CoreV1().Services("").Watch(ctx, o)
		}),
		c, &core.Service{}, toServiceLabelled(federationKey(sel)))
	k.slices = newInformer(
		untilReached(k, func(ctx context.Context, o meta.ListOptions) (runtime.Object, error) {
			o.LabelSelector = selector
			return c.DiscoveryV1().EndpointSlices("").List(ctx, o)
		}),
		untilReached(k, func(ctx context.Context, o meta.ListOptions) (watch.Interface, error) {
			o.LabelSelector = selector
			return c.DiscoveryV1().EndpointSlices("").Watch(ctx, o)
		}),
		c, &discovery.EndpointSlice{}, toEndpointSlice)
	if watchNodes {
		k.nodes = newInformer(
			untilReached(k, func(ctx context.Context, o meta.ListOptions) (runtime.Object, error) {
				return c.CoreV1().Nodes().List(ctx, o)
			}),
			untilReached(k, func(ctx context.Context, o meta.ListOptions) (watch.Interface, error) {
				return c.CoreV1().Nodes().Watch(ctx, o)
			}),
			c, &core.Node{}, toNode)
	}
	return k
}

// Retries of a list or watch request that reached no API server.
const (
	retryFirst = 250 * time.Millisecond
	retryMax   = 2 * time.Second
)

// untilReached wraps an informer's list or watch request: while it reaches
// no API server (connection refused or reset, a TLS failure, a timeout: no
// HTTP status came back), it reports the failure and tries again itself,
// after retryFirst doubling up to retryMax, instead of returning the error to
// the reflector. The reflector's own backoff grows to 30–60 s while a server
// is down, so its watches would stay idle that long after the server is back,
// while /version already says the member is reachable and its shards are
// answered from what it held before. Errors with an HTTP status (410 Gone,
// 429, 5xx) go to the reflector as before.
func untilReached[T any](k *kubeSource, call func(context.Context, meta.ListOptions) (T, error)) func(context.Context, meta.ListOptions) (T, error) {
	return func(ctx context.Context, o meta.ListOptions) (T, error) {
		wait := retryFirst
		for {
			out, err := call(ctx, o)
			var status apierrors.APIStatus
			if err == nil || errors.As(err, &status) || ctx.Err() != nil {
				return out, err
			}
			if ev := k.events(); ev != nil {
				ev.Contact(err)
			}
			select {
			case <-ctx.Done():
				return out, err
			case <-time.After(wait):
			}
			wait = min(2*wait, retryMax)
		}
	}
}

func (k *kubeSource) events() Events {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.ev
}

// federationKey is the federation label key: both modes select Services on it
// alone, so it is the key of the selector's first requirement.
func federationKey(sel labels.Selector) string {
	if reqs, _ := sel.Requirements(); len(reqs) > 0 {
		return reqs[0].Key()
	}
	return ""
}

func newInformer(list func(context.Context, meta.ListOptions) (runtime.Object, error), w func(context.Context, meta.ListOptions) (watch.Interface, error), client any, obj runtime.Object, transform cache.TransformFunc) cache.SharedIndexInformer {
	// The wrapper tells the reflector whether client can stream the initial list
	// (fake clientsets cannot).
	lw := cache.ToListWatcherWithWatchListSemantics(&cache.ListWatch{ListWithContextFunc: list, WatchFuncWithContext: w}, client)
	// Resync 0: the watch is the source of truth; a periodic resync would only rebuild
	// snapshots that did not change.
	inf := cache.NewSharedIndexInformerWithOptions(lw, obj, cache.SharedIndexInformerOptions{})
	inf.SetTransform(transform)
	return inf
}

func (k *kubeSource) informers() []cache.SharedIndexInformer {
	if k.nodes == nil {
		return []cache.SharedIndexInformer{k.services, k.slices}
	}
	return []cache.SharedIndexInformer{k.services, k.slices, k.nodes}
}

// Run implements Source.
func (k *kubeSource) Run(ctx context.Context, ev Events) {
	k.mu.Lock()
	k.ev = ev
	k.mu.Unlock()
	k.handle(ev)
	// client-go's reflectors log through the context's logger: their lines
	// say which member they are about.
	ctx = klog.NewContext(ctx, klog.FromContext(ctx).WithValues("member", k.member))
	var wg sync.WaitGroup
	for _, i := range k.informers() {
		wg.Go(func() { i.RunWithContext(ctx) })
	}
	if k.ping != nil {
		wg.Go(func() { k.pingLoop(ctx, ev) })
	}
	wg.Wait()
}

// handle registers the event handlers: updates that change nothing DNS needs
// (most Node updates are status heartbeats) are dropped here. The objects of
// the first lists are not reported one by one: the member syncs once the
// handlers have seen them all, and its sync rebuilds every Service.
func (k *kubeSource) handle(ev Events) {
	var regs []cache.ResourceEventHandlerRegistration
	failed := false
	add := func(i cache.SharedIndexInformer, h cache.ResourceEventHandler) {
		reg, err := i.AddEventHandler(h)
		if err != nil {
			// Only an informer that was stopped refuses a handler, and Run
			// has not started them: the member then never syncs, and the
			// startup timeout serves without it.
			log.Errorf("Member %s: event handler: %v", k.member, err)
			failed = true
			return
		}
		regs = append(regs, reg)
	}
	add(k.services, cache.ResourceEventHandlerDetailedFuncs{
		AddFunc: func(obj any, initial bool) {
			if !initial {
				serviceChanged(ev, obj)
			}
		},
		UpdateFunc: func(oldObj, newObj any) {
			o, ok1 := oldObj.(*service)
			n, ok2 := newObj.(*service)
			if ok1 && ok2 && !serviceModified(o, n) {
				return
			}
			serviceChanged(ev, newObj)
		},
		DeleteFunc: func(obj any) { serviceChanged(ev, obj) },
	})
	add(k.slices, cache.ResourceEventHandlerDetailedFuncs{
		AddFunc: func(obj any, initial bool) {
			if initial {
				k.sliceChanged(nil, obj, +1) // counted, not reported
				return
			}
			k.sliceChanged(ev, obj, +1)
		},
		UpdateFunc: func(oldObj, newObj any) {
			o, ok1 := oldObj.(*endpointSlice)
			n, ok2 := newObj.(*endpointSlice)
			if ok1 && ok2 && o.Ready == n.Ready && o.Service == n.Service {
				return
			}
			k.sliceChanged(ev, oldObj, -1)
			k.sliceChanged(ev, newObj, +1)
		},
		DeleteFunc: func(obj any) { k.sliceChanged(ev, obj, -1) },
	})
	if k.nodes != nil {
		add(k.nodes, cache.ResourceEventHandlerDetailedFuncs{
			AddFunc: func(_ any, initial bool) {
				if !initial {
					ev.Changed("")
				}
			},
			UpdateFunc: func(oldObj, newObj any) {
				o, ok1 := oldObj.(*kubeNode)
				n, ok2 := newObj.(*kubeNode)
				if ok1 && ok2 && o.Region == n.Region && o.Zone == n.Zone {
					return
				}
				ev.Changed("")
			},
			DeleteFunc: func(any) { ev.Changed("") },
		})
	}
	if !failed {
		k.mu.Lock()
		k.regs = regs
		k.mu.Unlock()
	}
	onError := func(_ *cache.Reflector, err error) { ev.Contact(err) }
	for _, i := range k.informers() {
		i.SetWatchErrorHandler(onError)
	}
}

func serviceChanged(ev Events, obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	if s, ok := obj.(*service); ok {
		ev.Changed(s.Namespace + "/" + s.Name)
	}
}

// sliceChanged counts an EndpointSlice in (+1) or out (-1) of its Service's
// ready slices and marks the Service changed (ev nil: counted only).
func (k *kubeSource) sliceChanged(ev Events, obj any, delta int) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	s, ok := obj.(*endpointSlice)
	if !ok || s.Service == "" {
		return
	}
	key := s.Namespace + "/" + s.Service
	if s.Ready {
		k.mu.Lock()
		if k.ready[key] += delta; k.ready[key] <= 0 {
			delete(k.ready, key)
		}
		k.mu.Unlock()
	}
	if ev != nil {
		ev.Changed(key)
	}
}

// pingLoop asks the API server for /version; together with watch errors it
// tells the federation whether the member is reachable.
func (k *kubeSource) pingLoop(ctx context.Context, ev Events) {
	t := time.NewTicker(pingInterval)
	defer t.Stop()
	for {
		rctx, cancel := context.WithTimeout(ctx, pingInterval)
		err := k.ping(rctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if k.HasSynced() {
			ev.Contact(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// HasSynced implements Source.
func (k *kubeSource) HasSynced() bool {
	k.mu.Lock()
	regs := k.regs
	k.mu.Unlock()
	if regs == nil {
		return false // not running
	}
	for _, r := range regs {
		if !r.HasSynced() {
			return false
		}
	}
	return true
}

// ServiceKeys implements Source.
func (k *kubeSource) ServiceKeys() []string { return k.services.GetStore().ListKeys() }

// Service implements Source.
func (k *kubeSource) Service(key string) (svc *ServiceState, ready, ok bool) {
	obj, ok, _ := k.services.GetStore().GetByKey(key)
	if !ok {
		return nil, false, false
	}
	k.mu.Lock()
	ready = k.ready[key] > 0
	k.mu.Unlock()
	return &obj.(*service).ServiceState, ready, true
}

// Nodes implements Source.
func (k *kubeSource) Nodes(name string) (all []Place, node Place) {
	if k.nodes == nil {
		return nil, Place{}
	}
	seen := map[Place]bool{}
	for _, obj := range k.nodes.GetStore().List() {
		n, ok := obj.(*kubeNode)
		if !ok {
			continue
		}
		p := Place{n.Region, n.Zone}
		if n.Name == name {
			node = p
		}
		if (p.Region != "" || p.Zone != "") && !seen[p] {
			seen[p] = true
			all = append(all, p)
		}
	}
	return all, node
}
