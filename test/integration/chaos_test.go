package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/coredns-fed/coredns-fed/internal/lab"
	"github.com/coredns-fed/coredns-fed/plugin/federation"
	"github.com/coredns-fed/coredns-fed/test/chaos"
)

// The short form of each scenario of `make chaos` (test/chaos), on the shared
// lab: a few seconds each, with a query load running and every answer checked
// against the state the scenario set. Only correctness is asserted here; the
// throughput and timing figures belong to docs/reliability.md.

// chaosEnv adds n federated Services for a scenario to every member and
// removes them when the test ends.
func chaosEnv(t *testing.T, prefix string, n int) *chaos.Env {
	t.Helper()
	env := &chaos.Env{Lab: fed, Logf: t.Logf}
	for i := range n {
		name := fmt.Sprintf("%s-%d", prefix, i)
		do(t, "adding "+name, func(ctx context.Context) error { return fed.AddService(ctx, name) })
		env.Services = append(env.Services, name)
	}
	t.Cleanup(func() {
		for _, name := range env.Services {
			do(t, "removing "+name, func(ctx context.Context) error { return fed.RemoveService(ctx, name) })
		}
	})
	return env
}

// assertRight fails the test for every answer of tally that contradicts the
// scenario's state or is a SERVFAIL.
func assertRight(t *testing.T, what string, tally chaos.Tally) {
	t.Helper()
	t.Logf("%s: %s", what, tally)
	if tally.Queries == 0 {
		t.Errorf("%s: no queries", what)
	}
	if tally.Wrong > 0 || tally.ServFail > 0 || tally.SerialBack > 0 {
		t.Errorf("%s: %d contradicting answers, %d SERVFAIL, %d SOA serials back; first: %q",
			what, tally.Wrong, tally.ServFail, tally.SerialBack, tally.Examples)
	}
}

func TestChaosChurn(t *testing.T) {
	healthy(t)
	env := chaosEnv(t, "churn", 4)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := chaos.Churn(ctx, env, fed.DNS(), chaos.ChurnOptions{
		Rate: 40, Idle: 2 * time.Second, Duration: 4 * time.Second,
		Workers: 2, Writers: 1, Bound: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Updates == 0 {
		t.Error("no EndpointSlice updates")
	}
	assertRight(t, "idle", res.Idle)
	assertRight(t, "churn", res.Churn)
	healthy(t)
}

func TestChaosAPIServerKill(t *testing.T) {
	healthy(t)
	env := chaosEnv(t, "kill", 2)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	const staleAfter = 2 * time.Second
	unprobed, err := fed.StartVariant(ctx, "chaos-unprobed", lab.Variant{
		FederationOptions: []string{fmt.Sprintf("stale_after %s", staleAfter), lab.SeedIngressAllow},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer unprobed.Stop()
	const member = "gce-asia-east1"
	t.Cleanup(func() {
		do(t, "starting "+member, func(ctx context.Context) error { return fed.StartAPIServer(ctx, member) })
	})
	res, err := chaos.KillAPIServer(ctx, env, fed.DNS(), chaos.KillOptions{
		// After covers the member's return: its first /version request
		// (every 5 s) or watch makes it fresh again.
		Member: member, Before: time.Second, Down: 5 * time.Second, After: 8 * time.Second,
		Workers: 1, Bound: time.Second, Unprobed: unprobed, StaleAfter: staleAfter,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []chaos.ServerView{res.Probed, *res.Unprobed} {
		if f := v.Others.Failed(); f > 0 {
			t.Errorf("%s: %d answers for the other members' names failed: %s", v.Server, f, v.Others)
		}
		assertRight(t, v.Server+", "+member+"'s names", v.Hit)
		assertRight(t, v.Server+", global names", v.Global)
	}
	if res.DroppedMs < 0 {
		t.Errorf("the unprobed server never dropped %s's shards (stale_after %s)", member, staleAfter)
	}
	if res.ReturnMs < 0 {
		t.Errorf("the unprobed server never answered %s's shards again", member)
	}
	healthy(t)
}

func TestChaosCoreDNSRestart(t *testing.T) {
	healthy(t)
	env := chaosEnv(t, "restart", 2)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	d, err := fed.StartVariant(ctx, "chaos-restart", lab.Variant{
		ShardHealth:   lab.SeedShardHealth(),
		ServerOptions: []string{"reload 2s 1s"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Stop()
	res, err := chaos.RestartCoreDNS(ctx, env, d, chaos.RestartOptions{Workers: 2, Settle: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	assertRight(t, "reloads", res.Reload)
	if f := res.Reload.Failed(); f > 0 {
		t.Errorf("%d answers failed across the reloads; first: %q", f, res.Reload.Examples)
	}
	assertRight(t, "after the cold restart was ready", res.AfterReady)
	if res.BeforeReady.Wrong > 0 {
		t.Errorf("before ready: %d contradicting answers: %q", res.BeforeReady.Wrong, res.BeforeReady.Examples)
	}
	if res.SOA.SerialBack > 0 {
		t.Errorf("the SOA serial went back: %q", res.SOA.Examples)
	}
}

func TestChaosAmplification(t *testing.T) {
	env := chaosEnv(t, "amp", 1)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	d, err := fed.StartVariant(ctx, "chaos-amp", lab.Variant{FederationOptions: []string{lab.SeedIngressAllow, "max_answers 0"}})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Stop()
	res, err := chaos.Amplification(ctx, env, d, chaos.AmpOptions{Service: env.Services[0], Addresses: 30})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range res.Violations {
		t.Error(v)
	}
	if top := res.Rows[0]; top.TCPBytes <= 1232 {
		t.Errorf("the largest answer (%s %s) is %d bytes: nothing needed truncating", top.Name, top.Type, top.TCPBytes)
	}
}

func TestChaosEtcdAndWatchExpiry(t *testing.T) {
	healthy(t)
	env := chaosEnv(t, "etcd", 2)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	const member = "gce-us-east1"
	t.Cleanup(func() {
		do(t, "starting etcd", fed.StartEtcd)
		do(t, "starting "+member, func(ctx context.Context) error { return fed.StartAPIServer(ctx, member) })
	})
	res, err := chaos.RestartEtcd(ctx, env, fed.DNS(), chaos.EtcdOptions{
		Member: member, Down: 2 * time.Second, Settle: time.Second, Workers: 2, Bound: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		what  string
		tally chaos.Tally
	}{{"etcd restart", res.Restart}, {"watch expiry", res.Expiry}} {
		assertRight(t, c.what, c.tally)
		if f := c.tally.Failed(); f > 0 {
			t.Errorf("%s: %d answers failed", c.what, f)
		}
	}
	healthy(t)
}

func TestChaosHostileAPIServer(t *testing.T) {
	healthy(t)
	env := chaosEnv(t, "hostile", 2)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	res, err := chaos.Hostile(ctx, env, chaos.HostileOptions{
		Member: "gce-us-central1", Phase: 4 * time.Second, Delay: 10 * time.Second, Workers: 2, Bound: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, ph := range res.Phases {
		if f := ph.View.Others.Failed() + ph.View.Global.Failed(); f > 0 {
			t.Errorf("%s: %d answers for the other members' and global names failed: %s; %s", ph.Mode, f, ph.View.Others, ph.View.Global)
		}
		assertRight(t, ph.Mode+", the hostile member's names", ph.View.Hit)
		if (ph.Mode == chaos.ModeDelay || ph.Mode == chaos.ModeGarbage) && len(ph.Logs) == 0 {
			t.Errorf("%s: no log line names the member", ph.Mode)
		}
	}
}

func TestChaosFlappingBackends(t *testing.T) {
	healthy(t)
	env := chaosEnv(t, "flap", 1)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	res, err := chaos.Flapping(ctx, env, fed.DNS(), chaos.FlapOptions{
		Service: env.Services[0], Addresses: 40, Flapping: 4, Duration: 8 * time.Second, Sample: time.Second,
		MaxAnswers: federation.DefaultMaxAnswers,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Questions == 0 {
		t.Error("no questions")
	}
	if res.MissStable+res.Foreign+res.Failed > 0 {
		t.Errorf("%d answers without a stable address, %d with a stranger's, %d failed: %q", res.MissStable, res.Foreign, res.Failed, res.Examples)
	}
}
