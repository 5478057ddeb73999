package chaos

import (
	"context"
	crand "crypto/rand"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/coredns-fed/coredns-fed/internal/lab"
)

// Proxy modes: how the proxy in front of a member's kube-apiserver treats
// its connections.
const (
	ModePass    = "pass"    // forwards both ways
	ModeDelay   = "delay"   // forwards, but every byte from the server arrives Delay late
	ModeGarbage = "garbage" // answers every connection with random bytes and closes it
	ModeCut     = "cut"     // forwards, and closes each connection 0.5–2 s after it opened
)

// Proxy is a TCP proxy on loopback in front of one member's kube-apiserver
// that passes, delays, corrupts or cuts its connections.
type Proxy struct {
	Addr     string
	upstream string
	Delay    time.Duration
	ln       net.Listener

	mu    sync.Mutex
	mode  string
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

// StartProxy listens on a free loopback port and forwards to upstream
// (host:port) in ModePass.
func StartProxy(upstream string, delay time.Duration) (*Proxy, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(lab.Loopback, "0"))
	if err != nil {
		return nil, err
	}
	p := &Proxy{Addr: ln.Addr().String(), upstream: upstream, Delay: delay, ln: ln, mode: ModePass, conns: map[net.Conn]bool{}}
	p.wg.Go(p.accept)
	return p, nil
}

// SetMode switches the mode; the connections open so far are closed, so
// that the client meets the new mode at once.
func (p *Proxy) SetMode(mode string) {
	p.mu.Lock()
	p.mode = mode
	conns := p.conns
	p.conns = map[net.Conn]bool{}
	p.mu.Unlock()
	for c := range conns {
		c.Close()
	}
}

// Close stops the proxy and closes every connection.
func (p *Proxy) Close() {
	p.ln.Close()
	p.SetMode(ModePass)
	p.wg.Wait()
}

func (p *Proxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		mode := p.mode
		p.conns[c] = true
		p.mu.Unlock()
		p.wg.Go(func() { p.serve(c, mode) })
	}
}

func (p *Proxy) serve(c net.Conn, mode string) {
	defer c.Close()
	if mode == ModeGarbage {
		junk := make([]byte, 512)
		crand.Read(junk)
		c.Write(junk)
		return
	}
	up, err := net.Dial("tcp", p.upstream)
	if err != nil {
		return
	}
	defer up.Close()
	p.mu.Lock()
	p.conns[up] = true
	p.mu.Unlock()
	if mode == ModeCut {
		t := time.AfterFunc(500*time.Millisecond+time.Duration(rand.Int64N(int64(1500*time.Millisecond))), func() {
			c.Close()
			up.Close()
		})
		defer t.Stop()
	}
	done := make(chan struct{}, 2)
	go func() {
		io.Copy(up, c)
		done <- struct{}{}
	}()
	go func() {
		if mode == ModeDelay {
			delayedCopy(c, up, p.Delay)
		} else {
			io.Copy(c, up)
		}
		done <- struct{}{}
	}()
	<-done
	c.Close()
	up.Close()
	<-done
}

// delayedCopy copies src to dst, each chunk delay after it was read.
func delayedCopy(dst io.Writer, src io.Reader, delay time.Duration) {
	type chunk struct {
		at   time.Time
		data []byte
	}
	ch := make(chan chunk, 1024)
	go func() {
		defer close(ch)
		for {
			buf := make([]byte, 32<<10)
			n, err := src.Read(buf)
			if n > 0 {
				ch <- chunk{time.Now().Add(delay), buf[:n]}
			}
			if err != nil {
				return
			}
		}
	}()
	for c := range ch {
		time.Sleep(time.Until(c.at))
		if _, err := dst.Write(c.data); err != nil {
			for range ch {
			}
			return
		}
	}
}

// HostileOptions sizes the hostile API server scenario.
type HostileOptions struct {
	Member  string        // whose API server turns hostile, for the server under test only
	Phase   time.Duration // load in each mode
	Delay   time.Duration // of ModeDelay
	Workers int
	Bound   time.Duration
}

// HostilePhase is one mode of the proxy and what the server did meanwhile.
type HostilePhase struct {
	Mode string     `json:"mode"`
	View ServerView `json:"view"`
	// OtherChangeMs is a change in another member → the answer showing it.
	OtherChangeMs float64 `json:"other_change_ms"`
	// Connected is coredns_federation_member_connected of the hostile
	// member at the end of the phase (-1: not exported).
	Connected float64 `json:"connected"`
	// Logs are the distinct log lines the server wrote about the member in
	// the phase, shortened.
	Logs []string `json:"logs"`
}

// HostileResult is what the hostile API server scenario measured.
type HostileResult struct {
	Member string         `json:"member"`
	Phases []HostilePhase `json:"phases"`
}

// Hostile runs a coredns-fed (with the lab's probes) whose connection to one
// member goes through a proxy that delays, corrupts or cuts it, each for
// opts.Phase under load. Expected: no effect on the other members' answers
// or on following their changes, the hostile member's shards as the stale
// policy says (its probes vouch for them: they stay), and log lines that
// name the member and the failure.
func Hostile(ctx context.Context, env *Env, opts HostileOptions) (*HostileResult, error) {
	hit, other := -1, -1
	for m, c := range env.Lab.Clusters() {
		if c.Name == opts.Member {
			hit = m
		} else if other < 0 {
			other = m
		}
	}
	if hit < 0 {
		return nil, fmt.Errorf("no member %q", opts.Member)
	}
	c := env.Lab.Clusters()[hit]
	proxy, err := StartProxy(strings.TrimPrefix(c.Server, "https://"), opts.Delay)
	if err != nil {
		return nil, err
	}
	defer proxy.Close()
	kc, err := clientcmd.LoadFromFile(c.ReaderKubeconfig)
	if err != nil {
		return nil, err
	}
	for _, cl := range kc.Clusters {
		cl.Server = "https://" + proxy.Addr
	}
	proxied := filepath.Join(env.Lab.Dir(), "reader-via-proxy-"+c.Name+".kubeconfig")
	if err := clientcmd.WriteToFile(*kc, proxied); err != nil {
		return nil, err
	}
	d, err := env.Lab.StartVariant(ctx, "hostile", lab.Variant{
		ShardHealth: env.Lab.Config().ShardHealth,
		Kubeconfigs: map[string]string{c.Name: proxied},
	})
	if err != nil {
		return nil, err
	}
	defer d.Stop()
	sh, err := readyShards(ctx, env, d)
	if err != nil {
		return nil, err
	}
	res := &HostileResult{Member: opts.Member}
	exp := NewExpect(len(env.Lab.Clusters()), len(env.Services), true)
	load := env.StartLoad(d.Addr, env.Targets(false), opts.Workers)
	stopped := false
	defer func() {
		if !stopped {
			load.Stop()
		}
	}()
	type mark struct {
		mode     string
		from, to time.Duration
		change   time.Duration
		conn     float64
		logs     []string
	}
	var marks []mark
	for _, mode := range []string{ModeDelay, ModeGarbage, ModeCut, ModePass} {
		// Each mode starts from a member that is connected, so that its
		// failure is a transition, logged.
		proxy.SetMode(ModePass)
		wctx, cancel := context.WithTimeout(ctx, time.Minute)
		err := lab.Poll(wctx, 200*time.Millisecond, d, func() error {
			if v, ok := memberConnected(d, c.Name); !ok || v != 1 {
				return fmt.Errorf("%s not connected", c.Name)
			}
			return nil
		})
		cancel()
		if err != nil {
			return nil, err
		}
		phase := opts.Phase
		if mode == ModeDelay {
			// A /version request every pingInterval times out after
			// pingInterval: the delay shows within two of them.
			phase = max(phase, 2*pingInterval+time.Second)
		}
		env.logf("hostile API server: %s's connection in mode %s for %s", opts.Member, mode, phase)
		logFrom := logSize(d.Log())
		m := mark{mode: mode, from: load.Since(time.Now())}
		proxy.SetMode(mode)
		sleep(ctx, phase/2)
		// The other members are still followed.
		down, err := changeAndWait(ctx, env, sh, d.Addr, other, 0, false, []*Expect{exp}, load, opts.Bound)
		if err != nil {
			return nil, err
		}
		up, err := changeAndWait(ctx, env, sh, d.Addr, other, 0, true, []*Expect{exp}, load, opts.Bound)
		if err != nil {
			return nil, err
		}
		m.change = max(down, up)
		sleep(ctx, phase/2)
		m.to = load.Since(time.Now())
		m.conn = -1
		if v, ok := memberConnected(d, c.Name); ok {
			m.conn = v
		}
		m.logs = logLines(d.Log(), logFrom, c.Name, 4)
		marks = append(marks, m)
	}
	answers := load.Stop()
	stopped = true
	for _, m := range marks {
		ph := HostilePhase{Mode: m.mode, View: load.view("hostile", answers, exp, m.from, m.to, hit),
			OtherChangeMs: ms(m.change), Connected: m.conn, Logs: m.logs}
		res.Phases = append(res.Phases, ph)
		env.logf("  %s: other members' names: %s; %s's: %s; change in another member → answer %.0f ms; connected %v",
			m.mode, ph.View.Others, opts.Member, ph.View.Hit, ph.OtherChangeMs, ph.Connected)
		for _, l := range ph.Logs {
			env.logf("    log: %s", l)
		}
	}
	return res, nil
}

// Goals returns the hostile API server goals and whether they were met.
func (r *HostileResult) Goals() []Goal {
	var g []Goal
	for _, ph := range r.Phases {
		if ph.Mode == ModePass {
			continue
		}
		g = append(g,
			Goal{fmt.Sprintf("hostile API server (%s): other members' names fail or contradict", ph.Mode), "0", fmt.Sprint(ph.View.Others.Failed() + ph.View.Global.Failed()), ph.View.Others.Failed()+ph.View.Global.Failed() == 0},
			Goal{fmt.Sprintf("hostile API server (%s): its own names contradict the stale policy", ph.Mode), "0", fmt.Sprint(ph.View.Hit.Failed()), ph.View.Hit.Failed() == 0},
			Goal{fmt.Sprintf("hostile API server (%s): a change in another member → answer", ph.Mode), "followed", fmt.Sprintf("%.0f ms", ph.OtherChangeMs), true},
		)
		if ph.Mode != ModeCut {
			// Cut connections are re-established at once and the member
			// keeps working: nothing to say at the default verbosity.
			g = append(g, Goal{fmt.Sprintf("hostile API server (%s): log lines naming the member", ph.Mode), "≥ 1", fmt.Sprint(len(ph.Logs)), len(ph.Logs) > 0})
		}
	}
	return g
}

func logSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// logLines returns up to n distinct lines of the log written after offset
// that mention member, each cut to 400 characters.
func logLines(path string, offset int64, member string, n int) []string {
	b, err := os.ReadFile(path)
	if err != nil || int64(len(b)) < offset {
		return nil
	}
	seen := map[string]bool{}
	var out []string
	for _, line := range strings.Split(string(b[offset:]), "\n") {
		if !strings.Contains(line, member) {
			continue
		}
		if len(line) > 400 {
			line = line[:400] + "…"
		}
		key := line
		if len(key) > 80 {
			key = key[:80]
		}
		if seen[key] || len(out) == n {
			continue
		}
		seen[key] = true
		out = append(out, line)
	}
	return out
}

// memberConnected reads coredns_federation_member_connected of member from
// d's metrics.
func memberConnected(d *lab.CoreDNS, member string) (float64, bool) {
	resp, err := http.Get(d.MetricsURL)
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "coredns_federation_member_connected{") || !strings.Contains(line, `member="`+member+`"`) {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		return v, err == nil
	}
	return 0, false
}
