package chaos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/coredns-fed/coredns-fed/internal/lab"
)

// FlapOptions sizes the flapping backends scenario.
type FlapOptions struct {
	Service   string        // gets Addresses load-balancer addresses, spread over the members
	Addresses int           // probed addresses in all
	Flapping  int           // of them, up and down in turn every second
	Duration  time.Duration // of the flapping
	Sample    time.Duration // how often the server's CPU, goroutines and memory are read
	// MaxAnswers is the server's max_answers (0: none). A name with more
	// addresses answers a rotating window of that many: then an answer must
	// hold that many, not every stable address.
	MaxAnswers int
}

// FlapSample is one reading of the server under test.
type FlapSample struct {
	Seconds    float64 `json:"seconds"` // since the flapping started
	Cores      float64 `json:"cores"`   // CPU since the previous sample
	Goroutines float64 `json:"goroutines"`
	RSS        float64 `json:"rss_bytes"`
}

// FlapResult is what the flapping scenario measured.
type FlapResult struct {
	Addresses, Flapping int
	Seconds             float64      `json:"seconds"`
	Samples             []FlapSample `json:"samples"`
	MeanCores           float64      `json:"mean_cores"`
	// Questions asked over TCP for each member's zone name, and how many
	// of their answers lacked an address that never went down, or held an
	// address that is not the Service's.
	Questions  int      `json:"questions"`
	MissStable int      `json:"missing_stable"`
	Foreign    int      `json:"foreign"`
	Failed     int      `json:"failed"`
	Examples   []string `json:"examples,omitempty"`
	FlapSeen   int      `json:"flapping_answered_percent"` // share of flapping addresses' presences in the answers
	// MaxAnswers is the server's max_answers (0: none), PerZone the
	// addresses of each zone name: answers carry at most MaxAnswers of them.
	MaxAnswers  int     `json:"max_answers"`
	PerZone     int     `json:"addresses_per_zone"`
	ProbesCores float64 `json:"-"`
}

// farm is the HTTP backends behind the flapping Service's addresses, in this
// process: stable ones always up, flapping ones closed and opened in turn.
type farm struct {
	mu      sync.Mutex
	servers map[string]*http.Server
}

func (f *farm) start(addr string) error {
	l, err := net.Listen("tcp", net.JoinHostPort(addr, strconv.Itoa(lab.BackendPort)))
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") }), ReadHeaderTimeout: time.Second}
	f.mu.Lock()
	f.servers[addr] = srv
	f.mu.Unlock()
	go srv.Serve(l)
	return nil
}

func (f *farm) stop(addr string) {
	f.mu.Lock()
	srv := f.servers[addr]
	delete(f.servers, addr)
	f.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
}

func (f *farm) close() {
	f.mu.Lock()
	servers := f.servers
	f.servers = map[string]*http.Server{}
	f.mu.Unlock()
	for _, srv := range servers {
		srv.Close()
	}
}

// Flapping gives a Service opts.Addresses probed addresses (127.B.M+2.K, B
// the lab's own second octet (see lab.Cluster.Addr), so that two labs on one
// machine do not bind the same; spread over the members), each with an HTTP
// backend in this process, and
// takes opts.Flapping of them down and up every second for opts.Duration,
// while it reads d's CPU, goroutines and memory and asks each member's zone
// name over TCP. Expected: CPU bounded, goroutines and memory flat, and the
// addresses that never went down in every answer.
func Flapping(ctx context.Context, env *Env, d *lab.CoreDNS, opts FlapOptions) (*FlapResult, error) {
	members := env.Lab.Clusters()
	per := opts.Addresses / len(members)
	b := netip.MustParseAddr(members[0].Addr).As4()[1]
	addr := func(m, k int) string { return fmt.Sprintf("127.%d.%d.%d", b, m+2, k+1) }
	f := &farm{servers: map[string]*http.Server{}}
	defer f.close()
	var stable, flapping []string
	stableOf := make([]map[netip.Addr]bool, len(members))
	flapSet := map[netip.Addr]bool{}
	for m := range members {
		stableOf[m] = map[netip.Addr]bool{}
		for k := range per {
			a := addr(m, k)
			if err := f.start(a); err != nil {
				return nil, err
			}
			if (m*per+k)%max(1, opts.Addresses/max(1, opts.Flapping)) == 0 && len(flapping) < opts.Flapping {
				flapping = append(flapping, a)
				flapSet[netip.MustParseAddr(a)] = true
			} else {
				stable = append(stable, a)
				stableOf[m][netip.MustParseAddr(a)] = true
			}
		}
	}
	if _, err := setIngressIn(ctx, env, opts.Service, per, addr); err != nil {
		return nil, err
	}
	if err := waitAnswers(ctx, d.Addr, env.Name(opts.Service, ""), per*len(members), opts.MaxAnswers); err != nil {
		return nil, err
	}
	res := &FlapResult{Addresses: per * len(members), Flapping: len(flapping), MaxAnswers: opts.MaxAnswers, PerZone: per}
	env.logf("flapping: %d probed addresses, %d flapping every second, for %s", res.Addresses, res.Flapping, opts.Duration)

	ctx, cancel := context.WithTimeout(ctx, opts.Duration)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		up := true
		for {
			select {
			case <-ctx.Done():
				for _, a := range flapping {
					if !up {
						f.start(a)
					}
				}
				return
			case <-tick.C:
			}
			for _, a := range flapping {
				if up {
					f.stop(a)
				} else {
					f.start(a)
				}
			}
			up = !up
		}
	})
	var mu sync.Mutex
	flapPresent, flapAsked := 0, 0
	wg.Go(func() {
		c := &dns.Client{Net: "tcp", Timeout: 2 * time.Second}
		for i := 0; ctx.Err() == nil; i++ {
			m := i % len(members)
			name := env.Name(opts.Service, members[m].Zones[0]+"."+members[m].Region)
			q := new(dns.Msg)
			q.SetQuestion(name, dns.TypeA)
			r, _, err := c.Exchange(q, d.Addr)
			mu.Lock()
			res.Questions++
			switch {
			case err != nil && ctx.Err() != nil:
				res.Questions--
			case err != nil || r.Rcode != dns.RcodeSuccess:
				res.Failed++
				res.example(fmt.Sprintf("%s: %v %v", name, err, rcodeOf(r)))
			default:
				seen := map[netip.Addr]bool{}
				for _, rr := range r.Answer {
					a, ok := rr.(*dns.A)
					if !ok {
						continue
					}
					ip, _ := netip.AddrFromSlice(a.A)
					ip = ip.Unmap()
					seen[ip] = true
					if !stableOf[m][ip] && !flapSet[ip] {
						res.Foreign++
						res.example(fmt.Sprintf("%s: %s is not the member's", name, ip))
					}
				}
				if capped := opts.MaxAnswers > 0 && per > opts.MaxAnswers; capped {
					// A window of the member's addresses: never fewer than
					// the cap while the stable ones alone fill it.
					if want := min(opts.MaxAnswers, len(stableOf[m])); len(seen) < want {
						res.MissStable++
						res.example(fmt.Sprintf("%s: %d addresses, want at least %d", name, len(seen), want))
					}
				} else {
					for ip := range stableOf[m] {
						if !seen[ip] {
							res.MissStable++
							res.example(fmt.Sprintf("%s: stable %s missing", name, ip))
							break
						}
					}
				}
				for ip := range flapSet {
					if ip.As4()[2] == byte(m+2) {
						flapAsked++
						if seen[ip] {
							flapPresent++
						}
					}
				}
			}
			mu.Unlock()
			time.Sleep(50 * time.Millisecond)
		}
	})

	start := time.Now()
	pid := d.PID()
	cpu0, _ := lab.ProcessCPU(pid)
	t0 := start
	tick := time.NewTicker(opts.Sample)
	defer tick.Stop()
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-tick.C:
			cpu1, err := lab.ProcessCPU(pid)
			if err != nil {
				return nil, fmt.Errorf("coredns-fed's CPU: %w", err)
			}
			now := time.Now()
			s := FlapSample{Seconds: now.Sub(start).Seconds(), Cores: (cpu1 - cpu0).Seconds() / now.Sub(t0).Seconds()}
			s.Goroutines, _ = metric(d, "go_goroutines")
			s.RSS, _ = metric(d, "process_resident_memory_bytes")
			res.Samples = append(res.Samples, s)
			cpu0, t0 = cpu1, now
		}
	}
	wg.Wait()
	res.Seconds = time.Since(start).Seconds()
	for _, s := range res.Samples {
		res.MeanCores += s.Cores / float64(len(res.Samples))
	}
	if flapAsked > 0 {
		res.FlapSeen = 100 * flapPresent / flapAsked
	}
	if n := len(res.Samples); n > 0 {
		first, last := res.Samples[0], res.Samples[n-1]
		env.logf("  CPU %.3f cores on average; goroutines %.0f → %.0f; RSS %.1f → %.1f MiB", res.MeanCores, first.Goroutines, last.Goroutines, first.RSS/(1<<20), last.RSS/(1<<20))
	}
	env.logf("  %d questions: %d without a stable address, %d with a stranger's, %d failed; flapping addresses answered %d%% of the time", res.Questions, res.MissStable, res.Foreign, res.Failed, res.FlapSeen)
	return res, nil
}

func (r *FlapResult) example(s string) {
	if len(r.Examples) < maxExamples {
		r.Examples = append(r.Examples, s)
	}
}

func rcodeOf(r *dns.Msg) string {
	if r == nil {
		return ""
	}
	return dns.RcodeToString[r.Rcode]
}

// Goals returns the flapping goals and whether they were met.
func (r *FlapResult) Goals() []Goal {
	g := []Goal{
		{"flapping: answers without a stable address, with a stranger's, or failed", "0", fmt.Sprintf("%d, %d, %d of %d", r.MissStable, r.Foreign, r.Failed, r.Questions), r.MissStable+r.Foreign+r.Failed == 0},
	}
	if n := len(r.Samples); n >= 4 {
		// The last quarter against the second (the first is warm-up):
		// CPU and memory by their mean, goroutines by their floor (probes
		// in flight come and go).
		q := n / 4
		fold := func(from, to int, f func(FlapSample) float64, min bool) float64 {
			acc := f(r.Samples[from])
			for _, s := range r.Samples[from+1 : to] {
				if min {
					acc = math.Min(acc, f(s))
				} else {
					acc += f(s)
				}
			}
			if !min {
				acc /= float64(to - from)
			}
			return acc
		}
		cpu := func(s FlapSample) float64 { return s.Cores }
		gr := func(s FlapSample) float64 { return s.Goroutines }
		rss := func(s FlapSample) float64 { return s.RSS }
		c0, c1 := fold(q, 2*q, cpu, false), fold(n-q, n, cpu, false)
		g0, g1 := fold(q, 2*q, gr, true), fold(n-q, n, gr, true)
		m0, m1 := fold(q, 2*q, rss, false), fold(n-q, n, rss, false)
		perProbe := r.MeanCores / float64(max(1, r.Addresses)) * 1e6
		g = append(g,
			Goal{"flapping: coredns-fed CPU (last quarter vs second)", "bounded: ≤ +25%", fmt.Sprintf("%.3f → %.3f cores (%.3f on average, about %.0f µs per probe)", c0, c1, r.MeanCores, perProbe), c1 <= 1.25*c0},
			Goal{"flapping: goroutine floor (last quarter vs second)", "no growth", fmt.Sprintf("%.0f → %.0f", g0, g1), g1 <= g0},
			Goal{"flapping: memory (last quarter vs second)", "≤ +10%", fmt.Sprintf("%.1f → %.1f MiB (%+.1f%%)", m0/(1<<20), m1/(1<<20), 100*(m1-m0)/m0), m1 <= 1.10*m0},
		)
	}
	return g
}

// metric reads an unlabelled gauge from d's metrics.
func metric(d *lab.CoreDNS, name string) (float64, error) {
	resp, err := http.Get(d.MetricsURL)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, errors.New(name + " not exported")
}
