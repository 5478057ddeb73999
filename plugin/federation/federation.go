// Package federation answers the DNS names of federated Kubernetes Services.
//
// A federated Service S in namespace N of federation F has a global name
// S.N.F.svc.DOMAIN, a name per region S.N.F.svc.REGION.DOMAIN and per zone
// S.N.F.svc.ZONE.DOMAIN and S.N.F.svc.ZONE.REGION.DOMAIN. A level with healthy
// shards answers their load-balancer addresses; one without answers a CNAME one
// level up, as Kubernetes Federation v1 did in a cloud DNS provider. Nothing is
// written anywhere: member clusters are watched with client-go and answers come
// from an immutable Snapshot that is rebuilt when a watched object changes.
//
// The plugin does not answer for Services that are not federated, does not
// forward, and does not sign; pair it with dnssec or cache as needed.
package federation

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coredns/coredns/plugin"
	clog "github.com/coredns/coredns/plugin/pkg/log"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
)

const pluginName = "federation"

var log = clog.NewWithPlugin(pluginName)

// DefaultLabel is the label key that opts a Service into a federation; its value
// is the federation name.
const DefaultLabel = "coredns-fed.io/federation"

// Federation is the federation plugin.
type Federation struct {
	Next plugin.Handler

	Zone           string // the zone answered, e.g. "example.com."
	Fed            string // the federation name, lower case
	Label          string
	Namespaces     []string // empty: every namespace
	TTL            uint32
	StartupTimeout time.Duration
	Members        []*Member

	soa soaConfig
	ns  []nameServer

	snapshot atomic.Pointer[Snapshot]
	health   Health

	mu       sync.Mutex
	dirty    map[string]struct{}
	all      bool
	kick     chan struct{}
	pending  atomic.Int32 // members not yet synced nor given up on
	watchers []func()

	cancel context.CancelFunc
	done   chan struct{}
	server string
}

// New returns a Federation with the defaults of the Corefile reference.
func New() *Federation {
	return &Federation{
		Label:          DefaultLabel,
		TTL:            30,
		StartupTimeout: 30 * time.Second,
		dirty:          map[string]struct{}{},
		kick:           make(chan struct{}, 1),
	}
}

// NewMember returns a member cluster watched through client instead of a
// kubeconfig, for programs and tests that assemble a Federation without a Corefile.
func NewMember(name string, client kubernetes.Interface) *Member {
	return &Member{Name: name, client: client}
}

// Name implements plugin.Handler.
func (f *Federation) Name() string { return pluginName }

// Start begins watching the members and building snapshots. Members must have
// clients (connect or a test's fake) before Start.
func (f *Federation) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	f.done = make(chan struct{})
	selector := labels.SelectorFromSet(labels.Set{f.Label: f.Fed})
	f.pending.Store(int32(len(f.Members)))
	for _, m := range f.Members {
		m.server = f.server
		m.changed = f.changed
		m.watch(selector)
		memberConnected.WithLabelValues(f.server, m.Name).Set(0)
		memberSynced.WithLabelValues(f.server, m.Name).Set(0)
		go m.run(ctx, f.StartupTimeout, func() {
			if m.synced.Load() && m.gaveUp.Load() {
				f.changed("") // a late member: its shards join
				return
			}
			f.pending.Add(-1)
			f.changed("")
		})
	}
	go f.buildLoop(ctx)
}

// Stop ends the watches and the build loop.
func (f *Federation) Stop() {
	if f.cancel == nil {
		return
	}
	f.cancel()
	<-f.done
}

// changed marks the Service namespace/name (or, for "", every Service) for the next
// snapshot and wakes the build loop. Bursts of events coalesce into one build.
func (f *Federation) changed(key string) {
	f.mu.Lock()
	if key == "" {
		f.all = true
	} else {
		f.dirty[key] = struct{}{}
	}
	f.mu.Unlock()
	select {
	case f.kick <- struct{}{}:
	default:
	}
}

func (f *Federation) buildLoop(ctx context.Context) {
	defer close(f.done)
	for {
		select {
		case <-ctx.Done():
			return
		case <-f.kick:
		}
		if f.pending.Load() > 0 {
			continue // SERVFAIL until every member synced or was given up on
		}
		f.rebuild()
	}
}

// rebuild builds and swaps in the next snapshot.
func (f *Federation) rebuild() {
	f.mu.Lock()
	dirty, all := f.dirty, f.all
	f.dirty, f.all = map[string]struct{}{}, false
	watchers := f.watchers
	f.mu.Unlock()

	b := &builder{
		zone: f.Zone, fed: f.Fed, ttl: f.TTL, soa: f.soa, ns: f.ns,
		members: f.Members, health: f.health, server: f.server, namespaces: f.Namespaces,
	}
	f.snapshot.Store(b.build(f.snapshot.Load(), dirty, all))
	for _, w := range watchers {
		w()
	}
}

// SetHealth implements HealthSink.
func (f *Federation) SetHealth(h Health) { f.health = h }

// HealthChanged implements HealthSink.
func (f *Federation) HealthChanged(key string) { f.changed(key) }

// OnSnapshot implements HealthSink.
func (f *Federation) OnSnapshot(fn func()) {
	f.mu.Lock()
	f.watchers = append(f.watchers, fn)
	f.mu.Unlock()
}

// Shards implements HealthSink.
func (f *Federation) Shards() []Shard {
	s := f.snapshot.Load()
	if s == nil {
		return nil
	}
	var out []Shard
	for _, sa := range s.services {
		out = append(out, sa.shards...)
	}
	return out
}

// Liveness implements HealthSink.
func (f *Federation) Liveness() []MemberStatus {
	out := make([]MemberStatus, len(f.Members))
	for i, m := range f.Members {
		out[i] = m.Status()
	}
	return out
}

// Ready implements ready.Readiness: true once every member has synced or has been
// given up on after the startup timeout, and the first snapshot is built.
func (f *Federation) Ready() bool { return f.snapshot.Load() != nil }
