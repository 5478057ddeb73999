package federation

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coredns/coredns/plugin"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Hostname ingress. Some load balancers (AWS) publish a hostname and no IP.
// The Federation's hostnameResolver looks each such name up (A and AAAA)
// through the resolvers the Corefile names, in the background, and re-resolves
// it within the records' TTL, bounded by refresh MIN MAX. The builder reads the
// last result without blocking; a change of addresses asks for a rebuild of
// every Service that uses the name. A name that does not resolve leaves its
// shard without those addresses: the level falls back, it never fails.

// Defaults of the resolvers option.
const (
	defaultRefreshMin      = 5 * time.Second
	defaultRefreshMax      = 5 * time.Minute
	defaultResolverTimeout = 2 * time.Second
)

var (
	hostnameLookups = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "hostname_lookups_total",
		Help:      "Lookups of load-balancer ingress hostnames (A and AAAA together), by result: success, nxdomain, nodata, servfail, timeout, error.",
	}, []string{"server", "result"})

	hostnamesTracked = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "hostnames",
		Help:      "Load-balancer ingress hostnames resolved in the background.",
	}, []string{"server"})
)

// ResolverConfig is the resolvers option: where and how often ingress
// hostnames are resolved.
type ResolverConfig struct {
	Servers    []string // host:port; empty: the nameservers of /etc/resolv.conf
	RefreshMin time.Duration
	RefreshMax time.Duration
	Timeout    time.Duration
}

// DefaultResolverConfig is the configuration without a resolvers option.
func DefaultResolverConfig() ResolverConfig {
	return ResolverConfig{RefreshMin: defaultRefreshMin, RefreshMax: defaultRefreshMax, Timeout: defaultResolverTimeout}
}

// hostResult is the last lookup of one hostname.
type hostResult struct {
	addrs  []netip.Addr // sorted
	reason string       // "" when addrs came back; else why not (nxdomain, nodata, servfail, timeout, error, pending)
}

type hostEntry struct {
	hostResult
	users map[string]struct{} // Service keys whose shards have the name
	// unseen: a result came while no Service was recorded as a user (between
	// result and done of the build that first saw the name).
	unseen bool
	next   time.Time // when to look it up again
}

// hostnameResolver resolves the ingress hostnames of every shard.
type hostnameResolver struct {
	cfg     ResolverConfig
	server  string
	changed func(key string) // a Service's hostnames resolved differently

	mu      sync.Mutex
	entries map[string]*hostEntry
	byKey   map[string][]string // Service key -> its hostnames

	kick   chan struct{}
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newHostnameResolver(cfg ResolverConfig, server string, changed func(string)) *hostnameResolver {
	return &hostnameResolver{cfg: cfg, server: server, changed: changed,
		entries: map[string]*hostEntry{}, byKey: map[string][]string{}, kick: make(chan struct{}, 1)}
}

// start runs the lookups until stop.
func (r *hostnameResolver) start() {
	if len(r.cfg.Servers) == 0 {
		if cc, err := dns.ClientConfigFromFile("/etc/resolv.conf"); err != nil {
			log.Warningf("resolvers: no resolver given and /etc/resolv.conf unusable (%v): ingress hostnames will not resolve", err)
		} else {
			for _, s := range cc.Servers {
				r.cfg.Servers = append(r.cfg.Servers, net.JoinHostPort(s, cc.Port))
			}
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.wg.Go(func() { r.loop(ctx) })
}

func (r *hostnameResolver) stop() {
	if r.cancel != nil {
		r.cancel()
		r.wg.Wait()
	}
}

// result returns the addresses name resolves to, or why it does not. It does
// not block: a name not seen before is looked up in the background and is
// pending until then.
func (r *hostnameResolver) result(name string) ([]netip.Addr, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.entries[name]
	if e == nil {
		e = &hostEntry{hostResult: hostResult{reason: "pending"}, users: map[string]struct{}{}}
		r.entries[name] = e
		hostnamesTracked.WithLabelValues(r.server).Set(float64(len(r.entries)))
		select {
		case r.kick <- struct{}{}:
		default:
		}
	}
	return e.addrs, e.reason
}

// done records the hostnames of the shards of Service key after a build of it
// (none: it has no more), so that a change of their addresses rebuilds it and
// names no Service uses are forgotten.
func (r *hostnameResolver) done(key string, names []string) {
	if r == nil {
		return
	}
	names = slices.Compact(slices.Sorted(slices.Values(names)))
	r.mu.Lock()
	late := false
	defer func() {
		r.mu.Unlock()
		if late {
			r.changed(key) // its build read the name as pending
		}
	}()
	for _, n := range r.byKey[key] {
		if e := r.entries[n]; e != nil && !slices.Contains(names, n) {
			delete(e.users, key)
		}
	}
	if len(names) == 0 {
		delete(r.byKey, key)
	} else {
		r.byKey[key] = names
	}
	for _, n := range names {
		if e := r.entries[n]; e != nil {
			e.users[key] = struct{}{}
			late = late || e.unseen
			e.unseen = false
		}
	}
	for n, e := range r.entries {
		if len(e.users) == 0 && e.reason != "pending" {
			delete(r.entries, n) // looked up at least once and used by no Service
		}
	}
	hostnamesTracked.WithLabelValues(r.server).Set(float64(len(r.entries)))
}

func (r *hostnameResolver) loop(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.kick:
		case <-timer.C:
		}
		r.resolveDue(ctx)
		timer.Reset(r.untilNext())
	}
}

// resolveDue looks up every name whose time has come, in parallel.
func (r *hostnameResolver) resolveDue(ctx context.Context) {
	now := time.Now()
	r.mu.Lock()
	var due []string
	for n, e := range r.entries {
		if !e.next.After(now) {
			due = append(due, n)
		}
	}
	r.mu.Unlock()
	var wg sync.WaitGroup
	for _, n := range due {
		wg.Go(func() {
			res, ttl := r.lookup(ctx, n)
			if ctx.Err() == nil {
				r.store(n, res, ttl)
			}
		})
	}
	wg.Wait()
}

func (r *hostnameResolver) untilNext() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	d := r.cfg.RefreshMax
	for _, e := range r.entries {
		d = min(d, time.Until(e.next))
	}
	return max(d, 0)
}

// store keeps the result of a lookup of name, logs a change once and asks for
// a rebuild of the Services that use the name.
func (r *hostnameResolver) store(name string, res hostResult, ttl time.Duration) {
	hostnameLookups.WithLabelValues(r.server, cmp(res.reason, "success")).Inc()
	r.mu.Lock()
	e := r.entries[name]
	if e == nil {
		r.mu.Unlock()
		return // no Service uses it any more
	}
	e.next = time.Now().Add(min(max(ttl, r.cfg.RefreshMin), r.cfg.RefreshMax))
	same := slices.Equal(e.addrs, res.addrs) && e.reason == res.reason
	e.hostResult = res
	users := slices.Sorted(func(yield func(string) bool) {
		for k := range e.users {
			if !yield(k) {
				return
			}
		}
	})
	e.unseen = len(users) == 0 && !same
	r.mu.Unlock()
	if same {
		return
	}
	if res.reason != "" {
		log.Warningf("Ingress hostname %s does not resolve (%s): its shards of %s are not answered with it", name, res.reason, strings.Join(users, ", "))
	} else {
		log.Infof("Ingress hostname %s resolves to %s", name, strings.Join(addrStrings(res.addrs), " "))
	}
	for _, k := range users {
		r.changed(k)
	}
}

func cmp(s, dflt string) string {
	if s == "" {
		return dflt
	}
	return s
}

// lookup asks for the A and AAAA records of name, each from the first
// resolver that answers, and returns the addresses and how long they may be
// kept. Either family may be missing; the name is unresolved when both are.
func (r *hostnameResolver) lookup(ctx context.Context, name string) (hostResult, time.Duration) {
	var res hostResult
	ttl := r.cfg.RefreshMax
	var reasons []string
	for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA} {
		addrs, t, reason := r.query(ctx, name, qt)
		res.addrs = append(res.addrs, addrs...)
		ttl = min(ttl, t)
		reasons = append(reasons, reason)
	}
	slices.SortFunc(res.addrs, netip.Addr.Compare)
	res.addrs = slices.Compact(res.addrs)
	if len(res.addrs) == 0 {
		// The A lookup's reason, unless it merely had no data.
		res.reason = reasons[0]
		if res.reason == "" || res.reason == "nodata" {
			res.reason = cmp(reasons[1], "nodata")
		}
		ttl = r.cfg.RefreshMin // retry soon
	}
	return res, ttl
}

// query asks the resolvers in turn for qtype of name until one answers.
func (r *hostnameResolver) query(ctx context.Context, name string, qtype uint16) ([]netip.Addr, time.Duration, string) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	reason := "error"
	if len(r.cfg.Servers) == 0 {
		return nil, 0, "error"
	}
	for _, srv := range r.cfg.Servers {
		c := &dns.Client{Timeout: r.cfg.Timeout}
		resp, _, err := c.ExchangeContext(ctx, m, srv)
		if err == nil && resp.Truncated {
			c.Net = "tcp"
			resp, _, err = c.ExchangeContext(ctx, m, srv)
		}
		var nerr net.Error
		switch {
		case errors.As(err, &nerr) && nerr.Timeout():
			reason = "timeout"
			continue
		case err != nil:
			reason = "error"
			continue
		case resp.Rcode == dns.RcodeNameError:
			return nil, 0, "nxdomain"
		case resp.Rcode != dns.RcodeSuccess:
			reason = "servfail"
			continue
		}
		var addrs []netip.Addr
		ttl := r.cfg.RefreshMax
		for _, rr := range resp.Answer {
			var ip net.IP
			switch rr := rr.(type) {
			case *dns.A:
				ip = rr.A
			case *dns.AAAA:
				ip = rr.AAAA
			default:
				continue
			}
			if a, ok := netip.AddrFromSlice(ip); ok {
				addrs = append(addrs, a.Unmap())
				ttl = min(ttl, time.Duration(rr.Header().Ttl)*time.Second)
			}
		}
		if len(addrs) == 0 {
			return nil, 0, "nodata"
		}
		return addrs, ttl, ""
	}
	return nil, 0, reason
}

// resolveHostnames returns the ingress addresses of svc's shard sh with its
// hostnames' resolved addresses beside its IPs, and the hostnames left to
// refuse: all of them when there is no resolver. The names that do not
// resolve go to sh.Unresolved; every name is added to names.
func (b *builder) resolveHostnames(svc *ServiceState, sh *Shard, names *[]string) ([]netip.Addr, []string) {
	if b.hostnames == nil || len(svc.Hostnames) == 0 {
		return svc.Ingress, svc.Hostnames
	}
	*names = append(*names, svc.Hostnames...)
	all := slices.Clone(svc.Ingress)
	for _, h := range svc.Hostnames {
		addrs, reason := b.hostnames.result(h)
		all = append(all, addrs...)
		if reason != "" {
			sh.Unresolved = append(sh.Unresolved, h+" ("+reason+")")
		}
	}
	slices.SortFunc(all, netip.Addr.Compare)
	return slices.Compact(all), nil
}
