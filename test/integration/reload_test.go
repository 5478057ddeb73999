package integration

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/coredns-fed/coredns-fed/internal/lab"
)

// queryLoad asks addr for the global name and the SOA without pause until
// stopped, and records every reply that is not a positive answer and every
// SOA serial that went backwards.
type queryLoad struct {
	addr string
	stop chan struct{}
	done sync.WaitGroup

	mu       sync.Mutex
	queries  int
	failures []string
	ttls     map[uint32]int
	serial   uint32
}

func startLoad(addr string) *queryLoad {
	q := &queryLoad{addr: addr, stop: make(chan struct{}), ttls: map[uint32]int{}}
	q.done.Go(q.run)
	return q
}

func (q *queryLoad) run() {
	c := &dns.Client{Timeout: time.Second}
	for i := 0; ; i++ {
		select {
		case <-q.stop:
			return
		default:
		}
		name, qtype := globalName(), dns.TypeA
		if i%10 == 0 {
			name, qtype = lab.SeedDomain+".", dns.TypeSOA
		}
		m := new(dns.Msg)
		m.SetQuestion(name, qtype)
		r, _, err := c.Exchange(m, q.addr)
		q.mu.Lock()
		q.queries++
		switch {
		case err != nil:
			q.failures = append(q.failures, name+": "+err.Error())
		case r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0:
			q.failures = append(q.failures, name+": "+dns.RcodeToString[r.Rcode]+" with "+strings.TrimSpace(r.String()))
		case qtype == dns.TypeSOA:
			s := r.Answer[0].(*dns.SOA).Serial
			if q.serial != 0 && s < q.serial {
				q.failures = append(q.failures, fmt.Sprintf("SOA serial went back from %d to %d", q.serial, s))
			}
			q.serial = s
		default:
			q.ttls[r.Answer[0].Header().Ttl]++
		}
		q.mu.Unlock()
	}
}

func (q *queryLoad) ttlSeen(ttl uint32) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.ttls[ttl] > 0
}

func (q *queryLoad) finish() (queries int, failures []string) {
	close(q.stop)
	q.done.Wait()
	return q.queries, q.failures
}

// waitLog waits until the server's log has n lines containing text.
func waitLog(t *testing.T, d *lab.CoreDNS, timeout time.Duration, text string, n int) {
	t.Helper()
	waitFor(t, d, timeout, "log line "+text, func() error {
		b, err := os.ReadFile(d.Log())
		if err != nil {
			return err
		}
		if c := strings.Count(string(b), text); c < n {
			return fmt.Errorf("%d lines with %q, want %d; log:\n%s", c, text, n, lab.Tail(d.Log(), 20))
		}
		return nil
	})
}

// TestReloadDropsNoAnswer reloads a coredns-fed's Corefile through the reload
// plugin under a steady query load: once unchanged (the running federation is
// handed over) and once with a new TTL (the new federation is built beside the
// old one). No query fails and the SOA serial never goes back.
func TestReloadDropsNoAnswer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	d, err := fed.StartVariant(ctx, "reload", lab.Variant{
		ShardHealth:   lab.SeedShardHealth(),
		ServerOptions: []string{"reload 2s 1s"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Stop)
	healthyAt(t, d)
	corefile, err := os.ReadFile(d.Corefile)
	if err != nil {
		t.Fatal(err)
	}

	load := startLoad(d.Addr)
	defer func() {
		if load != nil {
			load.finish()
		}
	}()

	// The same configuration, another file (a comment): a handover.
	if err := os.WriteFile(d.Corefile, append([]byte("# reloaded\n"), corefile...), 0o644); err != nil {
		t.Fatal(err)
	}
	waitLog(t, d, 30*time.Second, "answering from the running federation", 1)

	// A new TTL: a new federation, answering the old snapshot until it synced.
	changed := strings.Replace(string(corefile), "federation "+lab.SeedFederation+" {", "federation "+lab.SeedFederation+" {\n        ttl 7", 1)
	if err := os.WriteFile(d.Corefile, []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	waitLog(t, d, 30*time.Second, "answering from the previous federation", 1)
	waitFor(t, d, 30*time.Second, "answers with the new TTL", func() error {
		if !load.ttlSeen(7) {
			return fmt.Errorf("no answer with TTL 7 yet")
		}
		return nil
	})
	time.Sleep(500 * time.Millisecond) // a last stretch of queries after the switch

	queries, failures := load.finish()
	load = nil
	t.Logf("%d queries across two reloads, %d failed", queries, len(failures))
	for i, f := range failures {
		if i == 10 {
			t.Errorf("... and %d more", len(failures)-10)
			break
		}
		t.Errorf("failed: %s", f)
	}
}
