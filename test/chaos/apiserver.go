package chaos

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/coredns-fed/coredns-fed/internal/lab"
)

// pingInterval is how often coredns-fed asks a member's API server for
// /version (plugin/federation, kubesource.go): the longest a lost or
// regained API server goes unnoticed when no watch event tells first.
const pingInterval = 5 * time.Second

// KillOptions sizes the kube-apiserver kill scenario.
type KillOptions struct {
	Member  string        // whose kube-apiserver is killed
	Before  time.Duration // load before the kill
	Down    time.Duration // how long it stays dead
	After   time.Duration // load after it is back
	Workers int           // query workers per server
	Bound   time.Duration
	// Unprobed is a coredns-fed without shardhealth whose stale_after is
	// StaleAfter (shorter than Down), to see the other half of the stale
	// policy; nil leaves it out.
	Unprobed   *lab.CoreDNS
	StaleAfter time.Duration
}

// ServerView tallies one server's answers in a scenario, by the names'
// relation to the member the scenario hit.
type ServerView struct {
	Server string `json:"server"`
	Hit    Tally  `json:"hit"`    // the member's own region and zone names
	Others Tally  `json:"others"` // the other members' region and zone names
	Global Tally  `json:"global"`
}

func (l *Load) view(server string, answers []Answer, exp *Expect, from, to time.Duration, hit int) ServerView {
	return ServerView{
		Server: server,
		Hit:    l.Check(answers, exp, from, to, func(t Target) bool { return t.Member == hit }),
		Others: l.Check(answers, exp, from, to, func(t Target) bool { return t.Member >= 0 && t.Member != hit }),
		Global: l.Check(answers, exp, from, to, func(t Target) bool { return t.Member < 0 }),
	}
}

func (v ServerView) failed() int { return v.Hit.Failed() + v.Others.Failed() + v.Global.Failed() }
func (v ServerView) wrong() int  { return v.Hit.Wrong + v.Others.Wrong + v.Global.Wrong }

// KillResult is what the kube-apiserver kill scenario measured.
type KillResult struct {
	Member        string      `json:"member"`
	DownSeconds   float64     `json:"down_seconds"`    // SIGKILL → ready again
	RestartSecs   float64     `json:"restart_seconds"` // start → ready
	Probed        ServerView  `json:"probed"`
	Unprobed      *ServerView `json:"unprobed,omitempty"`
	StaleAfterSec float64     `json:"stale_after_seconds"`
	// ReturnMs is, on the unprobed server, ready → the first answer with
	// the member's shards again; -1 when none came.
	ReturnMs float64 `json:"return_ms"`
	// DroppedMs is, on the unprobed server, the kill → the first answer
	// without the member's shards; -1 when none came.
	DroppedMs float64 `json:"dropped_ms"`
	// ChangeMs is a change made in the member after the restart → the
	// probed server's answer showing it: the watches resumed.
	ChangeMs float64  `json:"change_ms"`
	Requests Requests `json:"requests"`
}

// Requests counts coredns-fed's list and watch requests to a member's
// kube-apiserver from its audit log; -1 when the lab keeps none.
type Requests struct {
	Lists   int `json:"lists"` // answered with a list (status 2xx)
	Watches int `json:"watches"`
	// FailedLists are list requests the server refused or failed, e.g.
	// while its watch cache initialised after a restart; client-go retries
	// them. They cost the server little and are counted apart.
	FailedLists int `json:"failed_lists"`
	// WatchLists are watches that ask for the initial events (a streaming
	// list); client-go tries one before each list, and falls back to the
	// list when the server does not serve it.
	WatchLists int `json:"watch_lists"`
}

// KillAPIServer SIGKILLs a member's kube-apiserver under load and starts it
// again. Expected: the other members' names never fail; the member's shards
// stay on the probed server (probes vouch for them) and, on the unprobed one,
// stay until stale_after and are then dropped; after the restart they return,
// and a change in the member shows within the bound.
func KillAPIServer(ctx context.Context, env *Env, d *lab.CoreDNS, opts KillOptions) (*KillResult, error) {
	hit, err := memberIndex(env, opts.Member)
	if err != nil {
		return nil, err
	}
	servers := []*lab.CoreDNS{d}
	if opts.Unprobed != nil {
		servers = append(servers, opts.Unprobed)
	}
	sh, err := readyShards(ctx, env, servers...)
	if err != nil {
		return nil, err
	}
	audit := auditFrom(env.Lab, opts.Member)

	members := len(env.Lab.Clusters())
	probedExp := NewExpect(members, len(env.Services), true)
	unprobedExp := NewExpect(members, len(env.Services), true)
	targets := env.Targets(false)
	loads := []*Load{env.StartLoad(d.Addr, targets, opts.Workers)}
	if opts.Unprobed != nil {
		loads = append(loads, env.StartLoad(opts.Unprobed.Addr, targets, opts.Workers))
	}
	stopLoads := func() [][]Answer {
		var out [][]Answer
		for _, l := range loads {
			out = append(out, l.Stop())
		}
		return out
	}
	env.logf("kube-apiserver kill: %s, down %s, load on %d servers", opts.Member, opts.Down, len(loads))
	sleep(ctx, opts.Before)

	killed := time.Now()
	if err := env.Lab.KillAPIServer(opts.Member); err != nil {
		stopLoads()
		return nil, err
	}
	for s := range env.Services {
		// Stale from stale_after after the loss was noticed: at once (the
		// watches break) or at the next /version request.
		from := loads[0].Since(killed) + opts.StaleAfter
		unprobedExp.Shard(hit, s).Set(false, from, from+pingInterval+time.Second)
	}
	sleep(ctx, opts.Down)
	started := time.Now()
	if err := env.Lab.StartAPIServer(ctx, opts.Member); err != nil {
		stopLoads()
		return nil, err
	}
	ready := time.Now()
	for s := range env.Services {
		// Fresh at the first request that succeeds: a watch retry, or the
		// next /version request.
		unprobedExp.Shard(hit, s).Set(true, loads[0].Since(started), loads[0].Since(ready)+pingInterval+time.Second)
	}
	res := &KillResult{Member: opts.Member, DownSeconds: ready.Sub(killed).Seconds(), RestartSecs: ready.Sub(started).Seconds(),
		StaleAfterSec: opts.StaleAfter.Seconds(), ReturnMs: -1}

	// A change in the member after the restart: its watches resumed.
	if err := sh.reread(ctx, hit); err != nil {
		stopLoads()
		return nil, err
	}
	change, err := changeAndWait(ctx, env, sh, d.Addr, hit, 0, false, []*Expect{probedExp, unprobedExp}, loads[0], opts.Bound)
	if err == nil {
		res.ChangeMs = ms(change)
		_, err = changeAndWait(ctx, env, sh, d.Addr, hit, 0, true, []*Expect{probedExp, unprobedExp}, loads[0], opts.Bound)
	}
	if err != nil {
		stopLoads()
		return nil, err
	}
	sleep(ctx, opts.After)
	end := loads[0].Since(time.Now())
	answers := stopLoads()

	res.Probed = loads[0].view("probed", answers[0], probedExp, 0, end, hit)
	if opts.Unprobed != nil {
		v := loads[1].view("unprobed", answers[1], unprobedExp, 0, end, hit)
		res.Unprobed = &v
		res.ReturnMs = firstDirect(loads[1], answers[1], hit, loads[1].Since(ready), true)
		res.DroppedMs = firstDirect(loads[1], answers[1], hit, loads[1].Since(killed), false)
	}
	res.Requests = audit()
	env.logf("kube-apiserver kill: down %.1fs (restart %.1fs), change after restart → answer %.0f ms, unprobed shards dropped %.0f ms after the kill and back %.0f ms after ready, %d lists and %d watches after the kill",
		res.DownSeconds, res.RestartSecs, res.ChangeMs, res.DroppedMs, res.ReturnMs, res.Requests.Lists, res.Requests.Watches)
	for _, v := range append([]ServerView{res.Probed}, derefViews(res.Unprobed)...) {
		env.logf("  %s, %s's names: %s", v.Server, opts.Member, v.Hit)
		env.logf("  %s, other members' names: %s", v.Server, v.Others)
		env.logf("  %s, global names: %s", v.Server, v.Global)
	}
	return res, nil
}

func derefViews(v *ServerView) []ServerView {
	if v == nil {
		return nil
	}
	return []ServerView{*v}
}

// Goals returns the kill scenario's goals and whether they were met.
func (r *KillResult) Goals() []Goal {
	g := []Goal{
		{"apiserver kill: other members' names fail", "0", fmt.Sprint(r.Probed.Others.Failed()), r.Probed.Others.Failed() == 0},
		{"apiserver kill: answers contradicting the stale policy (probed)", "0", fmt.Sprint(r.Probed.wrong()), r.Probed.wrong() == 0},
		{"apiserver kill: change after restart → answer", fmt.Sprintf("watches resume"), fmt.Sprintf("%.0f ms", r.ChangeMs), r.ChangeMs >= 0},
	}
	if r.Unprobed != nil {
		g = append(g,
			Goal{"apiserver kill: other members' names fail (unprobed)", "0", fmt.Sprint(r.Unprobed.Others.Failed()), r.Unprobed.Others.Failed() == 0},
			Goal{"apiserver kill: answers contradicting the stale policy (unprobed)", "0", fmt.Sprint(r.Unprobed.wrong()), r.Unprobed.wrong() == 0},
			Goal{"apiserver kill: unprobed shards dropped after the kill", fmt.Sprintf("%.0f–%.0f ms (stale_after + detection)", ms(time.Duration(r.StaleAfterSec*float64(time.Second))), ms(time.Duration(r.StaleAfterSec*float64(time.Second))+pingInterval+time.Second)), fmt.Sprintf("%.0f ms", r.DroppedMs), r.DroppedMs >= r.StaleAfterSec*1000 && r.DroppedMs <= r.StaleAfterSec*1000+ms(pingInterval+time.Second)},
			Goal{"apiserver kill: unprobed shards back after ready", fmt.Sprintf("≤ %.0f ms", ms(pingInterval+time.Second)), fmt.Sprintf("%.0f ms", r.ReturnMs), r.ReturnMs >= 0 && r.ReturnMs <= ms(pingInterval+time.Second)},
		)
	}
	if r.Requests.Lists >= 0 {
		g = append(g, Goal{"apiserver kill: relists after the restart", "no storm (≤ 1 per watched kind and server)", fmt.Sprintf("%d lists answered (%d refused), %d watches", r.Requests.Lists, r.Requests.FailedLists, r.Requests.Watches), r.Requests.Lists <= 6})
	}
	return g
}

// changeAndWait sets member m's copy of Service s to ready, records it in
// every expectation, and returns the time from the API server's
// acknowledgement to addr's answer for the member's zone name showing it.
func changeAndWait(ctx context.Context, env *Env, sh *shards, addr string, m, s int, ready bool, exps []*Expect, load *Load, bound time.Duration) (time.Duration, error) {
	sent, acked, err := sh.set(ctx, m, s, ready)
	if err != nil {
		return 0, err
	}
	for _, e := range exps {
		e.Shard(m, s).Set(ready, load.Since(sent), load.Since(acked)+bound)
	}
	c := env.Lab.Clusters()[m]
	name := env.Name(env.Services[s], c.Zones[0]+"."+c.Region)
	client := &dns.Client{Timeout: clientTimeout}
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		q := new(dns.Msg)
		q.SetQuestion(name, dns.TypeA)
		if r, _, err := client.Exchange(q, addr); err == nil && r.Rcode == dns.RcodeSuccess && len(r.Answer) > 0 {
			_, direct := r.Answer[0].(*dns.A)
			if direct == ready {
				return time.Since(acked), nil
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	return 0, fmt.Errorf("%s did not follow the change of %s within a minute", name, c.Name)
}

// firstDirect returns the time from since to the first answer sent after
// it that answered member m's own name with its shard (direct) or fell back
// (!direct), in ms; -1 if none.
func firstDirect(l *Load, answers []Answer, m int, since time.Duration, direct bool) float64 {
	first := time.Duration(-1)
	for _, a := range answers {
		if a.Sent >= since && a.Rcode == dns.RcodeSuccess && a.Direct == direct && l.targets[a.Target].Member == m && (first < 0 || a.Recv < first) {
			first = a.Recv
		}
	}
	if first < 0 {
		return -1
	}
	return ms(first - since)
}

// auditFrom marks the member's audit log where it ends now, and returns a
// function counting the list and watch requests written after the mark.
func auditFrom(l *lab.Lab, member string) func() Requests {
	path, err := l.AuditLog(member)
	if err != nil {
		return func() Requests { return Requests{-1, -1, -1, -1} }
	}
	var offset int64
	if fi, err := os.Stat(path); err == nil {
		offset = fi.Size()
	}
	return func() Requests {
		f, err := os.Open(path)
		if err != nil {
			return Requests{-1, -1, -1, -1}
		}
		defer f.Close()
		if _, err := f.Seek(offset, io.SeekStart); err != nil {
			return Requests{-1, -1, -1, -1}
		}
		return countRequests(f)
	}
}

// countRequests counts the list and watch requests of an audit log in JSON lines.
func countRequests(f io.Reader) Requests {
	var r Requests
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var ev struct {
			Stage          string `json:"stage"`
			Verb           string `json:"verb"`
			RequestURI     string `json:"requestURI"`
			ResponseStatus struct {
				Code int `json:"code"`
			} `json:"responseStatus"`
		}
		if json.Unmarshal(sc.Bytes(), &ev) != nil {
			continue
		}
		switch {
		case ev.Verb == "list" && ev.Stage != "ResponseComplete":
			// counted when answered
		case ev.Verb == "list" && ev.ResponseStatus.Code >= 200 && ev.ResponseStatus.Code < 300:
			r.Lists++
		case ev.Verb == "list":
			r.FailedLists++
		case ev.Verb == "watch" && strings.Contains(ev.RequestURI, "sendInitialEvents=true"):
			r.WatchLists++
		case ev.Verb == "watch":
			r.Watches++
		}
	}
	return r
}
