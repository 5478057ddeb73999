package shardhealth

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/coredns-fed/coredns-fed/plugin/federation"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
)

func init() { plugin.Register(pluginName, setup) }

func setup(c *caddy.Controller) error {
	h, err := parse(c)
	if err != nil {
		return plugin.Error(pluginName, err)
	}
	// The federation of this server block starts and stops h, before its first
	// snapshot and after its sources, wherever the two plugins are in the block.
	cfg := dnsserver.GetConfig(c)
	federation.UseHealth(cfg, h)
	c.OnStartup(func() error {
		h.server = federation.ServerLabel(cfg)
		return checkFederation(cfg)
	})
	return nil
}

// checkFederation reports a server block without an authoritative federation:
// nothing would start the probes.
func checkFederation(cfg *dnsserver.Config) error {
	switch cfg.Handler("federation").(type) {
	case *federation.Federation:
		return nil
	case nil:
		return plugin.Error(pluginName, errors.New("the federation plugin is not in this server block"))
	default:
		return plugin.Error(pluginName, errors.New("the federation plugin of this server block is in member mode; shardhealth needs its authoritative mode (member blocks)"))
	}
}

func parse(c *caddy.Controller) (*ShardHealth, error) {
	h := New()
	seen := false
	for c.Next() {
		if seen {
			return nil, c.Err("only one shardhealth block per server block")
		}
		seen = true
		if args := c.RemainingArgs(); len(args) != 0 {
			return nil, c.Errf("shardhealth takes no arguments, got %q", args)
		}
		timeoutSet := false
		for c.NextBlock() {
			opt := c.Val()
			args := c.RemainingArgs()
			one := func(what string) (string, error) {
				if len(args) != 1 {
					return "", c.Errf("%s needs exactly one %s, got %d arguments", opt, what, len(args))
				}
				return args[0], nil
			}
			switch opt {
			case "probe":
				if len(args) < 1 || len(args) > 2 {
					return nil, c.Errf("probe needs http, https, tcp or off and an optional PORT, got %d arguments", len(args))
				}
				kind := strings.ToLower(args[0])
				switch kind {
				case kindHTTP, kindHTTPS, kindTCP, kindOff:
				default:
					return nil, c.Errf("probe %q: must be http, https, tcp or off", args[0])
				}
				h.Probe.Kind, h.Probe.Port = kind, 0
				if len(args) == 2 {
					if kind == kindOff {
						return nil, c.Errf("probe off %q: off takes no PORT", args[1])
					}
					port, err := parsePort(args[1])
					if err != nil {
						return nil, c.Errf("probe %s %q: PORT %v", kind, args[1], err)
					}
					h.Probe.Port = port
				}
				if kind == kindTCP && h.Probe.Port == 0 {
					return nil, c.Err("probe tcp needs a PORT")
				}
			case "path":
				v, err := one("PATH")
				if err != nil {
					return nil, err
				}
				if err := checkPath(v); err != nil {
					return nil, c.Errf("path %q: %v", v, err)
				}
				h.Probe.Path = v
			case "expect":
				v, err := one("CODE or CODE-CODE")
				if err != nil {
					return nil, err
				}
				lo, hi, err := parseExpect(v)
				if err != nil {
					return nil, c.Errf("expect %q: %v", v, err)
				}
				h.Probe.ExpectMin, h.Probe.ExpectMax = lo, hi
			case "host":
				v, err := one("NAME")
				if err != nil {
					return nil, err
				}
				if err := checkHost(v); err != nil {
					return nil, c.Errf("host %q: %v", v, err)
				}
				h.Probe.Host = v
			case "grace":
				return nil, c.Err("grace moved to the federation plugin: a member's staleness is set there with stale_after DURATION")
			case "interval", "timeout":
				v, err := one("DURATION")
				if err != nil {
					return nil, err
				}
				d, err := time.ParseDuration(v)
				if err != nil || d <= 0 {
					return nil, c.Errf("%s %q: must be a positive duration such as 5s", opt, v)
				}
				switch opt {
				case "interval":
					h.Interval = d
				case "timeout":
					h.Timeout, timeoutSet = d, true
				}
			case "rise", "fall":
				v, err := one("COUNT")
				if err != nil {
					return nil, err
				}
				n, err := strconv.Atoi(v)
				if err != nil || n < 1 || n > 100 {
					return nil, c.Errf("%s %q: must be an integer in [1, 100]", opt, v)
				}
				if opt == "rise" {
					h.Rise = n
				} else {
					h.Fall = n
				}
			case "jitter":
				v, err := one("PERCENT")
				if err != nil {
					return nil, err
				}
				n, err := strconv.Atoi(strings.TrimSuffix(v, "%"))
				if err != nil || !strings.HasSuffix(v, "%") || n < 0 || n > 50 {
					return nil, c.Errf("jitter %q: must be a percentage in [0%%, 50%%] such as 10%%", v)
				}
				h.Jitter = float64(n) / 100
			case "max_concurrent":
				v, err := one("COUNT")
				if err != nil {
					return nil, err
				}
				n, err := strconv.Atoi(v)
				if err != nil || n < 1 || n > 10000 {
					return nil, c.Errf("max_concurrent %q: must be an integer in [1, 10000]", v)
				}
				h.MaxConcurrent = n
			default:
				return nil, c.Errf("unknown option %q", opt)
			}
		}
		if !timeoutSet && h.Timeout > h.Interval {
			h.Timeout = h.Interval // the default timeout shrinks to a short interval
		}
		if h.Timeout > h.Interval {
			return nil, c.Errf("timeout %s is longer than interval %s; a probe must end before the next one is due", h.Timeout, h.Interval)
		}
	}
	return h, nil
}

// ConfigKey implements the federation's configuration key: a reload that
// changes the probes starts the federation anew.
func (h *ShardHealth) ConfigKey() string {
	return fmt.Sprintf("%+v %s %s %d %d %g %d", h.Probe, h.Interval, h.Timeout, h.Rise, h.Fall, h.Jitter, h.MaxConcurrent)
}
