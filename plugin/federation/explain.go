package federation

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// Explain says in words why name gets its answer for a client (an address, or
// an address prefix sent as EDNS Client Subnet; empty: any client): which
// Service and level it is, where each level falls back to and why, and which
// shards are answered or left out and why. It reads the current snapshot, as
// a query would.
func (f *Federation) Explain(name, client string) (string, error) {
	name = dns.Fqdn(strings.ToLower(strings.TrimSpace(name)))
	if _, ok := dns.IsDomainName(name); !ok || name == "." {
		return "", fmt.Errorf("name %q: not a domain name", name)
	}
	loc, err := clientLocation(name, client)
	if err != nil {
		return "", err
	}
	if f.geo == nil || client == "" {
		loc = nil // the answer for every client
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n", name)
	if !dns.IsSubDomain(f.Zone, name) {
		fmt.Fprintf(&b, "  not inside the zone %s: this federation does not answer it\n", f.Zone)
		return b.String(), nil
	}
	s := f.snapshot.Load()
	if s == nil {
		fmt.Fprintf(&b, "  SERVFAIL: not every member has synced yet (or been given up on after startup_timeout)\n")
		return b.String(), nil
	}
	rel := strings.TrimSuffix(name, f.Zone)
	if rel == name { // name is the zone
		rel = ""
	}
	sa, lvl := s.serviceLevel(rel)
	if sa == nil {
		switch n := s.lookup(rel); {
		case n == nil:
			fmt.Fprintf(&b, "  NXDOMAIN: no federated Service, namespace, federation, region or zone has this name\n")
		case rel == "":
			fmt.Fprintf(&b, "  the zone apex: SOA and NS\n")
		case n.answer != nil:
			fmt.Fprintf(&b, "  a name server of the zone: its glue addresses\n")
		default:
			fmt.Fprintf(&b, "  NODATA: the name exists (between the apex and a Service) but has no records\n")
		}
		return b.String(), nil
	}
	statuses := f.statusByName()
	ns, svc, _ := strings.Cut(sa.key, "/")
	fmt.Fprintf(&b, "  Service %s in namespace %s, %s level%s\n", svc, ns, levelKind(lvl), placeOf(lvl))

	prefix := svc + "." + ns + "." + s.fed + ".svc."
	for l := lvl; l != nil; {
		n := sa.levels[l.index]
		owner := prefix + l.suffix + f.Zone
		members := slices.Clone(l.members)
		slices.Sort(members)
		fmt.Fprintf(&b, "\n  %s (%s%s; members %s)\n", owner, levelKind(l), placeOf(l), strings.Join(members, ", "))
		used := map[string]bool{}
		for _, us := range sa.levelShards(l) {
			used[us.shard.Member] = true
		}
		for i := range sa.shards {
			sh := &sa.shards[i]
			if !slices.Contains(l.members, sh.Member) {
				continue
			}
			r := shardReport(sh, sa.usable[i], statuses[sh.Member])
			mark := "not used"
			if used[sh.Member] {
				mark = "used " + strings.Join(r.Usable, " ")
			}
			fmt.Fprintf(&b, "    shard %s: %s (%s)\n", sh.Member, mark, r.Reason)
		}
		for _, m := range members {
			if !slices.ContainsFunc(sa.shards, func(sh Shard) bool { return sh.Member == m }) {
				fmt.Fprintf(&b, "    shard %s: none (%s)\n", m, noShardReason(statuses[m]))
			}
		}
		switch {
		case n.cname != nil:
			fmt.Fprintf(&b, "    no usable shard here: CNAME to %s\n", prefix+l.parent+f.Zone)
			l = s.levels[l.parent]
			continue
		case n.answer == nil:
			fmt.Fprintf(&b, "    no usable shard anywhere: NODATA with the SOA\n")
		default:
			rrs := append(n.answer.pick(loc, false), n.answer.pick(loc, true)...)
			who := "every client"
			if client != "" {
				who = "client " + client
			}
			fmt.Fprintf(&b, "    answer for %s:", who)
			for _, rr := range rrs {
				switch rr := rr.(type) {
				case *dns.A:
					fmt.Fprintf(&b, " %s", rr.A)
				case *dns.AAAA:
					fmt.Fprintf(&b, " %s", rr.AAAA)
				}
			}
			fmt.Fprintln(&b)
		}
		break
	}
	return b.String(), nil
}

// noShardReason says why a member has no shard of a Service.
func noShardReason(st MemberStatus) string {
	if !st.Synced {
		return "member not synced"
	}
	return "the member has no federated copy of the Service"
}

func placeOf(l *level) string {
	if l.global {
		return ""
	}
	return " " + strings.TrimSuffix(l.suffix, ".")
}

// serviceLevel finds the Service and level of a name relative to the zone, as
// lookup does; nil when rel is not a Service's name.
func (s *Snapshot) serviceLevel(rel string) (*serviceAnswers, *level) {
	prefix, lvl, ok := s.splitLevel(rel)
	if !ok {
		return nil, nil
	}
	labels := strings.Split(strings.TrimSuffix(prefix, "."), ".")
	if len(labels) != 3 || labels[2] != s.fed {
		return nil, nil
	}
	if sa := s.services[labels[0]+"."+labels[1]]; sa != nil {
		return sa, lvl
	}
	return nil, nil
}

// clientLocation is the place of a query for name from client: an address, or
// a prefix sent as EDNS Client Subnet from that address; nil for any client.
func clientLocation(name, client string) (*location, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	ip := netip.MustParseAddr("127.0.0.1")
	if client != "" {
		if p, err := netip.ParsePrefix(client); err == nil {
			ip = p.Addr()
			family := uint16(1)
			if ip.Is6() {
				family = 2
			}
			m.SetEdns0(1232, false)
			opt := m.IsEdns0()
			opt.Option = append(opt.Option, &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: family,
				SourceNetmask: uint8(p.Bits()), Address: p.Masked().Addr().AsSlice()})
		} else if a, err := netip.ParseAddr(client); err == nil {
			ip = a
		} else {
			return nil, fmt.Errorf("client %q: not an IP address or prefix", client)
		}
	}
	loc := new(location)
	if err := locate(clientWriter{addr: &net.UDPAddr{IP: ip.AsSlice(), Port: 53}}, m, loc); err != nil {
		return nil, err
	}
	return loc, nil
}

// clientWriter stands for the client of an explained query: only its addresses
// are read.
type clientWriter struct {
	dns.ResponseWriter
	addr net.Addr
}

func (w clientWriter) RemoteAddr() net.Addr { return w.addr }
func (w clientWriter) LocalAddr() net.Addr  { return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53} }
