package chaos

import (
	"context"
	"fmt"
	"net"
	"slices"
	"time"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	"github.com/coredns-fed/coredns-fed/internal/lab"
)

// AmpOptions sizes the amplification scenario.
type AmpOptions struct {
	// Service gets Addresses load-balancer addresses in every member
	// (loopback ones, 127.254.M.K: a probe of them is refused on this host
	// and never leaves it), so that its names have the largest answers.
	Service   string
	Addresses int
	// MaxAnswers is d's max_answers (0: none): the scenario is meant for a
	// server without a cap, whose names give their largest replies.
	MaxAnswers int
}

// AmpRow is the largest reply to one query type at one kind of name, over
// the EDNS variants.
type AmpRow struct {
	Name     string  `json:"name"` // the kind of name
	Type     string  `json:"type"`
	Query    int     `json:"query_bytes"` // of the question that got the largest reply
	Reply    int     `json:"reply_bytes"` // largest UDP reply
	Ratio    float64 `json:"ratio"`
	EDNS     string  `json:"edns"` // the variant of the largest ratio
	TCPBytes int     `json:"tcp_bytes"`
	TC       bool    `json:"tc"`
}

// AmpResult is what the amplification scenario measured.
type AmpResult struct {
	Rows       []AmpRow `json:"rows"`
	Questions  int      `json:"questions"`
	MaxRatio   float64  `json:"max_ratio"`
	MaxNoEDNS  float64  `json:"max_ratio_without_edns"`
	Violations []string `json:"violations,omitempty"`
}

// ednsVariant is how a question advertises its UDP size.
type ednsVariant struct {
	name string
	size uint16 // 0: no EDNS
	do   bool
}

var ednsVariants = []ednsVariant{
	{"none", 0, false}, {"512", 512, false}, {"1232", 1232, false}, {"4096", 4096, false}, {"4096+DO", 4096, true},
}

var ampTypes = []uint16{
	dns.TypeA, dns.TypeAAAA, dns.TypeANY, dns.TypeSOA, dns.TypeNS, dns.TypeTXT, dns.TypeMX, dns.TypeSRV,
	dns.TypeCNAME, dns.TypePTR, dns.TypeCAA, dns.TypeDNSKEY, dns.TypeHTTPS, dns.TypeIXFR,
}

// Amplification asks d every query type at every kind of name of the zone,
// with and without EDNS, over UDP and TCP, and reports the largest UDP reply
// over the question's size. A UDP reply must never exceed the size the
// question advertised (512 without EDNS), and must carry TC when the whole
// answer (over TCP) would not fit. d should be a server without probes, so
// that the Service's addresses are all answered.
func Amplification(ctx context.Context, env *Env, d *lab.CoreDNS, opts AmpOptions) (*AmpResult, error) {
	// Answered only, never connected to: no other lab can mind them.
	want, err := setIngressIn(ctx, env, opts.Service, opts.Addresses, func(m, k int) string {
		return fmt.Sprintf("127.254.%d.%d", m+1, k+1)
	})
	if err != nil {
		return nil, err
	}
	if err := waitAnswers(ctx, d.Addr, env.Name(opts.Service, ""), want, opts.MaxAnswers); err != nil {
		return nil, err
	}
	c0 := env.Lab.Clusters()[0]
	domain := env.Lab.Config().Domain + "."
	names := []struct{ kind, name string }{
		{"apex", domain},
		{"global, wide Service", env.Name(opts.Service, "")},
		{"region, wide Service", env.Name(opts.Service, c0.Region)},
		{"zone (v1 form), wide Service", env.Name(opts.Service, c0.Zones[0]+"."+c0.Region)},
		{"zone, wide Service", env.Name(opts.Service, c0.Zones[0])},
		{"global, one address per member", env.Name(lab.SeedService, "")},
		{"no such name", "nosuch." + domain},
		{"no such Service", env.Name("nosuch", "")},
	}
	res := &AmpResult{}
	for _, n := range names {
		for _, qt := range ampTypes {
			row := AmpRow{Name: n.kind, Type: dns.TypeToString[qt]}
			for _, v := range ednsVariants {
				q := new(dns.Msg)
				q.SetQuestion(n.name, qt)
				if v.size > 0 {
					q.SetEdns0(v.size, v.do)
				}
				qb, err := q.Pack()
				if err != nil {
					return nil, err
				}
				reply, err := udpExchange(d.Addr, qb)
				if err != nil {
					return nil, fmt.Errorf("%s %s (EDNS %s): %w", n.name, row.Type, v.name, err)
				}
				full, _, err := (&dns.Client{Net: "tcp", Timeout: 2 * time.Second}).Exchange(q, d.Addr)
				if err != nil {
					return nil, fmt.Errorf("%s %s over TCP: %w", n.name, row.Type, err)
				}
				full.Compress = true // as the server packs it
				fb, err := full.Pack()
				if err != nil {
					return nil, err
				}
				res.Questions++
				r := new(dns.Msg)
				if err := r.Unpack(reply); err != nil {
					res.Violations = append(res.Violations, fmt.Sprintf("%s %s (EDNS %s): a reply that does not parse: %v", n.name, row.Type, v.name, err))
					continue
				}
				limit := 512
				if v.size > 512 {
					limit = int(v.size)
				}
				if len(reply) > limit {
					res.Violations = append(res.Violations, fmt.Sprintf("%s %s (EDNS %s): a %d-byte UDP reply over the %d bytes the question allows", n.name, row.Type, v.name, len(reply), limit))
				}
				if len(fb) > limit && !r.Truncated {
					res.Violations = append(res.Violations, fmt.Sprintf("%s %s (EDNS %s): the answer is %d bytes over TCP, the UDP reply %d bytes without TC", n.name, row.Type, v.name, len(fb), len(reply)))
				}
				ratio := float64(len(reply)) / float64(len(qb))
				if ratio > row.Ratio {
					row.Query, row.Reply, row.Ratio, row.EDNS, row.TC = len(qb), len(reply), ratio, v.name, r.Truncated
				}
				row.TCPBytes = max(row.TCPBytes, len(fb))
				res.MaxRatio = max(res.MaxRatio, ratio)
				if v.size == 0 {
					res.MaxNoEDNS = max(res.MaxNoEDNS, ratio)
				}
			}
			res.Rows = append(res.Rows, row)
		}
	}
	slices.SortStableFunc(res.Rows, func(a, b AmpRow) int {
		switch {
		case a.Ratio > b.Ratio:
			return -1
		case a.Ratio < b.Ratio:
			return 1
		}
		return 0
	})
	env.logf("amplification: %d questions, largest UDP reply/question %.1f× (%.1f× without EDNS), %d violations",
		res.Questions, res.MaxRatio, res.MaxNoEDNS, len(res.Violations))
	return res, nil
}

// Goals returns the amplification goals and whether they were met.
func (r *AmpResult) Goals() []Goal {
	return []Goal{
		{"amplification: UDP replies over the advertised size, or missing TC", "0", fmt.Sprintf("%d in %d questions (largest ratio %.1f×, %.1f× without EDNS)", len(r.Violations), r.Questions, r.MaxRatio, r.MaxNoEDNS), len(r.Violations) == 0},
	}
}

func udpExchange(addr string, q []byte) ([]byte, error) {
	conn, err := net.Dial("udp", addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := conn.Write(q); err != nil {
		return nil, err
	}
	buf := make([]byte, 65535)
	n, err := conn.Read(buf)
	if err != nil {
		return nil, err
	}
	return buf[:n], nil
}

// setIngressIn gives Service n load-balancer addresses addr(m, 0…n-1) in
// every member m, and returns how many addresses its global name answers then.
func setIngressIn(ctx context.Context, env *Env, service string, n int, addr func(m, k int) string) (int, error) {
	ns := env.Lab.Config().Namespace
	for m, c := range env.Lab.Clusters() {
		var ingress []corev1.LoadBalancerIngress
		for k := range n {
			ingress = append(ingress, corev1.LoadBalancerIngress{IP: addr(m, k)})
		}
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			svc, err := c.Client.CoreV1().Services(ns).Get(ctx, service, metav1.GetOptions{})
			if err != nil {
				return err
			}
			svc.Status.LoadBalancer.Ingress = ingress
			_, err = c.Client.CoreV1().Services(ns).UpdateStatus(ctx, svc, metav1.UpdateOptions{})
			return err
		})
		if err != nil {
			return 0, fmt.Errorf("%s: %w", c.Name, err)
		}
	}
	return n * len(env.Lab.Clusters()), nil
}

// waitAnswers waits until addr answers name with the n A records over TCP:
// each answer holds min(n, max) of them (max: the server's max_answers, 0 for
// none) and, across the answers of one round, every one of the n appears.
func waitAnswers(ctx context.Context, addr, name string, n, max int) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	per := n
	if max > 0 && max < n {
		per = max
	}
	c := &dns.Client{Net: "tcp", Timeout: 2 * time.Second}
	return lab.Poll(ctx, 200*time.Millisecond, nil, func() error {
		seen := map[string]bool{}
		// A rotating window of per records shows every record within a few
		// dozen answers; a round that still misses one is retried.
		for range 8*(n/per) + 8 {
			q := new(dns.Msg)
			q.SetQuestion(name, dns.TypeA)
			r, _, err := c.Exchange(q, addr)
			if err != nil {
				return err
			}
			if len(r.Answer) != per {
				return fmt.Errorf("%s: %d records, want %d", name, len(r.Answer), per)
			}
			for _, rr := range r.Answer {
				seen[rr.String()] = true
			}
			if len(seen) >= n {
				break
			}
		}
		if len(seen) != n {
			return fmt.Errorf("%s: %d different records across answers, want %d", name, len(seen), n)
		}
		return nil
	})
}
