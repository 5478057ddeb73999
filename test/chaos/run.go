package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/coredns-fed/coredns-fed/internal/lab"
	"github.com/coredns-fed/coredns-fed/plugin/federation"
)

// Options sizes a run of every scenario.
type Options struct {
	Root string // the repository: bin/, deploy/member/rbac.yaml
	Out  string // reports and the lab's logs
	Doc  string // where to write the Markdown report as well, "" for nowhere

	Services   int           // churned Services per member
	Workers    int           // query workers
	Bound      time.Duration // propagation allowance
	Churn      ChurnOptions
	KillDown   time.Duration // a member's kube-apiserver dead
	StaleAfter time.Duration // of the unprobed server
	Settle     time.Duration // load between the steps of a scenario
	EtcdDown   time.Duration
	AmpAddrs   int // load-balancer addresses per member of the wide Service
	// HostilePhase is how long each mode of the hostile proxy lasts (the
	// delay mode at least two /version periods).
	HostilePhase time.Duration
	// FlapAddrs probed addresses, a tenth of them flapping, for FlapFor.
	FlapAddrs int
	FlapFor   time.Duration

	Logf func(format string, args ...any)
}

// DefaultOptions returns the full run's sizes, or the short run's.
func DefaultOptions(short bool) Options {
	o := Options{
		Services: 40, Workers: 4, Bound: 250 * time.Millisecond,
		Churn:    ChurnOptions{Rate: 1000, Idle: 15 * time.Second, Duration: 60 * time.Second, Workers: 4, Writers: 8},
		KillDown: 30 * time.Second, StaleAfter: 5 * time.Second, Settle: 5 * time.Second,
		EtcdDown: 10 * time.Second, AmpAddrs: 60, HostilePhase: 15 * time.Second,
		FlapAddrs: 1000, FlapFor: 10 * time.Minute,
		Logf: log.Printf,
	}
	if short {
		o.Services = 8
		o.Churn = ChurnOptions{Rate: 100, Idle: 3 * time.Second, Duration: 5 * time.Second, Workers: 2, Writers: 2}
		o.KillDown, o.StaleAfter, o.Settle, o.EtcdDown, o.AmpAddrs = 8*time.Second, 2*time.Second, time.Second, 3*time.Second, 30
		o.HostilePhase = 4 * time.Second
		o.FlapAddrs, o.FlapFor = 40, 20*time.Second
	}
	o.Churn.Bound = o.Bound
	return o
}

// Report is everything one run measured.
type Report struct {
	Started  time.Time         `json:"started"`
	Seconds  float64           `json:"seconds"`
	Short    bool              `json:"short"`
	Machine  map[string]string `json:"machine"`
	Services int               `json:"services_per_member"`
	BoundMs  float64           `json:"bound_ms"`
	AmpAddrs int               `json:"amplification_addresses_per_member"`

	Churn   *ChurnResult   `json:"churn,omitempty"`
	Kill    *KillResult    `json:"apiserver_kill,omitempty"`
	Etcd    *EtcdResult    `json:"etcd,omitempty"`
	Restart *RestartResult `json:"coredns_restart,omitempty"`
	Hostile *HostileResult `json:"hostile,omitempty"`
	Flap    *FlapResult    `json:"flapping,omitempty"`
	Amp     *AmpResult     `json:"amplification,omitempty"`
	Goals   []Goal         `json:"goals"`
	Errors  []string       `json:"errors,omitempty"`
}

// Run starts a lab, runs every scenario against it and writes report.json
// and report.md to o.Out (and the Markdown to o.Doc). A scenario that fails
// to run is recorded and the next one runs.
func Run(ctx context.Context, o Options, short bool) (*Report, error) {
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return nil, err
	}
	rep := &Report{Started: time.Now(), Short: short, Machine: machine(o.Root), Services: o.Services, BoundMs: ms(o.Bound), AmpAddrs: o.AmpAddrs}
	err := run(ctx, o, rep)
	rep.Seconds = time.Since(rep.Started).Seconds()
	rep.Machine["load after"] = lab.LoadAvg()
	if rep.Churn != nil {
		rep.Goals = append(rep.Goals, rep.Churn.Goals()...)
	}
	if rep.Kill != nil {
		rep.Goals = append(rep.Goals, rep.Kill.Goals()...)
	}
	if rep.Etcd != nil {
		rep.Goals = append(rep.Goals, rep.Etcd.Goals()...)
	}
	if rep.Restart != nil {
		rep.Goals = append(rep.Goals, rep.Restart.Goals()...)
	}
	if rep.Hostile != nil {
		rep.Goals = append(rep.Goals, rep.Hostile.Goals()...)
	}
	if rep.Amp != nil {
		rep.Goals = append(rep.Goals, rep.Amp.Goals()...)
	}
	if rep.Flap != nil {
		rep.Goals = append(rep.Goals, rep.Flap.Goals()...)
	}
	if werr := write(o, rep); err == nil {
		err = werr
	}
	return rep, err
}

func run(ctx context.Context, o Options, rep *Report) error {
	cfg := lab.SeedConfig(o.Root)
	cfg.Dir = filepath.Join(o.Out, "lab")
	os.RemoveAll(cfg.Dir)
	cfg.Audit = true
	cfg.Logf = o.Logf
	cfg.ServerOptions = append(cfg.ServerOptions, "reload 2s 1s")
	var churned []string
	for i := range o.Services {
		churned = append(churned, fmt.Sprintf("chaos-%d", i))
	}
	const wide, flap = "wide", "flap"
	cfg.Services = append(append(cfg.Services, churned...), wide, flap)
	o.Logf("starting the lab: %d members, %d federated Services each", len(cfg.Clusters), len(cfg.Services))
	l, err := lab.Start(ctx, cfg)
	if err != nil {
		return err
	}
	defer l.Close()
	d, err := l.StartCoreDNS(ctx)
	if err != nil {
		return err
	}
	// The same federation without probes and with a short stale_after: the
	// other half of the stale policy, and every address of the wide
	// Service answered (no max_answers cap: the largest replies).
	unprobed, err := l.StartVariant(ctx, "unprobed", lab.Variant{
		FederationOptions: []string{fmt.Sprintf("stale_after %s", o.StaleAfter), lab.SeedIngressAllow, "max_answers 0"},
	})
	if err != nil {
		return err
	}
	env := &Env{Lab: l, Services: churned, Logf: o.Logf}
	fail := func(what string, err error) {
		o.Logf("%s: %v", what, err)
		rep.Errors = append(rep.Errors, fmt.Sprintf("%s: %v", what, err))
	}

	if rep.Churn, err = Churn(ctx, env, d, o.Churn); err != nil {
		fail("churn", err)
	}
	if rep.Kill, err = KillAPIServer(ctx, env, d, KillOptions{
		Member: l.Clusters()[0].Name, Before: o.Settle, Down: o.KillDown, After: o.Settle,
		Workers: o.Workers / 2, Bound: o.Bound, Unprobed: unprobed, StaleAfter: o.StaleAfter,
	}); err != nil {
		fail("kube-apiserver kill", err)
	}
	if rep.Etcd, err = RestartEtcd(ctx, env, d, EtcdOptions{
		Member: l.Clusters()[1].Name, Down: o.EtcdDown, Settle: o.Settle, Workers: o.Workers, Bound: o.Bound,
	}); err != nil {
		fail("etcd", err)
	}
	if rep.Restart, err = RestartCoreDNS(ctx, env, d, RestartOptions{Workers: o.Workers, Settle: o.Settle}); err != nil {
		fail("coredns-fed restart", err)
	}
	if rep.Hostile, err = Hostile(ctx, env, HostileOptions{
		Member: l.Clusters()[3].Name, Phase: o.HostilePhase, Delay: 10 * time.Second, Workers: o.Workers, Bound: o.Bound,
	}); err != nil {
		fail("hostile API server", err)
	}
	if rep.Amp, err = Amplification(ctx, env, unprobed, AmpOptions{Service: wide, Addresses: o.AmpAddrs}); err != nil {
		fail("amplification", err)
	}
	if rep.Flap, err = Flapping(ctx, env, d, FlapOptions{
		Service: flap, Addresses: o.FlapAddrs, Flapping: o.FlapAddrs / 10, Duration: o.FlapFor, Sample: o.FlapFor / 40,
		MaxAnswers: federation.DefaultMaxAnswers,
	}); err != nil {
		fail("flapping backends", err)
	}
	return ctx.Err()
}

func write(o Options, rep *Report) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(o.Out, "report.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	md := []byte(Markdown(rep))
	if err := os.WriteFile(filepath.Join(o.Out, "report.md"), md, 0o644); err != nil {
		return err
	}
	if o.Doc != "" {
		return os.WriteFile(o.Doc, KeepNotes(md, o.Doc), 0o644)
	}
	return nil
}

func machine(root string) map[string]string {
	m := map[string]string{"cpus": fmt.Sprint(runtime.NumCPU()), "load before": lab.LoadAvg()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m["model"] = strings.TrimSpace(v)
				break
			}
		}
	}
	if out, err := exec.Command("git", "-C", root, "rev-parse", "--short", "HEAD").Output(); err == nil {
		v := strings.TrimSpace(string(out))
		if st, err := exec.Command("git", "-C", root, "status", "--porcelain", "--", "plugin", "cmd", "go.mod").Output(); err == nil && len(st) > 0 {
			v += "+dirty"
		}
		m["commit"] = v
	}
	return m
}

// notesHeading starts the part of the Markdown report written by hand, which a
// new run keeps.
const notesHeading = "\n## Notes on this run\n"

// KeepNotes returns md followed by the hand-written notes of the report at
// path (from notesHeading to its end), if it has any.
func KeepNotes(md []byte, path string) []byte {
	old, err := os.ReadFile(path)
	if err != nil {
		return md
	}
	i := bytes.Index(old, []byte(notesHeading))
	if i < 0 {
		return md
	}
	return append(bytes.TrimRight(md, "\n"), append([]byte("\n"), old[i:]...)...)
}
