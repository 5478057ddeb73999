package federation

import (
	"net"
	"net/netip"
	"strings"

	"github.com/coredns/caddy"
)

// parseResolvers reads "resolvers [ADDRESS...] { refresh MIN MAX; timeout
// DURATION }". An ADDRESS is an IP, or IP:PORT ([IPv6]:PORT); port 53 when
// none is given. Without addresses, the nameservers of /etc/resolv.conf.
func parseResolvers(c *caddy.Controller) (*ResolverConfig, error) {
	cfg := DefaultResolverConfig()
	args := c.RemainingArgs()
	block := false
	if n := len(args); n > 0 && args[n-1] == "{" {
		args, block = args[:n-1], true
	} else if c.NextArg() {
		if c.Val() != "{" {
			return nil, c.Errf("resolvers: unexpected %q; syntax: resolvers [ADDRESS...] { refresh MIN MAX; timeout DURATION }", c.Val())
		}
		block = true
	}
	for _, a := range args {
		s, err := resolverAddress(a)
		if err != nil {
			return nil, c.Errf("resolvers %q: %v", a, err)
		}
		cfg.Servers = append(cfg.Servers, s)
	}
	for closed := !block; !closed; {
		if !c.Next() {
			return nil, c.Err("resolvers: block not closed with '}'")
		}
		opt := c.Val()
		if opt == "}" {
			break
		}
		a := c.RemainingArgs()
		if n := len(a); n > 0 && a[n-1] == "}" {
			a, closed = a[:n-1], true
		}
		switch opt {
		case "refresh":
			if len(a) != 2 {
				return nil, c.Errf("resolvers refresh needs MIN and MAX durations, got %d arguments", len(a))
			}
			lo, err := parseDuration(c, "resolvers refresh MIN", a[:1])
			if err != nil {
				return nil, err
			}
			hi, err := parseDuration(c, "resolvers refresh MAX", a[1:])
			if err != nil {
				return nil, err
			}
			if hi < lo {
				return nil, c.Errf("resolvers refresh: MAX %s is below MIN %s", a[1], a[0])
			}
			cfg.RefreshMin, cfg.RefreshMax = lo, hi
		case "timeout":
			d, err := parseDuration(c, "resolvers timeout", a)
			if err != nil {
				return nil, err
			}
			cfg.Timeout = d
		default:
			return nil, c.Errf("resolvers: unknown option %q (refresh, timeout)", opt)
		}
	}
	return &cfg, nil
}

// resolverAddress returns a as host:port, with port 53 when a has none.
func resolverAddress(a string) (string, error) {
	if ip, err := netip.ParseAddr(a); err == nil && ip.Zone() == "" {
		return net.JoinHostPort(ip.String(), "53"), nil
	}
	ap, err := netip.ParseAddrPort(a)
	if err != nil || ap.Addr().Zone() != "" || ap.Port() == 0 || strings.Count(a, ":") > 1 && !strings.HasPrefix(a, "[") {
		return "", errNotResolver
	}
	return ap.String(), nil
}

var errNotResolver = errorString("not an IP address or IP:PORT")

type errorString string

func (e errorString) Error() string { return string(e) }
