package federation

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"
)

// memoryEngine returns a Federation configured like memoryFederation's but not
// started: the test starts it through startup, as a server block would.
func memoryEngine(src *MemorySource, ttl uint32) *Federation {
	f := New()
	f.Zone, f.Fed, f.TTL = "reload.example.", "myfederation", ttl
	f.ns = []nameServer{{name: "ns1.reload.example."}}
	f.soa = soaConfig{mname: "ns1.reload.example.", rname: "hostmaster.reload.example.", minttl: ttl}
	f.Members = []*Member{{Name: "a", Source: src}}
	return f
}

func webSource(addr string) *MemorySource {
	src := NewMemorySource()
	src.SetNode("a-node", Place{"r1", ""})
	src.SetService(ServiceState{Namespace: "ns", Name: "web", LoadBalancer: true,
		Ingress: []netip.Addr{netip.MustParseAddr(addr)}}, true)
	return src
}

const reloadName = "web.ns.myfederation.svc.reload.example."

func TestReloadUnchangedHandsOver(t *testing.T) {
	src := webSource("192.0.2.1")
	old := memoryEngine(src, 30)
	old.startup("same")
	t.Cleanup(old.shutdown)
	waitFor(t, "first snapshot", old.Ready)

	// The reloaded server block starts before the old one shuts down.
	cur := memoryEngine(NewMemorySource(), 30) // its own members are never started
	cur.startup("same")
	t.Cleanup(cur.shutdown)
	if !cur.Ready() {
		t.Fatal("the reloaded federation is not ready at once")
	}
	old.shutdown()
	check(t, cur, []test.Case{{Qname: reloadName, Qtype: dns.TypeA, Answer: []dns.RR{test.A(reloadName + " 30 IN A 192.0.2.1")}}})

	// The running members keep feeding the new server block.
	src.SetService(ServiceState{Namespace: "ns", Name: "web", LoadBalancer: true,
		Ingress: []netip.Addr{netip.MustParseAddr("192.0.2.9")}}, true)
	eventually(t, cur, []test.Case{{Qname: reloadName, Qtype: dns.TypeA, Answer: []dns.RR{test.A(reloadName + " 30 IN A 192.0.2.9")}}})
}

func TestReloadChangedAnswersUntilSynced(t *testing.T) {
	old := memoryEngine(webSource("192.0.2.1"), 30)
	old.startup("ttl 30")
	t.Cleanup(old.shutdown)
	waitFor(t, "first snapshot", old.Ready)
	serial := old.snapshot.Load().Serial

	// The new configuration's member has not synced: the old answers stay.
	src := webSource("192.0.2.1")
	src.SetSynced(false)
	cur := memoryEngine(src, 10)
	cur.startup("ttl 10")
	t.Cleanup(cur.shutdown)
	old.shutdown()
	check(t, cur, []test.Case{{Qname: reloadName, Qtype: dns.TypeA, Answer: []dns.RR{test.A(reloadName + " 30 IN A 192.0.2.1")}}})

	src.SetSynced(true)
	eventually(t, cur, []test.Case{{Qname: reloadName, Qtype: dns.TypeA, Answer: []dns.RR{test.A(reloadName + " 10 IN A 192.0.2.1")}}})
	waitFor(t, "a newer serial after a reload that changed the zone", func() bool {
		return serialNewer(cur.snapshot.Load().Serial, serial)
	})
}

func TestNextSerial(t *testing.T) {
	now := time.Unix(2_000_000_000, 0)
	tests := []struct {
		name    string
		prev    uint32
		changed bool
		serial  uint32
		pending bool
	}{
		{"first", 0, true, 2_000_000_000 + maxSerialLead, false},
		{"unchanged", 1_999_999_000, false, 1_999_999_000, false},
		{"changed later", 1_999_999_000, true, 2_000_000_000, false},
		{"changed in the same second", 2_000_000_000, true, 2_000_000_001, false},
		{"ahead, within the lead", 2_000_000_000 + maxSerialLead - 1, true, 2_000_000_000 + maxSerialLead, false},
		{"the lead used up", 2_000_000_000 + maxSerialLead, true, 2_000_000_000 + maxSerialLead, true},
		{"clock behind the serial", 2_000_000_005, true, 2_000_000_005, true},
		{"unchanged ahead", 2_000_000_002, false, 2_000_000_002, false},
	}
	for _, tc := range tests {
		serial, pending := nextSerial(tc.prev, tc.changed, now)
		if serial != tc.serial || pending != tc.pending {
			t.Errorf("%s: nextSerial = %d, %v; want %d, %v", tc.name, serial, pending, tc.serial, tc.pending)
		}
	}
}

// published is a serial and when the process published it.
type published struct {
	serial uint32
	at     time.Time
}

// serialRun plays a process started at start: a change at each of the times
// (sorted), a change that waits for its serial bumped at serialDue, as the
// build loop does. It returns the serials the process published.
func serialRun(start time.Time, changes []time.Time) []published {
	serial, _ := nextSerial(0, true, start)
	out := []published{{serial, start}}
	pending := false
	bump := func(to time.Time) {
		for pending && !to.Before(serialDue(serial)) {
			at := serialDue(serial)
			serial, pending = nextSerial(serial, true, at)
			out = append(out, published{serial, at})
		}
	}
	for _, at := range changes {
		bump(at)
		next, p := nextSerial(serial, true, at)
		if p {
			pending = true
			continue
		}
		serial = next
		out = append(out, published{serial, at})
	}
	bump(time.Unix(1<<40, 0))
	return out
}

// The serial runs ahead of the clock by maxSerialLead at most, so that a
// process started a second or more after the last serial of the one before it
// (a restart, a crash) begins with a newer serial: it never goes back.
func TestSerialNeverBackAcrossRestart(t *testing.T) {
	base := time.Unix(2_000_000_000, 0).Add(400 * time.Millisecond)
	bursts := map[string][]time.Time{"no change": nil}
	for _, n := range []int{1, 2, 3, 4, 5, 20, 200} {
		var within, spread []time.Time
		for k := range n {
			within = append(within, base.Add(time.Duration(k)*600*time.Millisecond/time.Duration(n)))
			spread = append(spread, base.Add(time.Duration(k)*300*time.Millisecond))
		}
		bursts[fmt.Sprintf("%d changes within a second", n)] = within
		bursts[fmt.Sprintf("%d changes 300 ms apart", n)] = spread
	}
	for name, changes := range bursts {
		out := serialRun(base.Add(-time.Minute), changes)
		for k, p := range out {
			if ahead := int64(p.serial) - p.at.Unix(); ahead > maxSerialLead {
				t.Errorf("%s: serial %d published %d s ahead of the clock", name, p.serial, ahead)
			}
			if k > 0 && !serialNewer(p.serial, out[k-1].serial) {
				t.Errorf("%s: serial %d after %d", name, p.serial, out[k-1].serial)
			}
		}
		last := out[len(out)-1]
		for _, after := range []time.Duration{time.Second, 2 * time.Second, time.Minute} {
			restart := last.at.Truncate(time.Second).Add(after)
			if first, _ := nextSerial(0, true, restart); !serialNewer(first, last.serial) {
				t.Errorf("%s: a restart %s after the last serial %d begins at %d", name, after, last.serial, first)
			}
		}
	}
}

// A change within the second of the serial before it gets its own serial at
// once while the lead allows it: three changes in a second publish three
// serials without waiting.
func TestSerialLeadPublishesAtOnce(t *testing.T) {
	base := time.Unix(2_000_000_000, 0)
	changes := []time.Time{base.Add(100 * time.Millisecond), base.Add(400 * time.Millisecond), base.Add(700 * time.Millisecond)}
	out := serialRun(base.Add(-time.Minute), changes)
	if len(out) != 4 {
		t.Fatalf("published %v, want the first serial and one per change", out)
	}
	for k, at := range changes {
		if !out[k+1].at.Equal(at) {
			t.Errorf("change %d at %s published at %s", k, at, out[k+1].at)
		}
	}
}

// A rebuild that changes nothing a secondary sees keeps the serial; a change
// gets a newer one, at the latest a second later.
func TestSerialFollowsContent(t *testing.T) {
	f, srcs := memoryFederation(t, nil, map[string]string{"a": "192.0.2.1"})
	serial := f.snapshot.Load().Serial
	f.changed("ns/not-federated")
	f.changed("")
	builds := f.snapshot.Load()
	f.changed("mynamespace/nginx")
	waitFor(t, "a rebuild", func() bool { return f.snapshot.Load() != builds })
	if s := f.snapshot.Load().Serial; s != serial {
		t.Errorf("serial %d after rebuilds that changed nothing, want %d", s, serial)
	}
	srcs["a"].SetService(ServiceState{Namespace: "mynamespace", Name: "nginx", LoadBalancer: true,
		Ingress: []netip.Addr{netip.MustParseAddr("192.0.2.7")}}, true)
	waitFor(t, "a newer serial", func() bool { return serialNewer(f.snapshot.Load().Serial, serial) })
}

func TestConfigKey(t *testing.T) {
	key := func(corefile string) string {
		c := caddy.NewTestController("dns", corefile)
		c.ServerBlockKeys = []string{"example.com."}
		tokens := blockTokens(c)
		if _, err := parse(c); err != nil {
			t.Fatal(err)
		}
		return configKey(tokens, nil)
	}
	a := key("federation f {\n member a { incluster }\n ns ns1.example.com. 192.0.2.53\n}")
	if b := key("federation f {\n   member a {\n incluster\n }\n ns ns1.example.com.   192.0.2.53\n}"); b != a {
		t.Errorf("layout changed the key:\n%s\n%s", a, b)
	}
	if b := key("federation f {\n member a { incluster }\n ns ns1.example.com. 192.0.2.53\n ttl 7\n}"); b == a {
		t.Errorf("a new option left the key as it was: %s", a)
	}
}
