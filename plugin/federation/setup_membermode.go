package federation

import (
	"slices"
	"strings"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"

	"github.com/miekg/dns"
	"k8s.io/apimachinery/pkg/util/validation"
)

func setupMemberMode(c *caddy.Controller) error {
	l, err := parseMemberMode(c)
	if err != nil {
		return plugin.Error(pluginName, err)
	}
	if err := l.Cluster.connect(); err != nil {
		return plugin.Error(pluginName, err)
	}
	c.OnStartup(func() error {
		l.server = ServerLabel(dnsserver.GetConfig(c))
		if err := l.Start(); err != nil {
			return plugin.Error(pluginName, err)
		}
		return nil
	})
	c.OnShutdown(func() error {
		l.Stop()
		return nil
	})
	dnsserver.GetConfig(c).AddPlugin(func(next plugin.Handler) plugin.Handler {
		l.Next = next
		return l
	})
	return nil
}

// parseMemberMode reads the member-mode block:
//
//	federation [ZONES...] {
//	    NAME DOMAIN
//	    kubeconfig KUBECONFIG [CONTEXT]
//	    region REGION
//	    zone ZONE
//	    ttl SECONDS
//	    label KEY
//	    startup_timeout DURATION
//	}
func parseMemberMode(c *caddy.Controller) (*MemberMode, error) {
	l := NewMemberMode()
	l.Cluster = &Member{Name: "local", InCluster: true}
	for c.Next() {
		l.Zones = plugin.OriginsFromArgsOrServerBlock(c.RemainingArgs(), c.ServerBlockKeys)
		// Below the root zone S.N.F.svc.cluster.local is six labels, not the
		// S.N.F.svc four under a cluster domain: nothing would be answered.
		// kubeadm's Corefile is a ".:53" block, so say what to write.
		if slices.Contains(l.Zones, ".") {
			return nil, c.Errf("federation in member mode needs the cluster domain as its zone, not the root: write federation cluster.local { ... } (with your cluster domain) in this server block")
		}
		for c.NextBlock() {
			opt := c.Val()
			args := c.RemainingArgs()
			switch opt {
			case "kubeconfig":
				if len(args) < 1 || len(args) > 2 {
					return nil, c.Errf("kubeconfig needs KUBECONFIG [CONTEXT], got %d arguments", len(args))
				}
				l.Cluster.InCluster, l.Cluster.Kubeconfig = false, args[0]
				if len(args) == 2 {
					l.Cluster.Context = args[1]
				}
			case "region", "zone":
				if len(args) != 1 {
					return nil, c.Errf("%s needs exactly one value, got %d arguments", opt, len(args))
				}
				if err := checkLabel(args[0]); err != nil {
					return nil, c.Errf("%s %q: %v", opt, args[0], err)
				}
				if opt == "region" {
					l.Region = strings.ToLower(args[0])
				} else {
					l.Zone = strings.ToLower(args[0])
				}
			case "ttl":
				t, err := parseTTL(c, args)
				if err != nil {
					return nil, err
				}
				l.TTL = t
			case "label":
				key, err := parseLabel(c, args)
				if err != nil {
					return nil, err
				}
				l.Label = key
			case "startup_timeout":
				d, err := parseDuration(c, opt, args)
				if err != nil {
					return nil, err
				}
				l.StartupTimeout = d
			default:
				// NAME DOMAIN: a federation and the domain its names live in.
				if len(args) != 1 {
					return nil, c.Errf("unknown option %q (a federation line is NAME DOMAIN)", opt)
				}
				name := strings.ToLower(opt)
				if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
					return nil, c.Errf("federation name %q: %s", opt, strings.Join(errs, "; "))
				}
				domain := dns.Fqdn(strings.ToLower(args[0]))
				if _, ok := dns.IsDomainName(domain); !ok || dns.CountLabel(domain) < 1 {
					return nil, c.Errf("federation %s: domain %q is not a domain name", opt, args[0])
				}
				// Its names are chased through this server: inside the cluster
				// domain they would come back to this block, without end.
				for _, z := range l.Zones {
					if dns.IsSubDomain(z, domain) {
						return nil, c.Errf("federation %s: domain %s is the cluster domain %s or inside it; give the domain the federation's name servers serve", opt, domain, z)
					}
				}
				if _, dup := l.Federations[name]; dup {
					return nil, c.Errf("federation %s defined twice", opt)
				}
				l.Federations[name] = domain
			}
		}
	}
	if len(l.Federations) == 0 {
		return nil, c.Err("federation needs a member block (authoritative mode) or at least one NAME DOMAIN line (member mode)")
	}
	l.Cluster.Region = l.Region
	if l.Zone != "" {
		l.Cluster.Zones = []string{l.Zone}
	}
	l.Cluster.NoNodes = l.Region != "" && l.Zone != ""
	return l, nil
}
