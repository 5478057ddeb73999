package federation

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/pkg/nonwriter"
	"github.com/coredns/coredns/plugin/pkg/upstream"
	"github.com/coredns/coredns/request"

	"github.com/miekg/dns"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
)

// MemberMode is the federation plugin in member mode: it runs in the CoreDNS that
// serves a member cluster's own domain (cluster.local) and answers the names a
// pod's search path makes of S.N.F, that is S.N.F.svc.cluster.local:
//
//   - when the local copy of the Service has a ready endpoint: a CNAME to
//     S.N.svc.cluster.local plus what the next plugin (kubernetes) answers for it;
//   - otherwise: a CNAME to S.N.F.svc.ZONE.REGION.DOMAIN, chased through the
//     server (a stub domain forwards DOMAIN to the federation's name servers).
//
// A name of that shape can also be the cluster's own: HOST.SVC.NS.svc.cluster.local,
// the endpoint of a headless Service SVC in a namespace NS named like a
// federation. So the next plugin is asked first, as CoreDNS's federation plugin
// did, and its answer stands unless it is NXDOMAIN.
//
// Every other name goes to the next plugin untouched. This is what kube-dns's
// --federations flag and CoreDNS's federation plugin (removed in 1.7.0) did. The
// authoritative mode is Federation; the Corefile tells them apart by the
// member blocks only the authoritative mode has.
type MemberMode struct {
	Next plugin.Handler

	Zones          []string          // the cluster domains, e.g. "cluster.local."
	Federations    map[string]string // federation name -> its domain, e.g. "example.com."
	Region         string            // from the Corefile; empty means discovered
	Zone           string            // from the Corefile; empty means discovered
	TTL            uint32
	Label          string
	StartupTimeout time.Duration // after it, answer without the local cluster
	Cluster        *Member       // the local cluster

	lookup   func(ctx context.Context, state request.Request, name string, qtype uint16) (*dns.Msg, error)
	nodeName string // this pod's node (NODE_NAME), to pick its zone in a multi-zone cluster
	run      *memberRun
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	server   string

	view atomic.Pointer[localView] // nil until the local cluster synced or the startup timeout passed
	kick chan struct{}
}

// localView is what member mode answers from, rebuilt when the local cluster
// changes so that ServeDNS only reads it.
type localView struct {
	ready    map[string]struct{} // federation/namespace/name of local Services with a ready endpoint
	location string              // "ZONE.REGION.", "REGION." or ""
}

// NewMemberMode returns a MemberMode with the defaults of the Corefile reference.
func NewMemberMode() *MemberMode {
	return &MemberMode{
		Federations:    map[string]string{},
		TTL:            30,
		Label:          DefaultLabel,
		StartupTimeout: 30 * time.Second,
		lookup:         upstream.New().Lookup,
		nodeName:       os.Getenv("NODE_NAME"),
		kick:           make(chan struct{}, 1),
	}
}

// Name implements plugin.Handler.
func (l *MemberMode) Name() string { return pluginName }

// Start watches the local cluster. Services are selected by the label key with
// any of the configured federation names as value.
func (l *MemberMode) Start() error {
	names := slices.Sorted(maps.Keys(l.Federations))
	req, err := labels.NewRequirement(l.Label, selection.In, names)
	if err != nil {
		return fmt.Errorf("label %s: %w", l.Label, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	l.run = newMemberRun(l.Cluster, labels.NewSelector().Add(*req), l.server, func(string) { l.changed() })
	l.wg.Go(func() {
		l.run.run(ctx, l.StartupTimeout, 0, func(late bool) {
			if !late && !l.run.Status().Synced {
				log.Warningf("Answering federation names without the local cluster until it syncs: every name gets the CNAME into the federation")
			}
			l.changed()
		})
	})
	l.wg.Go(func() { l.buildLoop(ctx) })
	return nil
}

func (l *MemberMode) changed() {
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// buildLoop rebuilds the view after changes; bursts coalesce into one build.
func (l *MemberMode) buildLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.kick:
		}
		synced := l.run.Status().Synced
		if !synced && !l.run.gaveUpNow() {
			continue
		}
		v := &localView{ready: map[string]struct{}{}, location: l.location()}
		if synced {
			for _, key := range l.run.src.ServiceKeys() {
				// Keyed by the Service's federation: in a block with several,
				// a Service of one is not the local copy of another's.
				if svc, ready, ok := l.run.src.Service(key); ok && ready {
					v.ready[svc.Federation+"/"+key] = struct{}{}
				}
			}
		}
		l.view.Store(v)
	}
}

// Stop ends the watches and returns when every goroutine Start began has ended.
func (l *MemberMode) Stop() {
	if l.cancel != nil {
		l.cancel()
		l.wg.Wait()
	}
}

// Ready implements ready.Readiness.
func (l *MemberMode) Ready() bool { return l.view.Load() != nil }

// ServeDNS implements plugin.Handler.
func (l *MemberMode) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	state := request.Request{W: w, Req: r}
	qname := state.Name()
	zone := plugin.Zones(l.Zones).Matches(qname)
	if zone == "" || state.QClass() != dns.ClassINET {
		return plugin.NextOrFailure(l.Name(), l.Next, ctx, w, r)
	}
	if multipleOPT(r) {
		return dns.RcodeFormatError, nil // RFC 6891 §6.1.1, as in the authoritative handler
	}
	// S.N.F.svc.ZONE: exactly four labels below the zone, the last one "svc".
	labels := dns.SplitDomainName(qname[:len(qname)-len(zone)])
	if len(labels) != 4 || labels[3] != "svc" {
		return plugin.NextOrFailure(l.Name(), l.Next, ctx, w, r)
	}
	svc, ns, fed := labels[0], labels[1], labels[2]
	domain, ok := l.Federations[fed]
	if !ok {
		return plugin.NextOrFailure(l.Name(), l.Next, ctx, w, r)
	}
	if l.Next != nil {
		// The cluster's own name of this shape stands (an answer or NODATA);
		// a failure is passed on, since it does not say the name is absent.
		nw := nonwriter.New(w)
		rcode, err := plugin.NextOrFailure(l.Name(), l.Next, ctx, nw, r)
		if !plugin.ClientWrite(rcode) || nw.Msg == nil {
			return rcode, err
		}
		if nw.Msg.Rcode != dns.RcodeNameError {
			w.WriteMsg(nw.Msg)
			return rcode, err
		}
	}
	v := l.view.Load()
	if v == nil {
		return dns.RcodeServerFailure, nil // never a false answer before the first sync
	}

	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true

	if _, ok := v.ready[fed+"/"+ns+"/"+svc]; ok {
		target := svc + "." + ns + ".svc." + zone
		if local := l.askNext(ctx, state, target); local != nil {
			m.Answer = append([]dns.RR{l.cname(state.QName(), target)}, local.Answer...)
			m.Ns = local.Ns
			m.Truncated = local.Truncated
			w.WriteMsg(m)
			return dns.RcodeSuccess, nil
		}
	}

	target := svc + "." + ns + "." + fed + ".svc." + v.location + domain
	m.Answer = []dns.RR{l.cname(state.QName(), target)}
	// A target in the cluster domain (a federation domain inside it, or a
	// discovered region that makes one) would come back here, maybe without
	// end: it is left to the client.
	chase := state.QType() != dns.TypeCNAME && plugin.Zones(l.Zones).Matches(target) == ""
	if chase {
		if res, err := l.lookup(ctx, state, target, state.QType()); err == nil && res != nil {
			m.Answer = append(m.Answer, res.Answer...)
			m.Ns = res.Ns
			// The chased target's rcode is the answer's rcode (RFC 6604).
			m.Rcode = res.Rcode
			// A truncated chase makes a truncated answer: the client asks again
			// over TCP rather than caching a partial RRset (RFC 2181 section 9).
			m.Truncated = res.Truncated
		}
	}
	w.WriteMsg(m)
	return dns.RcodeSuccess, nil
}

// askNext asks the next plugin (kubernetes) for the local Service's name and
// returns its answer when it has one.
func (l *MemberMode) askNext(ctx context.Context, state request.Request, target string) *dns.Msg {
	req := state.NewWithQuestion(target, state.QType())
	nw := nonwriter.New(state.W)
	if _, err := plugin.NextOrFailure(l.Name(), l.Next, ctx, nw, req.Req); err != nil {
		return nil
	}
	if nw.Msg == nil || nw.Msg.Rcode != dns.RcodeSuccess {
		return nil
	}
	return nw.Msg
}

func (l *MemberMode) cname(owner, target string) dns.RR {
	return &dns.CNAME{Hdr: dns.RR_Header{Name: owner, Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: l.TTL}, Target: target}
}

// location returns "ZONE.REGION.", "REGION." or "" (global): the most specific
// level this cluster's place is known at.
func (l *MemberMode) location() string {
	region, zone := l.Region, l.Zone
	if region == "" || zone == "" {
		var regions, zones []string
		var nodeZone string
		if l.nodeName != "" {
			_, node := l.run.src.Nodes(l.nodeName)
			if checkLabel(node.Zone) == nil {
				nodeZone = strings.ToLower(node.Zone)
			}
		}
		for _, p := range l.run.topo.current() {
			if p.Region != "" && !slices.Contains(regions, p.Region) {
				regions = append(regions, p.Region)
			}
			if p.Zone != "" && !slices.Contains(zones, p.Zone) {
				zones = append(zones, p.Zone)
			}
		}
		if region == "" && len(regions) == 1 {
			region = regions[0]
		}
		if zone == "" {
			switch {
			case nodeZone != "":
				zone = nodeZone
			case len(zones) == 1:
				zone = zones[0]
			}
		}
	}
	switch {
	case region == "":
		return ""
	case zone == "":
		return region + "."
	}
	return zone + "." + region + "."
}
