package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/coredns-fed/coredns-fed/internal/lab"
)

// ChurnOptions sizes the churn scenario.
type ChurnOptions struct {
	Rate     int           // EndpointSlice updates per second, across the members
	Idle     time.Duration // load alone, before the churn
	Duration time.Duration // load and churn
	Workers  int           // query workers
	Writers  int           // concurrent writers per member
	// Bound is the propagation allowance: an answer may show a shard's old
	// state until Bound after the API server acknowledged the change.
	Bound time.Duration
}

// ChurnResult is what the churn scenario measured.
type ChurnResult struct {
	Options    ChurnOptions `json:"-"`
	Rate       int          `json:"rate_goal"`
	BoundMs    float64      `json:"bound_ms"`
	Updates    int          `json:"updates"`
	UpdateRate float64      `json:"update_rate"` // achieved, per second
	AckP50     float64      `json:"ack_p50_ms"`
	AckP99     float64      `json:"ack_p99_ms"`
	Idle       Tally        `json:"idle"`
	Churn      Tally        `json:"churn"`
	QPSRatio   float64      `json:"qps_ratio"` // churn / idle
	// CPU in cores: coredns-fed's and the whole machine's, idle and under
	// churn.
	ServerIdle, ServerChurn   float64
	MachineIdle, MachineChurn float64
}

// Churn flips the readiness of random shards at opts.Rate per second while a
// load asks d every Service's names, and checks each answer against the
// shards' states: idle first, then with the churn.
func Churn(ctx context.Context, env *Env, d *lab.CoreDNS, opts ChurnOptions) (*ChurnResult, error) {
	sh, err := readyShards(ctx, env, d)
	if err != nil {
		return nil, err
	}
	members := len(env.Lab.Clusters())
	exp := NewExpect(members, len(env.Services), true)
	env.logf("churn: %s idle, then %d updates/s for %s, %d query workers", opts.Idle, opts.Rate, opts.Duration, opts.Workers)
	load := env.StartLoad(d.Addr, env.Targets(false), opts.Workers)
	cpu0, busy0, t0 := cpuNow(d.PID())
	sleep(ctx, opts.Idle)
	churnFrom := load.Since(time.Now())
	cpu1, busy1, t1 := cpuNow(d.PID())

	var wg sync.WaitGroup
	var mu sync.Mutex
	var acks []float64
	var werr error
	cctx, cancel := context.WithTimeout(ctx, opts.Duration)
	defer cancel()
	writers := max(1, opts.Writers)
	interval := time.Duration(float64(time.Second) * float64(members*writers) / float64(max(1, opts.Rate)))
	for m := range members {
		for w := range writers {
			// Writer w of member m owns the Services s with s%writers == w:
			// no two writers update one slice.
			var own []int
			for s := w; s < len(env.Services); s += writers {
				own = append(own, s)
			}
			if len(own) == 0 {
				continue
			}
			wg.Go(func() {
				rng := rand.New(rand.NewPCG(uint64(m), uint64(w)))
				tick := time.NewTicker(interval)
				defer tick.Stop()
				for {
					select {
					case <-cctx.Done():
						return
					case <-tick.C:
					}
					s := own[rng.IntN(len(own))]
					v := !sh.ready(m, s)
					sent, acked, err := sh.set(ctx, m, s, v)
					if err != nil {
						if cctx.Err() == nil {
							mu.Lock()
							werr = err
							mu.Unlock()
						}
						return
					}
					exp.Shard(m, s).Set(v, load.Since(sent), load.Since(acked)+opts.Bound)
					mu.Lock()
					acks = append(acks, ms(acked.Sub(sent)))
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	churnTo := load.Since(time.Now())
	cpu2, busy2, t2 := cpuNow(d.PID())
	sleep(ctx, opts.Bound)
	answers := load.Stop()
	if werr != nil {
		return nil, werr
	}
	res := &ChurnResult{Options: opts, Rate: opts.Rate, BoundMs: ms(opts.Bound), Updates: len(acks)}
	res.UpdateRate = float64(len(acks)) / (churnTo - churnFrom).Seconds()
	res.ServerIdle, res.MachineIdle = (cpu1-cpu0).Seconds()/t1.Sub(t0).Seconds(), (busy1-busy0).Seconds()/t1.Sub(t0).Seconds()
	res.ServerChurn, res.MachineChurn = (cpu2-cpu1).Seconds()/t2.Sub(t1).Seconds(), (busy2-busy1).Seconds()/t2.Sub(t1).Seconds()
	res.AckP50, res.AckP99 = percentile(acks, 0.5), percentile(acks, 0.99)
	res.Idle = load.Check(answers, exp, 0, churnFrom, nil)
	res.Churn = load.Check(answers, exp, churnFrom, churnTo, nil)
	if res.Idle.QPS > 0 {
		res.QPSRatio = res.Churn.QPS / res.Idle.QPS
	}
	env.logf("churn: %d updates (%.0f/s, ack p50 %.1f ms, p99 %.1f ms)", res.Updates, res.UpdateRate, res.AckP50, res.AckP99)
	env.logf("  CPU, cores: coredns-fed %.2f idle, %.2f under churn; machine %.2f idle, %.2f under churn", res.ServerIdle, res.ServerChurn, res.MachineIdle, res.MachineChurn)
	env.logf("  idle:  %s", res.Idle)
	env.logf("  churn: %s", res.Churn)
	if err := sh.allReady(ctx); err != nil {
		return nil, err
	}
	return res, waitAllAnswered(ctx, env, d.Addr, time.Minute)
}

// Goals returns the churn goals and whether they were met.
func (r *ChurnResult) Goals() []Goal {
	return []Goal{
		{"churn: QPS under churn vs idle", "≥ 0.8×", fmt.Sprintf("%.2f× (%.0f vs %.0f QPS)", r.QPSRatio, r.Churn.QPS, r.Idle.QPS), r.QPSRatio >= 0.8},
		{"churn: update rate", fmt.Sprintf("%d/s", r.Rate), fmt.Sprintf("%.0f/s (%d updates)", r.UpdateRate, r.Updates), r.UpdateRate >= 0.9*float64(r.Rate)},
		{"churn: SERVFAIL", "0", fmt.Sprint(r.Idle.ServFail + r.Churn.ServFail), r.Idle.ServFail+r.Churn.ServFail == 0},
		{"churn: contradicting answers", fmt.Sprintf("0 (bound %.0f ms)", r.BoundMs), contradicting(r.Idle.Wrong+r.Churn.Wrong, max(r.Idle.MaxLateMs, r.Churn.MaxLateMs)), r.Idle.Wrong+r.Churn.Wrong == 0},
		{"churn: timeouts", "0", fmt.Sprint(r.Idle.Timeouts + r.Churn.Timeouts), r.Idle.Timeouts+r.Churn.Timeouts == 0},
	}
}

func contradicting(n int, lateMs float64) string {
	switch {
	case n == 0:
		return "0"
	case lateMs < 0:
		return fmt.Sprintf("%d (some not explained by 10 s of lateness)", n)
	}
	return fmt.Sprintf("%d (all late by at most %.0f ms beyond the bound)", n, lateMs)
}

// Goal is one goal of a scenario and whether the run met it.
type Goal struct {
	What     string `json:"what"`
	Goal     string `json:"goal"`
	Measured string `json:"measured"`
	Met      bool   `json:"met"`
}

// waitAllAnswered waits until addr answers every Service's global name with
// every member's address.
func waitAllAnswered(ctx context.Context, env *Env, addr string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	want := len(env.Lab.Clusters())
	c := &dns.Client{Timeout: clientTimeout}
	return lab.Poll(ctx, 100*time.Millisecond, nil, func() error {
		for _, svc := range env.Services {
			q := new(dns.Msg)
			q.SetQuestion(env.Name(svc, ""), dns.TypeA)
			r, _, err := c.Exchange(q, addr)
			if err != nil {
				return err
			}
			if len(r.Answer) != want {
				return fmt.Errorf("%s: %d addresses, want %d", env.Name(svc, ""), len(r.Answer), want)
			}
		}
		return nil
	})
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// percentile returns the p-quantile (nearest rank) of xs.
func percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	xs = slices.Clone(xs)
	slices.Sort(xs)
	k := int(p*float64(len(xs))+0.5) - 1
	return xs[max(0, min(k, len(xs)-1))]
}

// cpuNow returns pid's CPU time, the machine's busy CPU time and the time.
func cpuNow(pid int) (proc, busy time.Duration, at time.Time) {
	proc, _ = lab.ProcessCPU(pid)
	busy, _ = machineBusy()
	return proc, busy, time.Now()
}

// machineBusy returns the busy CPU time of all CPUs from /proc/stat.
func machineBusy() (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0, fmt.Errorf("malformed /proc/stat")
	}
	var sum, idle int64
	for k, v := range f[1:min(len(f), 9)] {
		n, _ := strconv.ParseInt(v, 10, 64)
		sum += n
		if k == 3 || k == 4 { // idle, iowait
			idle += n
		}
	}
	return time.Duration(sum-idle) * time.Second / lab.ClockTick, nil
}
