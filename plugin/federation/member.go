package federation

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	core "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	meta "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
)

// livenessInterval is how often a member's API server is asked for /version.
const livenessInterval = 5 * time.Second

// Member is one member cluster: its configuration and the watches on it.
type Member struct {
	Name       string
	Kubeconfig string
	Context    string
	InCluster  bool
	Region     string   // from the Corefile; empty means discovered from Nodes
	Zones      []string // from the Corefile; empty means discovered from Nodes
	NoNodes    bool     // do not watch Nodes (topology is configured)

	client   kubernetes.Interface
	ping     func(context.Context) error // nil for clients without a REST endpoint (tests)
	services cache.SharedIndexInformer
	slices   cache.SharedIndexInformer
	nodes    cache.SharedIndexInformer

	synced  atomic.Bool // every informer has synced
	gaveUp  atomic.Bool // not synced within the startup timeout; the federation serves without it
	topo    atomic.Pointer[[]place]
	topoMu  sync.Mutex
	readyMu sync.Mutex
	ready   map[string]int // namespace/name -> EndpointSlices with a ready endpoint; kept by the slice handlers
	mu      sync.Mutex
	status  MemberStatus
	changed func(key string) // a Service's inputs changed ("" = everything)
	server  string           // for metrics
}

// MemberStatus is the liveness of a member's API server as the federation sees it.
type MemberStatus struct {
	Name      string
	Connected bool      // the last request to the API server succeeded
	Since     time.Time // when Connected last changed
	Synced    bool
	Err       error // the last failure, when not connected
}

// place is one (region, zone) pair a member occupies; Zone may be empty.
type place struct{ Region, Zone string }

// restConfig loads the member's client configuration; errors name the member and path.
func (m *Member) restConfig() (*rest.Config, error) {
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

// connect builds the member's clients from its configuration.
func (m *Member) connect() error {
	cfg, err := m.restConfig()
	if err != nil {
		return err
	}
	cfg.UserAgent = "coredns-fed/" + m.Name
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("member %s: %w", m.Name, err)
	}
	m.client = client
	rc := client.Discovery().RESTClient()
	m.ping = func(ctx context.Context) error {
		return rc.Get().AbsPath("/version").Do(ctx).Error()
	}
	return nil
}

// watch creates the member's informers. Services are selected by the federation
// label server side; EndpointSlices and Nodes are stored slim.
func (m *Member) watch(selector labels.Selector) {
	c := m.client
	m.services = newInformer(
		func(ctx context.Context, o meta.ListOptions) (runtime.Object, error) {
			o.LabelSelector = selector.String()
			return c.CoreV1().Services("").List(ctx, o)
		},
		func(ctx context.Context, o meta.ListOptions) (watch.Interface, error) {
			o.LabelSelector = selector.String()
			return c.CoreV1().Services("").Watch(ctx, o)
		},
		c, &core.Service{}, toService, nil)
	m.slices = newInformer(
		func(ctx context.Context, o meta.ListOptions) (runtime.Object, error) {
			return c.DiscoveryV1().EndpointSlices("").List(ctx, o)
		},
		func(ctx context.Context, o meta.ListOptions) (watch.Interface, error) {
			return c.DiscoveryV1().EndpointSlices("").Watch(ctx, o)
		},
		c, &discovery.EndpointSlice{}, toEndpointSlice, nil)
	if !m.NoNodes {
		m.nodes = newInformer(
			func(ctx context.Context, o meta.ListOptions) (runtime.Object, error) {
				return c.CoreV1().Nodes().List(ctx, o)
			},
			func(ctx context.Context, o meta.ListOptions) (watch.Interface, error) {
				return c.CoreV1().Nodes().Watch(ctx, o)
			},
			c, &core.Node{}, toNode, nil)
	}

	m.services.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { m.serviceChanged(obj) },
		UpdateFunc: func(oldObj, newObj any) {
			o, ok1 := oldObj.(*service)
			n, ok2 := newObj.(*service)
			if ok1 && ok2 && !serviceModified(o, n) {
				return
			}
			m.serviceChanged(newObj)
		},
		DeleteFunc: func(obj any) { m.serviceChanged(obj) },
	})
	m.slices.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { m.sliceChanged(obj, +1) },
		UpdateFunc: func(oldObj, newObj any) {
			o, ok1 := oldObj.(*endpointSlice)
			n, ok2 := newObj.(*endpointSlice)
			if ok1 && ok2 && o.Ready == n.Ready && o.Service == n.Service {
				return
			}
			m.sliceChanged(oldObj, -1)
			m.sliceChanged(newObj, +1)
		},
		DeleteFunc: func(obj any) { m.sliceChanged(obj, -1) },
	})
	if m.nodes != nil {
		m.nodes.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc: func(any) { m.nodesChanged() },
			UpdateFunc: func(oldObj, newObj any) {
				// Node status heartbeats are most updates; only topology labels matter.
				o, ok1 := oldObj.(*kubeNode)
				n, ok2 := newObj.(*kubeNode)
				if ok1 && ok2 && o.Region == n.Region && o.Zone == n.Zone {
					return
				}
				m.nodesChanged()
			},
			DeleteFunc: func(any) { m.nodesChanged() },
		})
	}

	onError := func(_ *cache.Reflector, err error) { m.setConnected(false, err) }
	for _, i := range m.informers() {
		i.SetWatchErrorHandler(onError)
	}
}

func newInformer(list func(context.Context, meta.ListOptions) (runtime.Object, error), w func(context.Context, meta.ListOptions) (watch.Interface, error), client any, obj runtime.Object, transform cache.TransformFunc, idx cache.Indexers) cache.SharedIndexInformer {
	// The wrapper tells the reflector whether client can stream the initial list
	// (fake clientsets cannot).
	lw := cache.ToListWatcherWithWatchListSemantics(&cache.ListWatch{ListWithContextFunc: list, WatchFuncWithContext: w}, client)
	// Resync 0: the watch is the source of truth; a periodic resync would only rebuild
	// snapshots that did not change.
	inf := cache.NewSharedIndexInformerWithOptions(lw, obj, cache.SharedIndexInformerOptions{Indexers: idx})
	inf.SetTransform(transform)
	return inf
}

func (m *Member) informers() []cache.SharedIndexInformer {
	if m.nodes == nil {
		return []cache.SharedIndexInformer{m.services, m.slices}
	}
	return []cache.SharedIndexInformer{m.services, m.slices, m.nodes}
}

func (m *Member) serviceChanged(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	if s, ok := obj.(*service); ok {
		m.changed(s.Namespace + "/" + s.Name)
	}
}

// sliceChanged counts an EndpointSlice in (+1) or out (-1) of its Service's
// ready slices and marks the Service changed.
func (m *Member) sliceChanged(obj any, delta int) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	s, ok := obj.(*endpointSlice)
	if !ok || s.Service == "" {
		return
	}
	key := s.Namespace + "/" + s.Service
	if s.Ready {
		m.readyMu.Lock()
		if m.ready == nil {
			m.ready = map[string]int{}
		}
		if m.ready[key] += delta; m.ready[key] <= 0 {
			delete(m.ready, key)
		}
		m.readyMu.Unlock()
	}
	m.changed(key)
}

// nodesChanged recomputes the member's topology; a change rebuilds every service.
func (m *Member) nodesChanged() {
	if m.synced.Load() && m.refreshTopology() {
		m.changed("")
	}
}

// refreshTopology recomputes the topology from the Node store and reports whether
// it changed. The lock orders concurrent refreshes, so the last one stored saw
// the newest store.
func (m *Member) refreshTopology() bool {
	m.topoMu.Lock()
	defer m.topoMu.Unlock()
	t := m.discoverTopology()
	if old := m.topo.Load(); old != nil && slices.Equal(*old, t) {
		return false
	}
	m.topo.Store(&t)
	return true
}

// discoverTopology merges the Corefile's region and zones with the Nodes' labels:
// what the Corefile sets wins, what it leaves out comes from the Nodes.
func (m *Member) discoverTopology() []place {
	var found []place
	if m.nodes != nil {
		for _, obj := range m.nodes.GetStore().List() {
			if n, ok := obj.(*kubeNode); ok && (n.Region != "" || n.Zone != "") {
				found = append(found, place{n.Region, n.Zone})
			}
		}
	}
	var out []place
	switch {
	case m.Region != "" && len(m.Zones) > 0:
		for _, z := range m.Zones {
			out = append(out, place{m.Region, z})
		}
	case m.Region != "":
		out = append(out, place{m.Region, ""})
		for _, p := range found {
			if p.Zone != "" {
				out = append(out, place{m.Region, p.Zone})
			}
		}
	case len(m.Zones) > 0:
		region := ""
		for _, p := range found {
			if p.Region != "" && (region == "" || p.Region < region) {
				region = p.Region
			}
		}
		for _, z := range m.Zones {
			out = append(out, place{region, z})
		}
	default:
		out = found
	}
	slices.SortFunc(out, func(a, b place) int {
		if a.Region != b.Region {
			if a.Region < b.Region {
				return -1
			}
			return 1
		}
		if a.Zone < b.Zone {
			return -1
		}
		if a.Zone > b.Zone {
			return 1
		}
		return 0
	})
	return slices.Compact(out)
}

// topology returns the member's current (region, zone) pairs.
func (m *Member) topology() []place {
	if t := m.topo.Load(); t != nil {
		return *t
	}
	return m.discoverTopology()
}

// run starts the informers and the liveness loop until ctx is done. synced is
// called once every informer has synced.
func (m *Member) run(ctx context.Context, startupTimeout time.Duration, synced func()) {
	for _, i := range m.informers() {
		go i.RunWithContext(ctx)
	}
	if m.ping != nil {
		go m.liveness(ctx)
	}

	timeout := time.NewTimer(startupTimeout)
	defer timeout.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if m.hasSynced() {
			m.synced.Store(true)
			m.refreshTopology()
			m.setConnected(true, nil)
			memberSynced.WithLabelValues(m.server, m.Name).Set(1)
			if m.gaveUp.Load() {
				log.Infof("Member %s synced after the startup timeout; its shards are now answered", m.Name)
			} else {
				log.Infof("Member %s synced", m.Name)
			}
			synced()
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-timeout.C:
			m.gaveUp.Store(true)
			log.Warningf("Member %s not synced after %s; serving without it and retrying", m.Name, startupTimeout)
			synced()
		case <-tick.C:
		}
	}
}

func (m *Member) hasSynced() bool {
	for _, i := range m.informers() {
		if !i.HasSynced() {
			return false
		}
	}
	return true
}

// liveness asks the API server for /version; together with watch errors it drives
// Connected. Transitions are logged once.
func (m *Member) liveness(ctx context.Context) {
	t := time.NewTicker(livenessInterval)
	defer t.Stop()
	for {
		rctx, cancel := context.WithTimeout(ctx, livenessInterval)
		err := m.ping(rctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		m.setConnected(err == nil, err)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (m *Member) setConnected(ok bool, err error) {
	m.mu.Lock()
	changed := m.status.Connected != ok || m.status.Since.IsZero()
	if changed {
		m.status.Connected = ok
		m.status.Since = time.Now()
	}
	m.status.Err = err
	m.mu.Unlock()
	if !changed {
		return
	}
	if ok {
		memberConnected.WithLabelValues(m.server, m.Name).Set(1)
		log.Infof("Member %s connected", m.Name)
	} else {
		memberConnected.WithLabelValues(m.server, m.Name).Set(0)
		log.Warningf("Member %s unreachable: %v", m.Name, err)
	}
}

// Status returns the member's liveness.
func (m *Member) Status() MemberStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.status
	s.Name = m.Name
	s.Synced = m.synced.Load()
	return s
}

// shard returns the member's copy of the Service namespace/name, or nil.
func (m *Member) shard(key string) *Shard {
	if !m.synced.Load() {
		return nil
	}
	obj, ok, _ := m.services.GetStore().GetByKey(key)
	if !ok {
		return nil
	}
	svc := obj.(*service)
	s := &Shard{Member: m.Name, Namespace: svc.Namespace, Service: svc.Name, Annotations: svc.Annotations}
	if svc.LoadBalancer {
		s.Addrs = svc.Ingress
	}
	m.readyMu.Lock()
	s.Ready = m.ready[key] > 0
	m.readyMu.Unlock()
	return s
}

// serviceKeys lists namespace/name of every federated Service the member has.
func (m *Member) serviceKeys() []string {
	if !m.synced.Load() {
		return nil
	}
	return m.services.GetStore().ListKeys()
}
