package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/coredns-fed/coredns-fed/internal/lab"
)

// EtcdOptions sizes the etcd restart and watch expiry scenario.
type EtcdOptions struct {
	Member  string        // whose watches are made to expire
	Down    time.Duration // etcd dead
	Settle  time.Duration
	Workers int
	Bound   time.Duration
}

// EtcdResult is what the etcd restart and watch expiry scenario measured.
type EtcdResult struct {
	Member      string  `json:"member"`
	DownSeconds float64 `json:"down_seconds"`
	// Restart tallies the answers from before etcd's kill to the change
	// after it; ChangeAfterEtcdMs is that change's ack → answer.
	Restart           Tally   `json:"restart"`
	ChangeAfterEtcdMs float64 `json:"change_after_etcd_ms"`
	// Expiry tallies the answers around the watch expiry: etcd compacted,
	// the member's kube-apiserver restarted, so that coredns-fed's watches
	// resume from a compacted resourceVersion (410 Gone).
	Expiry              Tally    `json:"expiry"`
	ChangeAfterExpiryMs float64  `json:"change_after_expiry_ms"`
	CompactedRevision   int64    `json:"compacted_revision"`
	Requests            Requests `json:"requests"` // at the member, from the compaction on
}

// RestartEtcd kills the lab's etcd under load and starts it again, then
// makes one member's watches expire. Expected: no answer fails or
// contradicts the state throughout; a change in the member shows within the
// bound after each step; the expiry costs one relist per watched kind and
// server.
func RestartEtcd(ctx context.Context, env *Env, d *lab.CoreDNS, opts EtcdOptions) (*EtcdResult, error) {
	hit, err := memberIndex(env, opts.Member)
	if err != nil {
		return nil, err
	}
	sh, err := readyShards(ctx, env, d)
	if err != nil {
		return nil, err
	}
	exp := NewExpect(len(env.Lab.Clusters()), len(env.Services), true)
	load := env.StartLoad(d.Addr, env.Targets(false), opts.Workers)
	stopped := false
	defer func() {
		if !stopped {
			load.Stop()
		}
	}()
	res := &EtcdResult{Member: opts.Member}
	env.logf("etcd: killed for %s under load", opts.Down)
	sleep(ctx, opts.Settle)

	killed := time.Now()
	env.Lab.StopEtcd(true)
	sleep(ctx, opts.Down)
	if err := env.Lab.StartEtcd(ctx); err != nil {
		return nil, err
	}
	res.DownSeconds = time.Since(killed).Seconds()
	// The kube-apiservers find their storage again on their own; a write
	// fails until they have.
	change, err := changeWhenWritable(ctx, env, sh, d.Addr, hit, exp, load, opts.Bound)
	if err != nil {
		return nil, err
	}
	res.ChangeAfterEtcdMs = ms(change)
	expiryFrom := load.Since(time.Now())
	sleep(ctx, opts.Settle)

	// Watch expiry: writes move etcd's revision past the last one the
	// member's watches saw, a compaction drops the history, and a restart
	// of the member's kube-apiserver starts its watch cache at the current
	// revision: coredns-fed's watches resume from a revision it no longer
	// has, and get 410 Gone.
	env.logf("etcd: compacting and restarting %s's kube-apiserver", opts.Member)
	if err := bumpRevision(ctx, env.Lab.Clusters()[hit], 20); err != nil {
		return nil, err
	}
	audit := auditFrom(env.Lab, opts.Member)
	if res.CompactedRevision, err = compactEtcd(ctx, env.Lab.EtcdURL()); err != nil {
		return nil, err
	}
	if err := env.Lab.StopAPIServer(opts.Member); err != nil {
		return nil, err
	}
	if err := env.Lab.StartAPIServer(ctx, opts.Member); err != nil {
		return nil, err
	}
	if err := sh.reread(ctx, hit); err != nil {
		return nil, err
	}
	change, err = changeWhenWritable(ctx, env, sh, d.Addr, hit, exp, load, opts.Bound)
	if err != nil {
		return nil, err
	}
	res.ChangeAfterExpiryMs = ms(change)
	sleep(ctx, opts.Settle)
	end := load.Since(time.Now())
	answers := load.Stop()
	stopped = true
	res.Requests = audit()
	res.Restart = load.Check(answers, exp, 0, expiryFrom, nil)
	res.Expiry = load.Check(answers, exp, expiryFrom, end, nil)
	env.logf("  etcd down %.1fs: %s; change after → answer %.0f ms", res.DownSeconds, res.Restart, res.ChangeAfterEtcdMs)
	env.logf("  watch expiry (compacted at revision %d): %s; change after → answer %.0f ms; %d lists, %d watches",
		res.CompactedRevision, res.Expiry, res.ChangeAfterExpiryMs, res.Requests.Lists, res.Requests.Watches)
	return res, nil
}

// Goals returns the etcd scenario's goals and whether they were met.
func (r *EtcdResult) Goals() []Goal {
	g := []Goal{
		{"etcd restart: failed or contradicting answers", "0", fmt.Sprint(r.Restart.Failed()), r.Restart.Failed() == 0},
		{"etcd restart: change after → answer", "≤ bound", fmt.Sprintf("%.0f ms", r.ChangeAfterEtcdMs), r.ChangeAfterEtcdMs >= 0},
		{"watch expiry (410): failed or contradicting answers", "0", fmt.Sprint(r.Expiry.Failed()), r.Expiry.Failed() == 0},
		{"watch expiry (410): change after → answer", "≤ bound", fmt.Sprintf("%.0f ms", r.ChangeAfterExpiryMs), r.ChangeAfterExpiryMs >= 0},
	}
	if r.Requests.Lists >= 0 {
		g = append(g, Goal{"watch expiry (410): relists", "≤ 1 per watched kind and server (6)", fmt.Sprintf("%d lists answered (%d refused), %d watches", r.Requests.Lists, r.Requests.FailedLists, r.Requests.Watches), r.Requests.Lists <= 6})
	}
	return g
}

// changeWhenWritable flips member m's first Service down and up again once
// its API server takes writes, and returns the longer ack → answer time.
func changeWhenWritable(ctx context.Context, env *Env, sh *shards, addr string, m int, exp *Expect, load *Load, bound time.Duration) (time.Duration, error) {
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	err := lab.Poll(wctx, 500*time.Millisecond, nil, func() error { return sh.reread(wctx, m) })
	if err != nil {
		return 0, fmt.Errorf("%s's API server not readable again: %w", env.Lab.Clusters()[m].Name, err)
	}
	down, err := changeAndWait(ctx, env, sh, addr, m, 0, false, []*Expect{exp}, load, bound)
	if err != nil {
		return 0, err
	}
	up, err := changeAndWait(ctx, env, sh, addr, m, 0, true, []*Expect{exp}, load, bound)
	return max(down, up), err
}

// bumpRevision writes a ConfigMap n times in the member, moving etcd's
// revision on.
func bumpRevision(ctx context.Context, c *lab.Cluster, n int) error {
	cms := c.Client.CoreV1().ConfigMaps("default")
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "fedchaos-revision"}, Data: map[string]string{}}
	cur, err := cms.Create(ctx, cm, metav1.CreateOptions{})
	if err != nil {
		if cur, err = cms.Get(ctx, cm.Name, metav1.GetOptions{}); err != nil {
			return err
		}
	}
	for i := range n {
		if cur.Data == nil {
			cur.Data = map[string]string{}
		}
		cur.Data["n"] = fmt.Sprint(i)
		if cur, err = cms.Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
			return err
		}
	}
	return nil
}

// compactEtcd compacts etcd's history up to its current revision through
// its JSON gateway, and returns that revision.
func compactEtcd(ctx context.Context, url string) (int64, error) {
	var rng struct {
		Header struct {
			Revision string `json:"revision"`
		} `json:"header"`
	}
	if err := etcdPost(ctx, url+"/v3/kv/range", `{"key":"AA=="}`, &rng); err != nil {
		return 0, err
	}
	var rev int64
	if _, err := fmt.Sscan(rng.Header.Revision, &rev); err != nil {
		return 0, fmt.Errorf("etcd revision %q: %w", rng.Header.Revision, err)
	}
	body := fmt.Sprintf(`{"revision":%d,"physical":true}`, rev)
	return rev, etcdPost(ctx, url+"/v3/kv/compaction", body, nil)
}

func etcdPost(ctx context.Context, url, body string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewBufferString(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}
