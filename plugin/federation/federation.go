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
	"net/netip"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coredns/coredns/plugin"
	clog "github.com/coredns/coredns/plugin/pkg/log"

	"k8s.io/apimachinery/pkg/labels"
)

const pluginName = "federation"

var log = clog.NewWithPlugin(pluginName)

// DefaultLabel is the label key that opts a Service into a federation; its value
// is the federation name.
const DefaultLabel = "coredns-fed.io/federation"

// DefaultMaxAnswers is how many addresses of a family one answer holds at most,
// as Route 53's multivalue answers and gdnsd do: a name over more shards
// answers a rotating window of them.
const DefaultMaxAnswers = 8

// maxMaxAnswers bounds max_answers: more addresses than this never fit a reply
// a resolver would cache.
const maxMaxAnswers = 256

// Federation is the federation plugin in authoritative mode: it answers the zone
// of the federation from the members' Services. Member mode is MemberMode.
type Federation struct {
	Next plugin.Handler

	Zone           string // the zone answered, e.g. "example.com."
	Fed            string // the federation name, lower case
	Label          string
	Namespaces     []string // empty: every namespace
	TTL            uint32
	MaxAnswers     int // addresses of a family in one answer; 0: all
	StartupTimeout time.Duration
	StaleAfter     time.Duration // a member unreachable this long is stale
	Members        []*Member
	Ingress        []IngressRule // which load-balancer ingress addresses are answered, in order
	Drain          []string      // members whose shards are not answered (traffic.go)
	// Resolvers resolves load-balancer ingress hostnames (hostname.go); nil:
	// hostnames are refused. The Corefile always sets it.
	Resolvers *ResolverConfig

	hostnames *hostnameResolver

	soa soaConfig
	ns  []nameServer

	// snapshot is shared with the Federation of a reloaded server block whose
	// configuration is unchanged: it answers from the same snapshots.
	snapshot *atomic.Pointer[Snapshot]
	built    chan struct{} // closed by the build loop once snapshot is set; shared like snapshot
	seeded   bool          // snapshot came from another configuration: rebuild it whole
	health   HealthChecker
	geo      *geo // nil: the global name answers every region
	runs     []*memberRun
	refused  ingressLog // used by the build loop only
	ignored  trafficLog // used by the build loop only
	changes  *changeLog // the last changes, kept when a status listener shows them (status.go)
	status   string     // the status listener's address; empty: none

	journal  journal     // the snapshot secondaries see, and its recent history
	notifier notifier    // the transfer plugin of the block, or nil
	transfer bool        // the transfer plugin is in the block and follows in the chain
	key      string      // the configuration, for reloads (reload.go)
	engine   *Federation // the Federation whose members and build loop this one answers from
	refs     int         // server blocks answering from this engine; under engines' lock

	mu       sync.Mutex
	dirty    map[string]struct{}
	all      bool
	building bool // the build loop took dirty and all and has not finished with the snapshot yet (swap, journal, watchers)
	watchers []func()
	kick     chan struct{}
	pending  atomic.Int32 // members not yet synced nor given up on
	listed   atomic.Bool  // a member synced since the last build: its lists' garbage is to be returned
	counters atomic.Pointer[answerCounterSet]

	cancel context.CancelFunc
	wg     sync.WaitGroup
	server string
}

// New returns a Federation with the defaults of the Corefile reference.
func New() *Federation {
	return &Federation{
		Label:          DefaultLabel,
		TTL:            30,
		StartupTimeout: 30 * time.Second,
		StaleAfter:     30 * time.Second,
		MaxAnswers:     DefaultMaxAnswers,
		snapshot:       new(atomic.Pointer[Snapshot]),
		built:          make(chan struct{}),
		dirty:          map[string]struct{}{},
		kick:           make(chan struct{}, 1),
	}
}

// Name implements plugin.Handler.
func (f *Federation) Name() string { return pluginName }

// Start begins watching the members and building snapshots. A HealthChecker
// set with SetHealth is started first, so that it sees the first build.
func (f *Federation) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	sel := labels.SelectorFromSet(labels.Set{f.Label: f.Fed})
	f.runs = make([]*memberRun, len(f.Members))
	for i, m := range f.Members {
		f.runs[i] = newMemberRun(m, sel, f.server, f.changed)
		memberConnected.WithLabelValues(f.server, m.Name).Set(0)
		memberSynced.WithLabelValues(f.server, m.Name).Set(0)
		memberStale.WithLabelValues(f.server, m.Name).Set(0)
	}
	if f.health != nil {
		f.health.Start(f)
	}
	if f.Resolvers != nil {
		f.hostnames = newHostnameResolver(*f.Resolvers, f.server, f.changed)
		f.hostnames.start()
	}
	f.pending.Store(int32(len(f.runs)))
	for _, r := range f.runs {
		f.wg.Go(func() {
			r.run(ctx, f.StartupTimeout, f.StaleAfter, func(late bool) {
				if !late {
					f.pending.Add(-1)
				}
				f.listed.Store(true)
				f.changed("") // a late member's shards join
			})
		})
	}
	if f.geo != nil {
		f.wg.Go(func() { f.geo.watch(ctx, func() { f.changed("") }) })
	}
	f.wg.Go(func() { f.buildLoop(ctx) })
}

// Stop ends the watches, the build loop and the health checker, and returns
// when every goroutine Start began has ended.
func (f *Federation) Stop() {
	if f.cancel == nil {
		return
	}
	f.cancel()
	f.wg.Wait()
	if f.hostnames != nil {
		f.hostnames.stop()
	}
	if f.geo != nil {
		f.geo.close()
	}
	if f.health != nil {
		f.health.Stop()
	}
}

// SetHealth installs the health checker; it must be called before Start.
func (f *Federation) SetHealth(h HealthChecker) { f.health = h }

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
	bump := time.NewTimer(time.Hour)
	bump.Stop()
	defer bump.Stop()
	bumpDue := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-f.kick:
		case <-bump.C:
			bumpDue = true
		}
		if f.pending.Load() > 0 {
			continue // SERVFAIL (or the snapshot of the previous configuration) until every member synced or was given up on
		}
		if s := f.rebuild(bumpDue); s.bumpPending {
			bump.Reset(time.Until(serialDue(s.Serial)))
		}
		if f.listed.Swap(false) {
			// A member's initial lists are decoded whole and dropped once its
			// informers hold their slim objects: several times the live heap,
			// which the runtime would otherwise return to the OS only
			// gradually. Return it now, off the build loop.
			f.wg.Go(debug.FreeOSMemory)
		}
		bumpDue = false
	}
}

// rebuild builds and swaps in the next snapshot.
func (f *Federation) rebuild(bump bool) *Snapshot {
	f.mu.Lock()
	dirty, all := f.dirty, f.all
	f.dirty, f.all = map[string]struct{}{}, false
	f.building = true
	watchers := f.watchers
	f.mu.Unlock()
	if f.seeded {
		// The snapshot is another configuration's: keep its serial, nothing else.
		all, bump, f.seeded = true, true, false
	}

	b := &builder{
		zone: f.Zone, fed: f.Fed, ttl: f.TTL, soa: f.soa, ns: f.ns,
		members: f.runs, usable: f.usable, policy: allPolicy{max: f.MaxAnswers}, maxAnswers: f.MaxAnswers, geo: f.geo, server: f.server, namespaces: f.Namespaces,
		ingress: f.Ingress, refused: &f.refused, hostnames: f.hostnames, drain: f.Drain, ignored: &f.ignored,
	}
	prev := f.snapshot.Load()
	s := b.build(prev, dirty, all, bump)
	f.snapshot.Store(s)
	if !s.bumpPending && f.journal.publish(s) && f.notifier != nil {
		// Secondaries ask for the new serial (RFC 1996); notify retries and
		// logs on its own, and must not hold up the next build.
		f.wg.Go(func() {
			if err := f.notifier.Notify(f.Zone); err != nil {
				log.Warningf("NOTIFY of %s serial %d: %v", f.Zone, s.Serial, err)
			}
		})
	}
	select {
	case <-f.built:
	default:
		close(f.built) // only the build loop closes it
	}
	f.noteChanges(prev, s)
	for _, w := range watchers {
		w()
	}
	f.mu.Lock()
	f.building = false
	f.mu.Unlock()
	return s
}

// notifier sends NOTIFY to a zone's secondaries: the transfer plugin.
type notifier interface{ Notify(zone string) error }

// running returns the Federation whose members and snapshots f answers from:
// itself, or the one a reload with the same configuration handed over.
func (f *Federation) running() *Federation {
	engines.Lock()
	defer engines.Unlock()
	if f.engine != nil {
		return f.engine
	}
	return f
}

// usable returns the addresses of a healthy shard that may be answered: the
// health checker's choice, and the stale policy: a stale member's shard stays
// only while an active check vouches for it.
func (f *Federation) usable(sh *Shard, st MemberStatus) []netip.Addr {
	addrs, checked := sh.Addrs, false
	if f.health != nil {
		addrs, checked = f.health.Usable(sh)
	}
	if st.Stale && !checked {
		return nil
	}
	return addrs
}

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

// MemberStatuses implements HealthSink.
func (f *Federation) MemberStatuses() []MemberStatus {
	out := make([]MemberStatus, len(f.runs))
	for i, r := range f.runs {
		out[i] = r.Status()
	}
	return out
}

// Idle reports whether every change the members' sources reported is in the
// current snapshot: no build is running or waiting. A source may still hold
// events it has not reported yet, so a caller that waits for the federation to
// settle (a benchmark measuring the memory of the steady state) waits for Idle
// to hold a while.
func (f *Federation) Idle() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.snapshot.Load() != nil && !f.building && len(f.dirty) == 0 && !f.all
}

// Ready implements ready.Readiness: true once every member has synced or has been
// given up on after the startup timeout, and the first snapshot is built.
func (f *Federation) Ready() bool { return f.snapshot.Load() != nil }
