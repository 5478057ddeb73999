package shardhealth

import (
	"bytes"
	"context"
	golog "log"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coredns-fed/coredns-fed/internal/fixture"
	"github.com/coredns-fed/coredns-fed/plugin/federation"
)

// fakeClock is a clock that only moves when told to.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []fakeWaiter
}

type fakeWaiter struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) At(t time.Time) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if !t.After(c.now) {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, fakeWaiter{t, ch})
	return ch
}

// Advance moves the clock and fires the timers that are due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if w.at.After(c.now) {
			kept = append(kept, w)
			continue
		}
		w.ch <- c.now
	}
	c.waiters = kept
}

// fakeProber returns the outcome set per address (Success by default) and
// records every call. When hold is set, probes wait for it to be closed.
type fakeProber struct {
	clock *fakeClock

	mu          sync.Mutex
	outcomes    map[netip.Addr]Outcome
	calls       []probeCall
	inFlight    int
	maxInFlight int
	hold        chan struct{}
}

type probeCall struct {
	addr  netip.Addr
	probe Probe
	at    time.Time // fake time
}

func newFakeProber(clk *fakeClock) *fakeProber {
	return &fakeProber{clock: clk, outcomes: map[netip.Addr]Outcome{}}
}

func (p *fakeProber) Run(ctx context.Context, addr netip.Addr, pr Probe) (Outcome, error) {
	p.mu.Lock()
	p.calls = append(p.calls, probeCall{addr, pr, p.clock.Now()})
	p.inFlight++
	p.maxInFlight = max(p.maxInFlight, p.inFlight)
	hold := p.hold
	out, ok := p.outcomes[addr]
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.inFlight--
		p.mu.Unlock()
	}()
	if hold != nil {
		select {
		case <-hold:
		case <-ctx.Done():
			return Timeout, ctx.Err()
		}
	}
	if !ok || out == Success {
		return Success, nil
	}
	return out, errFake
}

var errFake = &fakeError{}

type fakeError struct{}

func (*fakeError) Error() string { return "fake failure" }

func (p *fakeProber) set(addr string, o Outcome) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.outcomes[netip.MustParseAddr(addr)] = o
}

func (p *fakeProber) callsOf(addr string) []probeCall {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []probeCall
	for _, c := range p.calls {
		if c.addr == netip.MustParseAddr(addr) {
			out = append(out, c)
		}
	}
	return out
}

func (p *fakeProber) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.calls)
}

// fakeSink stands in for the federation: it holds shards and records what it
// is told.
type fakeSink struct {
	mu       sync.Mutex
	shards   []federation.Shard
	changed  []string
	watchers []func()
}

func (s *fakeSink) HealthChanged(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.changed = append(s.changed, key)
}

func (s *fakeSink) Shards() []federation.Shard {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.shards)
}

func (s *fakeSink) MemberStatuses() []federation.MemberStatus { return nil }

func (s *fakeSink) OnSnapshot(fn func()) { s.watchers = append(s.watchers, fn) }

// snapshot sets the shards and runs the snapshot callbacks, as a rebuild would.
func (s *fakeSink) snapshot(shards ...federation.Shard) {
	s.mu.Lock()
	s.shards = shards
	s.mu.Unlock()
	for _, w := range s.watchers {
		w()
	}
}

// takeChanged returns and forgets the HealthChanged keys.
func (s *fakeSink) takeChanged() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.changed
	s.changed = nil
	return out
}

// shard returns a ready shard of namespace/name in member with addrs.
func shard(member, key string, ann map[string]string, addrs ...string) federation.Shard {
	ns, name, _ := strings.Cut(key, "/")
	s := federation.Shard{Member: member, Ready: true,
		ServiceState: &federation.ServiceState{Namespace: ns, Name: name, LoadBalancer: true, Annotations: ann}}
	for _, a := range addrs {
		s.Addrs = append(s.Addrs, netip.MustParseAddr(a))
	}
	return s
}

// newTestHealth starts a ShardHealth on a fake clock, prober and sink. Jitter is 0
// so that probes run exactly on the interval unless a test sets it.
func newTestHealth(t *testing.T, opts ...func(*ShardHealth)) (*ShardHealth, *fakeClock, *fakeProber, *fakeSink) {
	t.Helper()
	clk := newFakeClock()
	prober := newFakeProber(clk)
	sink := &fakeSink{}
	h := New()
	h.clock, h.prober = clk, prober
	h.Interval, h.Timeout, h.Jitter = 10*time.Second, time.Second, 0
	h.server = "dns://test:53"
	for _, o := range opts {
		o(h)
	}
	h.Start(sink)
	t.Cleanup(h.Stop)
	return h, clk, prober, sink
}

// settle waits until every probe that was due has run and been acted upon, and
// each check is queued again with a due time after now.
func settle(t *testing.T, h *ShardHealth, clk *fakeClock) {
	t.Helper()
	waitFor(t, "probes to settle", func() bool {
		now := clk.Now()
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.active > 0 {
			return false
		}
		for _, c := range h.checks {
			if c.index < 0 || !c.next.After(now) {
				return false
			}
		}
		return true
	})
}

// tick advances the clock by d and waits for the probes that became due.
func tick(t *testing.T, h *ShardHealth, clk *fakeClock, d time.Duration) {
	t.Helper()
	clk.Advance(d)
	settle(t, h, clk)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	fixture.WaitFor(t, 10*time.Second, what, cond)
}

// usable asks h what federation would answer for s.
func usable(h *ShardHealth, s federation.Shard) []string {
	var out []string
	addrs, _ := h.Usable(&s)
	for _, a := range addrs {
		out = append(out, a.String())
	}
	return out
}

// captureLog collects the log lines written while the test runs.
func captureLog(t *testing.T) *syncBuffer {
	t.Helper()
	buf := &syncBuffer{}
	golog.SetOutput(buf)
	t.Cleanup(func() { golog.SetOutput(os.Stderr) })
	return buf
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// lines returns the lines that contain every one of words.
func (b *syncBuffer) lines(words ...string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for l := range strings.Lines(b.b.String()) {
		if !slices.ContainsFunc(words, func(w string) bool { return !strings.Contains(l, w) }) {
			out = append(out, strings.TrimSpace(l))
		}
	}
	return out
}
