package federation

import (
	"context"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
)

// Member is one member cluster as configured: where to reach it and where it is.
type Member struct {
	Name       string
	Kubeconfig string
	Context    string
	InCluster  bool
	Region     string   // from the Corefile; empty means discovered from Nodes
	Zones      []string // from the Corefile; empty means discovered from Nodes
	NoNodes    bool     // do not watch Nodes (topology is configured)

	// Source is what the member's data is read from. Left nil, Start watches the
	// member's API server through client.
	Source Source

	client kubernetes.Interface
	ping   func(context.Context) error
}

// NewMember returns a member cluster watched through client instead of a
// kubeconfig, for programs and tests that assemble a Federation without a Corefile.
func NewMember(name string, client kubernetes.Interface) *Member {
	return &Member{Name: name, client: client}
}

// connect loads the kubeconfig (or the in-cluster configuration) and builds the
// client; errors name the member and the path.
func (m *Member) connect() error {
	client, ping, err := connect(m)
	if err != nil {
		return err
	}
	m.client, m.ping = client, ping
	return nil
}

// source returns the member's Source, creating the client-go one on first use.
func (m *Member) source(sel labels.Selector) Source {
	if m.Source == nil {
		m.Source = newKubeSource(m.Name, m.client, m.ping, sel, !m.NoNodes)
	}
	return m.Source
}

// MemberStatus is a member as the federation sees it. The federation measures it
// (synced, contact with the API server) and decides staleness; other plugins and
// the status view read it.
type MemberStatus struct {
	Name        string
	Synced      bool      // the first list of every watched kind is in
	Connected   bool      // the last request to the API server succeeded
	Since       time.Time // when Connected last changed
	LastContact time.Time // the last request that succeeded
	Stale       bool      // unreachable for StaleAfter or longer
	Err         error     // the last failure, when not connected
}

// memberRun is the federation's running view of one member: its status, its
// topology and the events of its Source.
type memberRun struct {
	m       *Member
	src     Source
	topo    *topology
	changed func(key string) // a Service's inputs changed ("" = every Service)
	wake    chan struct{}    // contact changed: re-arm the stale timer
	server  string

	mu     sync.Mutex
	status MemberStatus
	gaveUp bool // not synced within the startup timeout; the federation serves without it
}

func newMemberRun(m *Member, sel labels.Selector, server string, changed func(string)) *memberRun {
	return &memberRun{
		m: m, src: m.source(sel), topo: newTopology(m), changed: changed, server: server,
		wake: make(chan struct{}, 1), status: MemberStatus{Name: m.Name},
	}
}

// Changed implements Events.
func (r *memberRun) Changed(key string) {
	if key == "" {
		if !r.Status().Synced || !r.refreshTopology() {
			return // Node updates count only once synced, and only when they move the member
		}
	}
	r.changed(key)
}

// Contact implements Events. A transition is logged once; staleness is decided
// by run's timer, not by the caller.
func (r *memberRun) Contact(err error) {
	now := time.Now()
	ok := err == nil
	r.mu.Lock()
	changed := r.status.Connected != ok || r.status.Since.IsZero()
	if changed {
		r.status.Connected, r.status.Since = ok, now
	}
	if ok {
		r.status.LastContact = now
	}
	r.status.Err = err
	wasStale := r.status.Stale
	if ok {
		r.status.Stale = false
	}
	r.mu.Unlock()
	if !changed {
		return
	}
	if ok {
		memberConnected.WithLabelValues(r.server, r.m.Name).Set(1)
		log.Infof("Member %s connected", r.m.Name)
	} else {
		memberConnected.WithLabelValues(r.server, r.m.Name).Set(0)
		log.Warningf("Member %s unreachable: %v", r.m.Name, err)
	}
	if wasStale {
		memberStale.WithLabelValues(r.server, r.m.Name).Set(0)
		log.Infof("Member %s is no longer stale; its shards are answered from its API server again", r.m.Name)
		r.changed("")
	}
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Status returns the member's status.
func (r *memberRun) Status() MemberStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.status
}

// gaveUpNow reports whether the startup timeout passed before the member synced.
func (r *memberRun) gaveUpNow() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.gaveUp
}

func (r *memberRun) refreshTopology() bool {
	nodes, _ := r.src.Nodes("")
	return r.topo.update(nodes)
}

// run runs the Source and follows the member until ctx is done; it returns once
// every goroutine it started has ended. synced is called when the member has
// synced or the startup timeout passed, whichever is first, and again if it
// syncs after the timeout. staleAfter 0 never declares the member stale.
func (r *memberRun) run(ctx context.Context, startupTimeout, staleAfter time.Duration, synced func(late bool)) {
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { r.src.Run(ctx, r) })

	if !r.waitSynced(ctx, startupTimeout, synced) {
		return
	}
	if staleAfter > 0 {
		r.watchStale(ctx, staleAfter)
	}
}

// waitSynced polls the Source until it has synced; false when ctx ended first.
func (r *memberRun) waitSynced(ctx context.Context, startupTimeout time.Duration, synced func(late bool)) bool {
	timeout := time.NewTimer(startupTimeout)
	defer timeout.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !r.src.HasSynced() {
		select {
		case <-ctx.Done():
			return false
		case <-timeout.C:
			r.mu.Lock()
			r.gaveUp = true
			r.mu.Unlock()
			log.Warningf("Member %s not synced after %s; serving without it and retrying", r.m.Name, startupTimeout)
			synced(false)
		case <-tick.C:
		}
	}
	r.refreshTopology()
	r.mu.Lock()
	r.status.Synced = true
	late := r.gaveUp
	r.mu.Unlock()
	r.Contact(nil)
	memberSynced.WithLabelValues(r.server, r.m.Name).Set(1)
	if late {
		log.Infof("Member %s synced after the startup timeout; its shards are now answered", r.m.Name)
	} else {
		log.Infof("Member %s synced", r.m.Name)
	}
	synced(late)
	return true
}

// watchStale declares the member stale when it has been unreachable for
// staleAfter, and rebuilds every Service then: the member's shards are answered
// differently from that moment (see Federation.usable).
func (r *memberRun) watchStale(ctx context.Context, staleAfter time.Duration) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.wake:
			s := r.Status()
			timer.Stop()
			if !s.Connected && !s.Stale {
				timer.Reset(time.Until(s.Since.Add(staleAfter)))
			}
		case <-timer.C:
			r.mu.Lock()
			s := r.status
			stale := !s.Connected && !s.Stale && time.Since(s.Since) >= staleAfter
			if stale {
				r.status.Stale = true
			}
			r.mu.Unlock()
			if !stale {
				continue
			}
			memberStale.WithLabelValues(r.server, r.m.Name).Set(1)
			why := ""
			if s.Err != nil {
				why = " (" + s.Err.Error() + ")"
			}
			log.Warningf("Member %s is stale: unreachable since %s%s; keeping its last known shards where probes run, dropping the unprobed ones",
				r.m.Name, s.Since.UTC().Format(time.RFC3339), why)
			r.changed("")
		}
	}
}
