package chaos

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/coredns-fed/coredns-fed/internal/lab"
)

// Env is the lab a scenario runs against and the federated Services it may
// change: each exists in every member, with the member's load-balancer
// address, and every member's endpoints ready when the scenario starts.
type Env struct {
	Lab      *lab.Lab
	Services []string
	Logf     func(format string, args ...any)
}

func (e *Env) logf(format string, args ...any) {
	if e.Logf != nil {
		e.Logf(format, args...)
	}
}

// Name returns the name of service at the level below the domain: "" for
// global, "REGION" or "ZONE.REGION".
func (e *Env) Name(service, level string) string {
	cfg := e.Lab.Config()
	name := fmt.Sprintf("%s.%s.%s.svc.", service, cfg.Namespace, cfg.Federation)
	if level != "" {
		name += level + "."
	}
	return name + cfg.Domain + "."
}

// Target is one question of a load: the A record of a Service's name at one
// level, or the zone's SOA.
type Target struct {
	Name    string
	Service int // index in Env.Services; -1 for the SOA
	// Member is the member whose zone or region the name is, -1 for the
	// global name.
	Member int
}

// SOA reports whether the target asks for the zone's SOA.
func (t Target) SOA() bool { return t.Service < 0 }

// Targets returns, for every Service, its global name and each member's
// region and zone (Federation v1 form) names; with soa, the zone's SOA too.
// Every member of the lab must be alone in its region and zone, so that
// those names have exactly one shard.
func (e *Env) Targets(soa bool) []Target {
	var ts []Target
	for s, svc := range e.Services {
		ts = append(ts, Target{Name: e.Name(svc, ""), Service: s, Member: -1})
		for m, c := range e.Lab.Clusters() {
			ts = append(ts,
				Target{Name: e.Name(svc, c.Region), Service: s, Member: m},
				Target{Name: e.Name(svc, c.Zones[0]+"."+c.Region), Service: s, Member: m})
		}
	}
	if soa {
		ts = append(ts, Target{Name: e.Lab.Config().Domain + ".", Service: -1, Member: -1})
	}
	return ts
}

// memberAddrs returns every member's load-balancer address, by member index.
func (e *Env) memberAddrs() []netip.Addr {
	var addrs []netip.Addr
	for _, c := range e.Lab.Clusters() {
		addrs = append(addrs, netip.MustParseAddr(c.Addr))
	}
	return addrs
}

// Rcodes of an Answer that are not DNS rcodes.
const (
	rcodeTimeout = -1 // no reply within the client's timeout
	rcodeError   = -2 // the query could not be sent or the reply read (refused port)
)

// Answer is one question of a load and what came back, in a compact form.
type Answer struct {
	Target     int32         // index in the load's targets
	Sent, Recv time.Duration // since the load started
	Rcode      int16
	// Direct is set when the first answer record is an A record of the
	// question's own name (not a CNAME).
	Direct bool
	// Mask has bit m set when member m's address is among the A records
	// of the answer; Foreign when an address no member has is.
	Mask    uint64
	Foreign bool
	Serial  uint32 // of an SOA answer
}

// Load asks a DNS server the A records of its targets from workers
// goroutines, each with its own UDP socket, one question at a time, as fast
// as answers come, and keeps every answer for the check.
type Load struct {
	Addr    string
	Start   time.Time
	targets []Target
	addrs   map[netip.Addr]int

	stop chan struct{}
	wg   sync.WaitGroup
	mu   sync.Mutex
	got  []Answer
}

// clientTimeout is how long a worker waits for one reply.
const clientTimeout = time.Second

// StartLoad starts workers asking addr the targets in random order.
func (e *Env) StartLoad(addr string, targets []Target, workers int) *Load {
	l := &Load{Addr: addr, Start: time.Now(), targets: targets, addrs: map[netip.Addr]int{}, stop: make(chan struct{})}
	for m, a := range e.memberAddrs() {
		l.addrs[a] = m
	}
	for w := range workers {
		l.wg.Go(func() { l.work(uint64(w)) })
	}
	return l
}

// Since returns t as an offset from the load's start.
func (l *Load) Since(t time.Time) time.Duration { return t.Sub(l.Start) }

// Stop ends the load and returns every answer, in no particular order.
func (l *Load) Stop() []Answer {
	close(l.stop)
	l.wg.Wait()
	return l.got
}

func (l *Load) work(seed uint64) {
	rng := rand.New(rand.NewPCG(seed, uint64(time.Now().UnixNano())))
	var got []Answer
	defer func() {
		l.mu.Lock()
		l.got = append(l.got, got...)
		l.mu.Unlock()
	}()
	var conn *dns.Conn
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	q := new(dns.Msg)
	for {
		select {
		case <-l.stop:
			return
		default:
		}
		if conn == nil {
			c, err := net.Dial("udp", l.Addr)
			if err != nil {
				time.Sleep(20 * time.Millisecond)
				continue
			}
			conn = &dns.Conn{Conn: c}
		}
		k := rng.IntN(len(l.targets))
		t := l.targets[k]
		qtype := dns.TypeA
		if t.SOA() {
			qtype = dns.TypeSOA
		}
		q.SetQuestion(t.Name, qtype)
		q.Id = dns.Id()
		a := Answer{Target: int32(k), Sent: time.Since(l.Start)}
		r, err := exchange(conn, q)
		a.Recv = time.Since(l.Start)
		switch {
		case err != nil && isTimeout(err):
			a.Rcode = rcodeTimeout
		case err != nil:
			// The server is down (ICMP port unreachable): a new socket, and
			// a pause so that a dead server does not make a busy loop.
			a.Rcode = rcodeError
			conn.Close()
			conn = nil
			time.Sleep(20 * time.Millisecond)
		default:
			l.decode(&a, r, t)
		}
		got = append(got, a)
	}
}

// exchange sends q on conn and reads until the reply with q's id arrives.
func exchange(conn *dns.Conn, q *dns.Msg) (*dns.Msg, error) {
	conn.SetDeadline(time.Now().Add(clientTimeout))
	if err := conn.WriteMsg(q); err != nil {
		return nil, err
	}
	for {
		r, err := conn.ReadMsg()
		if err != nil {
			return nil, err
		}
		if r.Id == q.Id {
			return r, nil
		}
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

func (l *Load) decode(a *Answer, r *dns.Msg, t Target) {
	a.Rcode = int16(r.Rcode)
	for k, rr := range r.Answer {
		switch rr := rr.(type) {
		case *dns.A:
			if k == 0 && strings.EqualFold(rr.Hdr.Name, t.Name) {
				a.Direct = true
			}
			ip, _ := netip.AddrFromSlice(rr.A)
			if m, ok := l.addrs[ip.Unmap()]; ok {
				a.Mask |= 1 << m
			} else {
				a.Foreign = true
			}
		case *dns.SOA:
			a.Serial = rr.Serial
		}
	}
}
