// Package shardhealth probes the load-balancer addresses of federation shards and
// tracks member-cluster liveness, so that federation answers only addresses that work.
//
// It plugs into the federation plugin of the same server block as its
// federation.HealthChecker: during each snapshot build federation asks Usable
// which addresses of a shard may be answered, and shardhealth asks for a rebuild
// (HealthChanged) whenever its answer changes. Member liveness and staleness are
// the federation's; shardhealth only says whether a probe vouches for a shard.
// It answers no queries itself and never runs on the query path.
package shardhealth

import (
	"context"
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"

	"github.com/coredns-fed/coredns-fed/plugin/federation"

	clog "github.com/coredns/coredns/plugin/pkg/log"
)

const pluginName = "shardhealth"

var log = clog.NewWithPlugin(pluginName)

// ShardHealth is the shardhealth plugin. It implements federation.Health.
type ShardHealth struct {
	Probe         Probe // the default probe; Kind "off" disables probing unless a Service asks for it
	Interval      time.Duration
	Timeout       time.Duration
	Rise, Fall    int     // consecutive results before an address changes state
	Jitter        float64 // fraction of Interval, in [0, 0.5]
	MaxConcurrent int

	sink   federation.HealthSink
	prober Prober
	clock  clock
	rand   func() float64 // uniform in [0, 1)
	server string

	mu      sync.Mutex
	checks  map[target]*check
	queue   checkQueue
	configs map[string]*shardConfig // by shard: member/namespace/name
	active  int                     // probes handed to workers and not finished

	kick   chan struct{}
	work   chan *check
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New returns a ShardHealth with the defaults of the Corefile reference.
func New() *ShardHealth {
	return &ShardHealth{
		Probe:         Probe{Kind: kindHTTP, Path: "/", ExpectMin: 200, ExpectMax: 399},
		Interval:      5 * time.Second,
		Timeout:       2 * time.Second,
		Rise:          2,
		Fall:          2,
		Jitter:        0.1,
		MaxConcurrent: 64,

		prober:  netProber{},
		clock:   realClock{},
		rand:    rand.Float64,
		checks:  map[target]*check{},
		configs: map[string]*shardConfig{},
		kick:    make(chan struct{}, 1),
	}
}

// Start implements federation.HealthChecker: it starts probing the shards of
// sink's snapshots. The federation calls it before its first build.
func (h *ShardHealth) Start(sink federation.HealthSink) {
	h.sink = sink
	sink.OnSnapshot(h.reconcile)

	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	h.work = make(chan *check)
	h.wg.Add(1 + h.MaxConcurrent)
	go func() { defer h.wg.Done(); h.schedule(ctx) }()
	for range h.MaxConcurrent {
		go func() { defer h.wg.Done(); h.worker(ctx) }()
	}
}

// Stop implements federation.HealthChecker: it ends probing; probes in flight
// are cancelled.
func (h *ShardHealth) Stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	h.wg.Wait()
}

// Usable implements federation.Health. It reads state kept by the probes and
// never blocks on them. A probed shard is vouched for (checked): the data
// plane is watched directly, so the federation keeps a stale member's probed
// shards and the probes decide.
//
// The shard's Service joins the checks of its addresses here, under the same
// lock as the state is read, and not only when the snapshot being built is
// reconciled: a state change between the two (an address this Service now
// shares with another one) would otherwise be reported to the other Service
// alone, and this one would keep the answer it got here.
func (h *ShardHealth) Usable(s *federation.Shard) ([]netip.Addr, bool) {
	p, probed := h.probeFor(s)
	if !probed {
		return s.Addrs, false // nothing vouches for the shard but its member's API server
	}
	key := s.Namespace + "/" + s.Name
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]netip.Addr, 0, len(s.Addrs))
	for _, a := range s.Addrs {
		c := h.checks[target{Addr: a, Probe: p}]
		if c != nil {
			c.services[key] = struct{}{}
		}
		if c == nil || c.usable() {
			out = append(out, a)
		}
	}
	return out, true
}

// reconcile runs after every snapshot: it starts checks for addresses that
// appeared, ends those of addresses that went away and forgets the annotations of
// Services that are gone.
func (h *ShardHealth) reconcile() {
	shards := h.sink.Shards()
	want := map[target]map[string]struct{}{}
	seen := make(map[string]struct{}, len(shards))
	for i := range shards {
		s := &shards[i]
		seen[shardID(s)] = struct{}{}
		if !s.Healthy() {
			continue // readiness already keeps it out; probe it once it is ready
		}
		p, probed := h.probeFor(s)
		if !probed {
			continue
		}
		key := s.Namespace + "/" + s.Name
		for _, a := range s.Addrs {
			t := target{Addr: a, Probe: p}
			if want[t] == nil {
				want[t] = map[string]struct{}{}
			}
			want[t][key] = struct{}{}
		}
	}

	h.mu.Lock()
	now := h.clock.Now()
	for t, c := range h.checks {
		if _, ok := want[t]; !ok {
			h.removeCheck(c)
		}
	}
	added := false
	for t, services := range want {
		c := h.checks[t]
		if c == nil {
			c = &check{target: t, index: -1}
			c.next = now.Add(h.firstDelay())
			h.checks[t] = c
			h.queue.push(c)
			added = true
		}
		c.services = services
	}
	for id := range h.configs {
		if _, ok := seen[id]; !ok {
			delete(h.configs, id)
		}
	}
	h.mu.Unlock()
	if added {
		h.wake()
	}
}

// removeCheck stops probing c; a probe in flight finishes but its result is dropped.
func (h *ShardHealth) removeCheck(c *check) {
	c.removed = true
	h.queue.remove(c)
	delete(h.checks, c.target)
	addressUp.DeleteLabelValues(h.server, c.target.String())
}

// wake tells the scheduler that the queue changed.
func (h *ShardHealth) wake() {
	select {
	case h.kick <- struct{}{}:
	default:
	}
}

// firstDelay spreads the first probes of new addresses over Jitter × Interval.
func (h *ShardHealth) firstDelay() time.Duration {
	return time.Duration(h.rand() * h.Jitter * float64(h.Interval))
}

// nextDelay is Interval ± Jitter × Interval, uniformly, so that probes started
// together drift apart.
func (h *ShardHealth) nextDelay() time.Duration {
	return time.Duration(float64(h.Interval) * (1 + h.Jitter*(2*h.rand()-1)))
}

func shardID(s *federation.Shard) string {
	return s.Member + "/" + s.Namespace + "/" + s.Name
}
