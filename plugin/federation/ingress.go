package federation

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"github.com/coredns/caddy"
)

// IngressRule admits (Allow) or refuses the load-balancer ingress addresses in
// Prefix. The rules of a federation are tried in order and the first one that
// matches decides; see ingressAllowed for the addresses no rule can admit.
type IngressRule struct {
	Allow  bool
	Prefix netip.Prefix
}

func (r IngressRule) String() string {
	if r.Allow {
		return "allow " + r.Prefix.String()
	}
	return "deny " + r.Prefix.String()
}

// Why an ingress entry is neither answered nor probed: the reason label of
// coredns_federation_ingress_refused_total.
const (
	refusedLoopback    = "loopback"
	refusedLinkLocal   = "link-local"
	refusedUnspecified = "unspecified"
	refusedMulticast   = "multicast"
	refusedBroadcast   = "broadcast"
	refusedReserved    = "reserved"
	refusedDenied      = "denied"
	refusedHostname    = "hostname"
)

// The ranges an explicit allow may re-admit, when the allowed prefix lies
// inside them: a lab or a test on loopback, a link-local setup. A broad allow
// such as 0.0.0.0/0 does not reach them, so that no rule meant for public
// addresses exposes the cloud metadata address (169.254.169.254) by accident.
var admissibleRanges = map[string][]netip.Prefix{
	refusedLoopback:  {netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")},
	refusedLinkLocal: {netip.MustParsePrefix("169.254.0.0/16"), netip.MustParsePrefix("fe80::/10")},
}

var (
	thisNetwork  = netip.MustParsePrefix("0.0.0.0/8")   // RFC 1122: "this host on this network"; Linux dials 0.0.0.0 as localhost
	reserved4    = netip.MustParsePrefix("240.0.0.0/4") // RFC 1112 class E
	compatible6  = netip.MustParsePrefix("::/96")       // IPv4-compatible IPv6, deprecated by RFC 4291
	broadcast4   = netip.AddrFrom4([4]byte{255, 255, 255, 255})
	specialCheck = []struct {
		reason string
		is     func(netip.Addr) bool
	}{
		{refusedUnspecified, func(a netip.Addr) bool { return a.IsUnspecified() || thisNetwork.Contains(a) }},
		{refusedBroadcast, func(a netip.Addr) bool { return a == broadcast4 }},
		{refusedReserved, func(a netip.Addr) bool { return reserved4.Contains(a) || compatible6.Contains(a) && !a.IsLoopback() }},
		{refusedMulticast, netip.Addr.IsMulticast},
		{refusedLoopback, netip.Addr.IsLoopback},
		{refusedLinkLocal, netip.Addr.IsLinkLocalUnicast},
	}
)

// special returns why a is never answered by default ("" for an ordinary
// address, private ranges included). a must be unmapped.
func special(a netip.Addr) string {
	for _, s := range specialCheck {
		if s.is(a) {
			return s.reason
		}
	}
	return ""
}

// ingressAllowed decides one load-balancer ingress address: "" when it may be
// answered and probed, else the reason it is refused.
//
// Unspecified, broadcast, reserved and multicast addresses are always refused:
// no load balancer has one, and dialling some of them reaches this host.
// Loopback and link-local addresses are refused unless an allow rule inside
// their range matches first. Every other address is decided by the first rule
// that contains it, and admitted when none does.
func ingressAllowed(rules []IngressRule, a netip.Addr) string {
	a = a.Unmap().WithZone("")
	reason := special(a)
	ranges, admissible := admissibleRanges[reason]
	if reason != "" && !admissible {
		return reason
	}
	for _, r := range rules {
		if !r.Prefix.Contains(a) {
			continue
		}
		if !r.Allow {
			return refusedDenied
		}
		if reason == "" || slices.ContainsFunc(ranges, func(p netip.Prefix) bool { return within(r.Prefix, p) }) {
			return ""
		}
	}
	return reason
}

// within reports whether every address of p is in outer.
func within(p, outer netip.Prefix) bool {
	return p.Bits() >= outer.Bits() && outer.Contains(p.Addr())
}

// parseIngressRule reads the CIDR (or bare address) of an ingress line.
func parseIngressRule(allow bool, s string) (IngressRule, error) {
	var p netip.Prefix
	var err error
	if strings.Contains(s, "/") {
		p, err = netip.ParsePrefix(s)
	} else {
		var a netip.Addr
		if a, err = netip.ParseAddr(s); err == nil {
			p = netip.PrefixFrom(a, a.BitLen())
		}
	}
	if err != nil || p.Addr().Zone() != "" {
		return IngressRule{}, fmt.Errorf("not a CIDR or IP address")
	}
	if p.Addr().Is4In6() {
		if p.Bits() < 96 {
			return IngressRule{}, fmt.Errorf("an IPv4-mapped prefix must be /96 or longer")
		}
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return IngressRule{Allow: allow, Prefix: p.Masked()}, nil
}

// parseIngress reads "ingress allow|deny CIDR...".
func parseIngress(c *caddy.Controller, args []string) ([]IngressRule, error) {
	if len(args) < 2 || (args[0] != "allow" && args[0] != "deny") {
		return nil, c.Errf("ingress needs allow or deny and at least one CIDR, got %q", strings.Join(args, " "))
	}
	var rules []IngressRule
	for _, s := range args[1:] {
		r, err := parseIngressRule(args[0] == "allow", s)
		if err != nil {
			return nil, c.Errf("ingress %s %q: %v", args[0], s, err)
		}
		rules = append(rules, r)
	}
	return rules, nil
}

// refusal is one ingress entry of a shard that is not answered.
type refusal struct {
	member string
	entry  string // an address, or a hostname
	reason string
	noIP   bool // the shard has no address left to answer
}

// ingressLog remembers the refused ingress entries of every Service, so that
// each is logged and counted once, when it appears, and not at every rebuild.
// Only the build loop uses it.
type ingressLog struct {
	seen map[string]map[refusal]struct{} // by Service namespace/name
}

// filterIngress returns the addresses of a shard in member that may be
// answered and probed, and adds the entries it refuses to refused: refused
// addresses and every hostname.
func filterIngress(rules []IngressRule, member string, addrs []netip.Addr, hostnames []string, refused *[]refusal) []netip.Addr {
	kept := addrs // shared with the source until something is left out
	var out []refusal
	for i, a := range addrs {
		reason := ingressAllowed(rules, a)
		switch {
		case reason != "" && len(out) == 0:
			kept = slices.Clone(addrs[:i])
		case reason == "" && len(out) > 0:
			kept = append(kept, a)
		}
		if reason != "" {
			out = append(out, refusal{member: member, entry: a.String(), reason: reason})
		}
	}
	for _, h := range hostnames {
		out = append(out, refusal{member: member, entry: h, reason: refusedHostname})
	}
	for i := range out {
		out[i].noIP = len(kept) == 0
	}
	*refused = append(*refused, out...)
	return kept
}

// note records the refusals of Service key found by the latest build: new ones
// are logged and counted; the Service's entry is dropped when it has none.
func (l *ingressLog) note(server, key string, refused []refusal) {
	if l == nil {
		return
	}
	old := l.seen[key]
	if len(refused) == 0 {
		delete(l.seen, key)
		return
	}
	cur := make(map[refusal]struct{}, len(refused))
	hostnames := map[string][]string{} // new ones, by member
	noIP := map[string]bool{}
	for _, r := range refused {
		cur[r] = struct{}{}
		if _, ok := old[r]; ok {
			continue
		}
		ingressRefused.WithLabelValues(server, r.member, r.reason).Inc()
		if r.reason == refusedHostname {
			hostnames[r.member] = append(hostnames[r.member], r.entry)
			noIP[r.member] = r.noIP
			continue
		}
		log.Warningf("Service %s in member %s: load-balancer ingress %s refused (%s): neither answered nor probed%s", key, r.member, r.entry, r.reason, unanswered(r.noIP))
	}
	for _, member := range slices.Sorted(maps.Keys(hostnames)) {
		log.Warningf("Service %s in member %s: load-balancer ingress hostname %s ignored, hostnames are not supported: only IP addresses are answered%s",
			key, member, strings.Join(hostnames[member], ", "), unanswered(noIP[member]))
	}
	if l.seen == nil {
		l.seen = map[string]map[refusal]struct{}{}
	}
	l.seen[key] = cur
}

func unanswered(noIP bool) string {
	if noIP {
		return "; the shard has no address left and is not answered"
	}
	return ""
}
