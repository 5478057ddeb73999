package shardhealth

import (
	"fmt"
	"maps"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/coredns-fed/coredns-fed/plugin/federation"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Service annotations that override the Corefile's probe for one Service.
const (
	AnnotationProbe  = federation.AnnotationPrefix + "probe"        // http, https, tcp or off
	AnnotationPort   = federation.AnnotationPrefix + "probe-port"   // 1-65535
	AnnotationPath   = federation.AnnotationPrefix + "probe-path"   // /healthz
	AnnotationExpect = federation.AnnotationPrefix + "probe-expect" // 200 or 200-399
	AnnotationHost   = federation.AnnotationPrefix + "probe-host"   // Host header and TLS server name
)

// shardConfig is the probe of one shard, parsed from its annotations; it is kept
// until they change, so that a bad value is logged once.
type shardConfig struct {
	annotations map[string]string
	probe       Probe // resolved
	probed      bool
}

// probeFor returns the probe of s and whether it is probed at all.
func (h *ShardHealth) probeFor(s *federation.Shard) (Probe, bool) {
	id := shardID(s)
	h.mu.Lock()
	cfg := h.configs[id]
	h.mu.Unlock()
	if cfg != nil && maps.Equal(cfg.annotations, s.Annotations) {
		return cfg.probe, cfg.probed
	}

	p, problems := override(h.Probe, s.Annotations)
	for _, pr := range problems {
		log.Warningf("Service %s/%s in member %s: annotation %s: %s; ignored, the default applies", s.Namespace, s.Name, s.Member, pr.key, pr.msg)
	}
	cfg = &shardConfig{annotations: maps.Clone(s.Annotations), probe: p.resolved(), probed: p.Kind != kindOff}
	h.mu.Lock()
	h.configs[id] = cfg
	h.mu.Unlock()
	return cfg.probe, cfg.probed
}

// problem is an annotation value that was ignored.
type problem struct{ key, msg string }

// override applies the annotations to def. A bad value is reported and the
// default stays for that key.
func override(def Probe, ann map[string]string) (Probe, []problem) {
	p := def
	var problems []problem
	bad := func(key, format string, a ...any) {
		problems = append(problems, problem{key, fmt.Sprintf("%q ", ann[key]) + fmt.Sprintf(format, a...)})
	}

	for _, key := range slices.Sorted(maps.Keys(ann)) {
		if strings.HasPrefix(key, AnnotationProbe) && !slices.Contains(annotationKeys, key) {
			problems = append(problems, problem{key, fmt.Sprintf("%q: unknown key, expected one of %s", ann[key], strings.Join(annotationKeys, ", "))})
		}
	}

	if v, ok := ann[AnnotationProbe]; ok {
		kind := strings.ToLower(strings.TrimSpace(v))
		switch kind {
		case kindHTTP, kindHTTPS, kindTCP, kindOff:
			if kind != p.Kind {
				p.Kind = kind
				p.Port = 0 // the Corefile's PORT belongs to the Corefile's kind
			}
		default:
			bad(AnnotationProbe, "is not http, https, tcp or off")
		}
	}
	if v, ok := ann[AnnotationPort]; ok {
		if port, err := parsePort(v); err != nil {
			bad(AnnotationPort, "is not a port: %v", err)
		} else {
			p.Port = port
		}
	}
	if v, ok := ann[AnnotationPath]; ok {
		if err := checkPath(v); err != nil {
			bad(AnnotationPath, "%v", err)
		} else {
			p.Path = v
		}
	}
	if v, ok := ann[AnnotationExpect]; ok {
		if lo, hi, err := parseExpect(v); err != nil {
			bad(AnnotationExpect, "%v", err)
		} else {
			p.ExpectMin, p.ExpectMax = lo, hi
		}
	}
	if v, ok := ann[AnnotationHost]; ok {
		if err := checkHost(v); err != nil {
			bad(AnnotationHost, "%v", err)
		} else {
			p.Host = v
		}
	}
	if p.Kind == kindTCP && p.Port == 0 {
		bad(AnnotationProbe, "needs a port in %s", AnnotationPort)
		p.Kind, p.Port = def.Kind, def.Port
	}
	return p, problems
}

var annotationKeys = []string{AnnotationProbe, AnnotationPort, AnnotationPath, AnnotationExpect, AnnotationHost}

func parsePort(s string) (uint16, error) {
	n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("must be an integer in [1, 65535]")
	}
	return uint16(n), nil
}

// checkPath accepts an absolute request path, optionally with a query.
func checkPath(s string) error {
	if !strings.HasPrefix(s, "/") || strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return fmt.Errorf("must be an absolute path such as /healthz, without spaces")
	}
	if _, err := url.ParseRequestURI(s); err != nil {
		return fmt.Errorf("not a request path: %v", err)
	}
	return nil
}

// parseExpect reads CODE or CODE-CODE, status codes from 100 to 599.
func parseExpect(s string) (int, int, error) {
	los, his, rng := strings.Cut(strings.TrimSpace(s), "-")
	if !rng {
		his = los
	}
	lo, err1 := strconv.Atoi(los)
	hi, err2 := strconv.Atoi(his)
	if err1 != nil || err2 != nil || lo < 100 || hi > 599 || lo > hi {
		return 0, 0, fmt.Errorf("must be a status code or a range such as 200-399, within 100-599")
	}
	return lo, hi, nil
}

// checkHost accepts a DNS name or an IP address.
func checkHost(s string) error {
	if _, err := netip.ParseAddr(s); err == nil {
		return nil
	}
	if errs := validation.IsDNS1123Subdomain(strings.ToLower(s)); len(errs) > 0 {
		return fmt.Errorf("must be a DNS name or an IP address")
	}
	return nil
}
