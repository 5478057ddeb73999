package chaos

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/coredns-fed/coredns-fed/internal/lab"
)

// RestartOptions sizes the coredns-fed restart and reload scenario.
type RestartOptions struct {
	Workers int
	Settle  time.Duration // load between the steps
}

// RestartResult is what the restart and reload scenario measured.
type RestartResult struct {
	Reloads     int     `json:"reloads"`
	Reload      Tally   `json:"reload"`       // from the start to the cold restart
	BeforeReady Tally   `json:"before_ready"` // the process restarted → ready
	AfterReady  Tally   `json:"after_ready"`
	SOA         Tally   `json:"soa"` // every SOA answer of the run, in order
	ReadyMs     float64 `json:"ready_ms"`
	// FirstAnswerMs is the restart → the first right answer.
	FirstAnswerMs float64 `json:"first_answer_ms"`
}

// RestartCoreDNS reloads d's Corefile through the reload plugin (d must run
// it) twice under load, once unchanged but for a comment (the running
// federation is handed over) and once with a new TTL (a new federation
// built beside the old), restores it, and then restarts d cold. Expected: no
// SERVFAIL on the reloads; SERVFAIL or nothing only between the restart and
// ready; the SOA serial never back.
func RestartCoreDNS(ctx context.Context, env *Env, d *lab.CoreDNS, opts RestartOptions) (*RestartResult, error) {
	if err := waitAllAnswered(ctx, env, d.Addr, time.Minute); err != nil {
		return nil, err
	}
	original, err := os.ReadFile(d.Corefile)
	if err != nil {
		return nil, err
	}
	exp := NewExpect(len(env.Lab.Clusters()), len(env.Services), true)
	load := env.StartLoad(d.Addr, env.Targets(true), opts.Workers)
	stopped := false
	defer func() {
		if !stopped {
			load.Stop()
		}
	}()
	res := &RestartResult{}
	env.logf("coredns-fed restart and reload: %d query workers", opts.Workers)
	sleep(ctx, opts.Settle)

	fed := env.Lab.Config().Federation
	steps := []struct{ what, corefile, logLine string }{
		{"a comment added", "# reloaded by fedchaos\n" + string(original), "answering from the running federation"},
		{"a new TTL", strings.Replace(string(original), "federation "+fed+" {", "federation "+fed+" {\n        ttl 7", 1), "answering from the previous federation"},
		{"the original", string(original), "answering from the previous federation"},
	}
	for _, s := range steps {
		before := countLog(d.Log(), s.logLine)
		written := load.Since(time.Now())
		if err := os.WriteFile(d.Corefile, []byte(s.corefile), 0o644); err != nil {
			return nil, err
		}
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := lab.Poll(wctx, 100*time.Millisecond, d, func() error {
			if countLog(d.Log(), s.logLine) <= before {
				return fmt.Errorf("no reload with %s within 30s (log: %q)", s.what, s.logLine)
			}
			return nil
		})
		cancel()
		if err != nil {
			return nil, err
		}
		res.Reloads++
		env.logf("  reloaded: %s (Corefile written at %s of the load, reload seen in the log at %s)", s.what,
			written.Round(time.Millisecond), load.Since(time.Now()).Round(time.Millisecond))
		sleep(ctx, opts.Settle)
	}

	restarted := time.Now()
	if err := d.Restart(false); err != nil {
		return nil, err
	}
	if err := d.WaitReady(ctx); err != nil {
		return nil, err
	}
	ready := time.Now()
	sleep(ctx, opts.Settle)
	end := load.Since(time.Now())
	answers := load.Stop()
	stopped = true

	res.ReadyMs = ms(ready.Sub(restarted))
	r0, r1 := load.Since(restarted), load.Since(ready)
	res.Reload = load.Check(answers, exp, 0, r0, nil)
	res.BeforeReady = load.Check(answers, exp, r0, r1, nil)
	res.AfterReady = load.Check(answers, exp, r1, end, nil)
	res.SOA = load.Check(answers, exp, 0, end, func(t Target) bool { return t.SOA() })
	res.FirstAnswerMs = -1
	for _, a := range answers {
		if a.Sent >= r0 && a.Rcode == 0 && (res.FirstAnswerMs < 0 || ms(a.Recv-r0) < res.FirstAnswerMs) {
			res.FirstAnswerMs = ms(a.Recv - r0)
		}
	}
	env.logf("  %d reloads: %s", res.Reloads, res.Reload)
	env.logf("  cold restart → ready %.0f ms, first answer %.0f ms; before ready: %s", res.ReadyMs, res.FirstAnswerMs, res.BeforeReady)
	env.logf("  after ready: %s", res.AfterReady)
	env.logf("  SOA: %s", res.SOA)
	return res, nil
}

// Goals returns the restart and reload goals and whether they were met.
func (r *RestartResult) Goals() []Goal {
	return []Goal{
		{"coredns-fed reload: failed answers", fmt.Sprintf("0 over %d reloads", r.Reloads), fmt.Sprintf("%d (%d SERVFAIL, %d timeouts, %d contradicting)", r.Reload.Failed(), r.Reload.ServFail, r.Reload.Timeouts, r.Reload.Wrong), r.Reload.Failed() == 0},
		{"coredns-fed cold restart: SERVFAIL after ready", "0", fmt.Sprint(r.AfterReady.ServFail), r.AfterReady.ServFail == 0},
		{"coredns-fed cold restart: contradicting answers", "0", fmt.Sprint(r.BeforeReady.Wrong + r.AfterReady.Wrong), r.BeforeReady.Wrong+r.AfterReady.Wrong == 0},
		{"coredns-fed restart and reloads: SOA serial back", "never", fmt.Sprintf("%d times in %d SOA answers", r.SOA.SerialBack, r.SOA.Right+r.SOA.SerialBack), r.SOA.SerialBack == 0},
	}
}

func countLog(path, s string) int {
	b, _ := os.ReadFile(path)
	return bytes.Count(b, []byte(s))
}
