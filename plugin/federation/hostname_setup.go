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
	args, block, err := blockArgs(c, "resolvers", "resolvers [ADDRESS...] { refresh MIN MAX; timeout DURATION }")
	if err != nil {
		return nil, err
	}
	for _, a := range args {
		s, err := resolverAddress(a)
		if err != nil {
			return nil, c.Errf("resolvers %q: %v", a, err)
		}
		cfg.Servers = append(cfg.Servers, s)
	}
	err = blockOptions(c, "resolvers", block, func(opt string, a []string) error {
		switch opt {
		case "refresh":
			if len(a) != 2 {
				return c.Errf("resolvers refresh needs MIN and MAX durations, got %d arguments", len(a))
			}
			lo, err := parseDuration(c, "resolvers refresh MIN", a[:1])
			if err != nil {
				return err
			}
			hi, err := parseDuration(c, "resolvers refresh MAX", a[1:])
			if err != nil {
				return err
			}
			if hi < lo {
				return c.Errf("resolvers refresh: MAX %s is below MIN %s", a[1], a[0])
			}
			cfg.RefreshMin, cfg.RefreshMax = lo, hi
		case "timeout":
			d, err := parseDuration(c, "resolvers timeout", a)
			if err != nil {
				return err
			}
			cfg.Timeout = d
		default:
			return c.Errf("resolvers: unknown option %q (refresh, timeout)", opt)
		}
		return nil
	})
	if err != nil {
		return nil, err
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

// blockArgs reads the arguments of option name and whether a block follows
// them, on the same line ("name ARGS {") or as the next token. The caddy
// dispenser does not nest blocks, so an option's block inside the federation
// block is read token by token (blockOptions).
func blockArgs(c *caddy.Controller, name, syntax string) (args []string, block bool, err error) {
	args = c.RemainingArgs()
	if n := len(args); n > 0 && args[n-1] == "{" {
		return args[:n-1], true, nil
	}
	if c.NextArg() {
		if c.Val() != "{" {
			return nil, false, c.Errf("%s: unexpected %q; syntax: %s", name, c.Val(), syntax)
		}
		return args, true, nil
	}
	return args, false, nil
}

// blockOptions calls option for every line of option name's block, up to its
// closing brace, with the line's first token and its arguments; nothing
// without a block.
func blockOptions(c *caddy.Controller, name string, block bool, option func(opt string, args []string) error) error {
	for closed := !block; !closed; {
		if !c.Next() {
			return c.Errf("%s: block not closed with '}'", name)
		}
		opt := c.Val()
		if opt == "}" {
			break
		}
		a := c.RemainingArgs()
		if n := len(a); n > 0 && a[n-1] == "}" {
			a, closed = a[:n-1], true
		}
		if err := option(opt, a); err != nil {
			return err
		}
	}
	return nil
}
