package federation

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"

	"github.com/miekg/dns"
	"k8s.io/apimachinery/pkg/util/validation"
)

func init() { plugin.Register(pluginName, setup) }

func setup(c *caddy.Controller) error {
	routeKlog()
	if memberMode(c) {
		return setupMemberMode(c)
	}
	tokens := blockTokens(c)
	f, err := parse(c)
	if err != nil {
		return plugin.Error(pluginName, err)
	}
	// Load every kubeconfig now, so that a bad one fails the start and names its member.
	for _, m := range f.Members {
		if err := m.connect(); err != nil {
			return plugin.Error(pluginName, err)
		}
	}

	cfg := dnsserver.GetConfig(c)
	key := configKey(tokens, f.Members)
	c.OnStartup(func() error {
		// Every plugin's setup has run: a health checker of this server block,
		// whatever its place in the block, has registered by now.
		if h, ok := healthCheckers.LoadAndDelete(cfg); ok {
			f.SetHealth(h.(HealthChecker))
			if k, ok := h.(configKeyer); ok {
				key += " health:" + k.ConfigKey()
			}
		}
		f.server = ServerLabel(cfg)
		f.transfer = cfg.Handler("transfer") != nil
		if t, ok := cfg.Handler("transfer").(notifier); ok {
			f.notifier = t // its "to" addresses get a NOTIFY at every new serial
		}
		f.startup(key)
		if f.status != "" {
			return startStatus(f.status, f.engine)
		}
		return nil
	})
	c.OnShutdown(func() error {
		if f.status != "" {
			stopStatus(f.status)
		}
		f.shutdown()
		return nil
	})

	if len(cfg.Plugin) > 0 {
		// Plugins ahead of the federation in this block may wrap the writer:
		// replies are compressed at the head of the chain instead (wire.go).
		cfg.Plugin = slices.Insert(cfg.Plugin, 0, func(next plugin.Handler) plugin.Handler {
			return wireHandler{next: next}
		})
	}
	cfg.AddPlugin(func(next plugin.Handler) plugin.Handler {
		f.Next = next
		return f
	})
	return nil
}

// healthCheckers holds the HealthChecker of each server block (by its config)
// from setup until the federation of that block starts.
var healthCheckers sync.Map

// UseHealth registers h as the health checker of the federation in the server
// block of cfg. It is called from a plugin's setup; the federation starts h
// before its first snapshot, whatever the order of the two plugins.
func UseHealth(cfg *dnsserver.Config, h HealthChecker) { healthCheckers.Store(cfg, h) }

// ServerLabel is the "server" label of metrics recorded outside a query (member
// and snapshot metrics, probes): the address metrics.WithServer gives queries of
// the same server, such as "dns://:53" or, with bind, "dns://127.0.0.1:53".
func ServerLabel(cfg *dnsserver.Config) string {
	host := ""
	if len(cfg.ListenHosts) > 0 {
		host = cfg.ListenHosts[0]
	}
	transport := cfg.Transport
	if transport == "" {
		transport = "dns"
	}
	return transport + "://" + net.JoinHostPort(host, cfg.Port)
}

func parse(c *caddy.Controller) (*Federation, error) {
	f := New()
	seen := false
	for c.Next() {
		if seen {
			return nil, c.Err("only one federation block per server block")
		}
		seen = true
		args := c.RemainingArgs()
		if len(args) != 1 {
			return nil, c.Errf("federation needs exactly one FEDERATION name, got %d arguments", len(args))
		}
		f.Fed = strings.ToLower(args[0])
		if errs := validation.IsDNS1123Label(f.Fed); len(errs) > 0 {
			return nil, c.Errf("federation name %q: %s", args[0], strings.Join(errs, "; "))
		}
		zones := plugin.OriginsFromArgsOrServerBlock(nil, c.ServerBlockKeys)
		if len(zones) != 1 {
			return nil, c.Errf("federation needs exactly one zone in its server block, got %d: %v", len(zones), zones)
		}
		f.Zone = zones[0]

		var soa []string
		var nsSeen bool
		drainLine := map[string]int{} // the line that drains a member
		for c.NextBlock() {
			opt := c.Val()
			switch opt {
			case "member":
				m, err := parseMember(c)
				if err != nil {
					return nil, err
				}
				for _, o := range f.Members {
					if o.Name == m.Name {
						return nil, c.Errf("member %q defined twice", m.Name)
					}
				}
				f.Members = append(f.Members, m)
			case "label":
				l, err := parseLabel(c, c.RemainingArgs())
				if err != nil {
					return nil, err
				}
				f.Label = l
			case "namespaces":
				a := c.RemainingArgs()
				if len(a) == 0 {
					return nil, c.Err("namespaces needs at least one NAMESPACE")
				}
				for _, ns := range a {
					if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
						return nil, c.Errf("namespaces %q: %s", ns, strings.Join(errs, "; "))
					}
				}
				f.Namespaces = append(f.Namespaces, a...)
			case "ttl":
				t, err := parseTTL(c, c.RemainingArgs())
				if err != nil {
					return nil, err
				}
				f.TTL = t
			case "max_answers":
				a := c.RemainingArgs()
				if len(a) != 1 {
					return nil, c.Errf("max_answers needs one number, got %d arguments", len(a))
				}
				n, err := strconv.Atoi(a[0])
				if err != nil || n < 0 || n > maxMaxAnswers {
					return nil, c.Errf("max_answers %q: not a number from 0 (no limit) to %d", a[0], maxMaxAnswers)
				}
				f.MaxAnswers = n
			case "soa":
				soa = c.RemainingArgs()
				if len(soa) != 2 && len(soa) != 6 {
					return nil, c.Errf("soa needs MNAME RNAME [REFRESH RETRY EXPIRE MINIMUM], got %d arguments", len(soa))
				}
			case "ns":
				a := c.RemainingArgs()
				if len(a) < 1 {
					return nil, c.Err("ns needs NAME [ADDRESS...]")
				}
				ns := nameServer{name: dns.Fqdn(strings.ToLower(a[0]))}
				if _, ok := dns.IsDomainName(ns.name); !ok {
					return nil, c.Errf("ns %q: not a domain name", a[0])
				}
				inZone := dns.IsSubDomain(f.Zone, ns.name)
				for _, s := range a[1:] {
					addr, err := netip.ParseAddr(s)
					if err != nil {
						return nil, c.Errf("ns %s: address %q: not an IP address", a[0], s)
					}
					ns.addrs = append(ns.addrs, addr.Unmap())
				}
				if inZone && len(ns.addrs) == 0 {
					return nil, c.Errf("ns %s: a name server inside %s needs glue addresses", a[0], f.Zone)
				}
				if !inZone && len(ns.addrs) > 0 {
					return nil, c.Errf("ns %s: glue addresses are only allowed for names inside %s", a[0], f.Zone)
				}
				f.ns = append(f.ns, ns)
				nsSeen = true
			case "geo":
				if f.geo != nil {
					return nil, c.Err("geo given twice")
				}
				g, err := parseGeo(c)
				if err != nil {
					return nil, err
				}
				f.geo = g
			case "startup_timeout", "stale_after":
				d, err := parseDuration(c, opt, c.RemainingArgs())
				if err != nil {
					return nil, err
				}
				if opt == "stale_after" {
					f.StaleAfter = d
				} else {
					f.StartupTimeout = d
				}
			case "ingress":
				rules, err := parseIngress(c, c.RemainingArgs())
				if err != nil {
					return nil, err
				}
				f.Ingress = append(f.Ingress, rules...)
			case "drain":
				// Checked against the members once the block is read: a member
				// may be defined after the line that drains it.
				args := c.RemainingArgs()
				if len(args) == 0 {
					return nil, c.Errf("drain needs at least one MEMBER")
				}
				for _, a := range args {
					drainLine[a] = c.Line()
				}
				f.Drain = append(f.Drain, args...)
			case "resolvers":
				if f.Resolvers != nil {
					return nil, c.Err("resolvers given twice")
				}
				r, err := parseResolvers(c)
				if err != nil {
					return nil, err
				}
				f.Resolvers = r
			case "status":
				addr, err := parseStatus(c, c.RemainingArgs())
				if err != nil {
					return nil, err
				}
				f.status, f.changes = addr, &changeLog{}
			default:
				return nil, c.Errf("unknown option %q", opt)
			}
		}
		if len(f.Members) == 0 {
			return nil, c.Err("federation needs at least one member")
		}
		for _, name := range f.Drain {
			if !slices.ContainsFunc(f.Members, func(m *Member) bool { return m.Name == name }) {
				return nil, fmt.Errorf("%s:%d - Error during parsing: drain %q: no member of that name", c.File(), drainLine[name], name)
			}
		}
		if f.Resolvers == nil {
			r := DefaultResolverConfig() // the system's resolvers
			f.Resolvers = &r
		}
		if !nsSeen {
			// No default: an invented name server has no address, and a zone whose
			// NS has none fails every secondary's and checker's load.
			return nil, c.Errf("federation needs at least one 'ns NAME [ADDRESS...]' line: it gives the zone's NS records, "+
				"and a NAME inside %s needs its glue addresses (for example: ns ns1.%s 192.0.2.53)", f.Zone, f.Zone)
		}
		if err := f.parseSOA(c, soa); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// parseSOA fills the SOA from the soa option's arguments, or the defaults.
func (f *Federation) parseSOA(c *caddy.Controller, args []string) error {
	f.soa = soaConfig{
		mname: f.ns[0].name, rname: "hostmaster." + f.Zone,
		refresh: 7200, retry: 1800, expire: 86400, minttl: f.TTL,
	}
	if len(args) == 0 {
		return nil
	}
	for i, p := range []*string{&f.soa.mname, &f.soa.rname} {
		name := dns.Fqdn(strings.ToLower(args[i]))
		if _, ok := dns.IsDomainName(name); !ok {
			return c.Errf("soa %q: not a domain name", args[i])
		}
		*p = name
	}
	if len(args) == 6 {
		for i, p := range []*uint32{&f.soa.refresh, &f.soa.retry, &f.soa.expire, &f.soa.minttl} {
			v, err := strconv.ParseUint(args[2+i], 10, 32)
			if err != nil {
				return c.Errf("soa %q: timers must be unsigned 32-bit integers", args[2+i])
			}
			*p = uint32(v)
		}
	}
	return nil
}

// parseMember reads "member NAME { ... }". The caddy dispenser does not nest
// blocks, so the inner block is read token by token.
func parseMember(c *caddy.Controller) (*Member, error) {
	a := c.RemainingArgs()
	if len(a) != 1 || !c.NextArg() || c.Val() != "{" {
		return nil, c.Err("member needs a NAME and a block: member NAME { kubeconfig PATH }")
	}
	m := &Member{Name: a[0]}
	if errs := validation.IsDNS1123Subdomain(m.Name); len(errs) > 0 {
		return nil, c.Errf("member %q: %s", m.Name, strings.Join(errs, "; "))
	}
	for closed := false; !closed; {
		if !c.Next() {
			return nil, c.Errf("member %s: block not closed with '}'", m.Name)
		}
		opt := c.Val()
		if opt == "}" {
			break
		}
		args := c.RemainingArgs()
		// On a one-line block ("member a { kubeconfig PATH }") the brace is an argument.
		if n := len(args); n > 0 && args[n-1] == "}" {
			args, closed = args[:n-1], true
		}
		switch opt {
		case "kubeconfig":
			if len(args) < 1 || len(args) > 2 {
				return nil, c.Errf("member %s: kubeconfig needs KUBECONFIG [CONTEXT], got %d arguments", m.Name, len(args))
			}
			m.Kubeconfig = args[0]
			if len(args) == 2 {
				m.Context = args[1]
			}
		case "incluster":
			if len(args) != 0 {
				return nil, c.Errf("member %s: incluster takes no arguments", m.Name)
			}
			m.InCluster = true
		case "region":
			if len(args) != 1 {
				return nil, c.Errf("member %s: region needs exactly one REGION, got %d arguments", m.Name, len(args))
			}
			if err := checkLabel(args[0]); err != nil {
				return nil, c.Errf("member %s: region %q: %v", m.Name, args[0], err)
			}
			m.Region = strings.ToLower(args[0])
		case "zones":
			if len(args) == 0 {
				return nil, c.Errf("member %s: zones needs at least one ZONE", m.Name)
			}
			for _, z := range args {
				if err := checkLabel(z); err != nil {
					return nil, c.Errf("member %s: zone %q: %v", m.Name, z, err)
				}
				m.Zones = append(m.Zones, strings.ToLower(z))
			}
		default:
			return nil, c.Errf("member %s: unknown option %q", m.Name, opt)
		}
	}
	if m.InCluster == (m.Kubeconfig != "") {
		return nil, c.Errf("member %s: needs exactly one of kubeconfig and incluster", m.Name)
	}
	return m, nil
}

// memberMode reports whether the block configures member mode (NAME DOMAIN lines)
// rather than the authoritative server (member NAME { ... } blocks).
func memberMode(c *caddy.Controller) bool {
	d := c.Dispenser // a copy: scanning ahead does not move c
	for d.Next() {
		if d.Val() == "member" {
			return false
		}
	}
	return true
}

// parseDuration reads "OPTION DURATION", a positive duration.
func parseDuration(c *caddy.Controller, opt string, args []string) (time.Duration, error) {
	if len(args) != 1 {
		return 0, c.Errf("%s needs exactly one DURATION, got %d arguments", opt, len(args))
	}
	d, err := time.ParseDuration(args[0])
	if err != nil || d <= 0 {
		return 0, c.Errf("%s %q: must be a positive duration such as 30s", opt, args[0])
	}
	return d, nil
}

// parseTTL reads "ttl SECONDS".
func parseTTL(c *caddy.Controller, args []string) (uint32, error) {
	if len(args) != 1 {
		return 0, c.Errf("ttl needs exactly one SECONDS value, got %d arguments", len(args))
	}
	t, err := strconv.Atoi(args[0])
	if err != nil || t < 0 || t > 3600 {
		return 0, c.Errf("ttl %q: must be an integer in [0, 3600]", args[0])
	}
	return uint32(t), nil
}

// parseLabel reads "label KEY".
func parseLabel(c *caddy.Controller, args []string) (string, error) {
	if len(args) != 1 {
		return "", c.Errf("label needs exactly one KEY, got %d arguments", len(args))
	}
	if errs := validation.IsQualifiedName(args[0]); len(errs) > 0 {
		return "", c.Errf("label %q: %s", args[0], strings.Join(errs, "; "))
	}
	return args[0], nil
}
