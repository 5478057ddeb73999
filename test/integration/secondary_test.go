package integration

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/coredns-fed/coredns-fed/internal/lab"
)

// TestKnotSecondary slaves a real secondary, Knot DNS, to a coredns-fed with
// the transfer plugin: the secondary answers the zone, and after an
// EndpointSlice flip it answers the new state, having been told by NOTIFY and
// fetched the change by IXFR.
func TestKnotSecondary(t *testing.T) {
	if _, err := os.Stat("/usr/sbin/knotd"); err != nil {
		t.Fatalf("knotd is missing (the Makefile installs Debian's knot): %v", err)
	}
	dir := t.TempDir()
	port, err := lab.FreeDNSPort()
	if err != nil {
		t.Fatal(err)
	}
	knotAddr := lab.HostPort(lab.Loopback, port)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	primary, err := fed.StartVariant(ctx, "primary", lab.Variant{
		ShardHealth:   lab.SeedShardHealth(),
		ServerOptions: []string{"transfer {\n        to * " + knotAddr + "\n    }"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(primary.Stop)

	conf := filepath.Join(dir, "knot.conf")
	if err := os.WriteFile(conf, []byte(lab.KnotSecondaryConf(dir, port, primary.Addr, lab.SeedDomain)), 0o644); err != nil {
		t.Fatal(err)
	}
	knot := lab.NewProcess("knotd", filepath.Join(dir, "knotd.log"), "knotd", "-c", conf)
	if err := knot.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(knot.Stop)

	// eventuallyKnot waits until the secondary answers name as want.
	eventuallyKnot := func(name string, want reply) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), convergeTimeout)
		defer cancel()
		err := lab.Poll(ctx, pollInterval, knot, func() error {
			r, err := exchangeAt(knotAddr, name, dns.TypeA)
			if err != nil {
				return err
			}
			return match(r, want)
		})
		if err != nil {
			var primarySOA string
			if r, err := exchangeAt(primary.Addr, lab.SeedDomain+".", dns.TypeSOA); err == nil && len(r.Answer) > 0 {
				primarySOA = r.Answer[0].String()
			}
			t.Fatalf("knotd at %s, %s: %v\nprimary's SOA: %s\nknotd's log:\n%s", knotAddr, name, err, primarySOA, lab.Tail(knot.Log(), 20))
		}
	}
	healthyAt(t, primary)
	eventuallyKnot(globalName(), positive(as(globalName(), fed.Clusters()...)...))

	eu := cluster(t, europe)
	others := except(europe)
	fallback := positive(append([]string{cname(regionName(eu.Region), globalName())}, as(globalName(), others...)...)...)
	own := positive(as(regionName(eu.Region), eu)...)
	var took []time.Duration
	for range 3 {
		setReady(t, europe, false)
		flipped := time.Now()
		eventuallyKnot(regionName(eu.Region), fallback)
		took = append(took, time.Since(flipped))
		setReady(t, europe, true)
		flipped = time.Now()
		eventuallyKnot(regionName(eu.Region), own)
		took = append(took, time.Since(flipped))
	}
	slices.Sort(took)
	t.Logf("flip to the secondary's new answer: median %s, max %s over %d flips", took[len(took)/2].Round(time.Millisecond), took[len(took)-1].Round(time.Millisecond), len(took))

	b, err := os.ReadFile(knot.Log())
	if err != nil {
		t.Fatal(err)
	}
	logText := string(b)
	if !strings.Contains(logText, "notify, incoming") {
		t.Errorf("knotd was never notified; its log:\n%s", lab.Tail(knot.Log(), 30))
	}
	if !strings.Contains(logText, "IXFR") {
		t.Errorf("knotd never fetched a change by IXFR; its log:\n%s", lab.Tail(knot.Log(), 30))
	}
}
