package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	"github.com/coredns-fed/coredns-fed/internal/lab"
	"github.com/coredns-fed/coredns-fed/plugin/federation"
)

// annotateService sets (value non-empty) or removes (value "") annotations of
// the seed Service in member c, through its kube-apiserver: kv is key, value,
// key, value...
func annotateService(t testing.TB, c *lab.Cluster, kv ...string) {
	t.Helper()
	svcs := c.Client.CoreV1().Services(lab.SeedNamespace)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		s, err := svcs.Get(context.Background(), lab.SeedService, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if s.Annotations == nil {
			s.Annotations = map[string]string{}
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "" {
				delete(s.Annotations, kv[i])
			} else {
				s.Annotations[kv[i]] = kv[i+1]
			}
		}
		_, err = svcs.Update(context.Background(), s, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatalf("annotating %s/%s in %s: %v", lab.SeedNamespace, lab.SeedService, c.Name, err)
	}
}

// clearTraffic removes the traffic annotations from every member when the
// test ends, and waits for the all-healthy answers, so the next test starts
// from the seed.
func clearTraffic(t *testing.T) {
	t.Cleanup(func() {
		for _, c := range fed.Clusters() {
			annotateService(t, c, federation.AnnotationWeight, "", federation.AnnotationPriority, "", federation.AnnotationDrain, "")
			if !c.Ready() {
				if err := c.SetReady(context.Background(), lab.SeedNamespace, true); err != nil {
					t.Error(err)
				}
			}
		}
		healthy(t)
	})
}

// digBatch asks the lab's coredns-fed n A queries for name with one dig
// process (a batch file) and counts the addresses answered. A reply without an
// A record, or a query without a reply, is logged with what dig printed for
// it, so that a short count tells a lost reply from an empty one.
func digBatch(t *testing.T, name string, n int) map[string]int {
	t.Helper()
	batch := filepath.Join(t.TempDir(), "queries")
	line := name + " A +noall +answer +comments\n"
	if err := os.WriteFile(batch, []byte(strings.Repeat(line, n)), 0o644); err != nil {
		t.Fatal(err)
	}
	out := dig(t, "-f", batch)
	count := map[string]int{}
	replies, as := 0, 0      // replies seen, and A records in the current one
	var reply, prev []string // what dig printed for the current reply, and for the one before
	end := func() {
		if replies > 0 && as == 0 {
			t.Logf("a reply without an A record, after the reply before it:\n%s\n----\n%s", strings.Join(prev, "\n"), strings.Join(reply, "\n"))
		}
	}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if strings.HasPrefix(l, ";; ->>HEADER<<-") {
			end()
			replies, as, reply, prev = replies+1, 0, nil, reply
		}
		reply = append(reply, l)
		f := strings.Fields(l)
		if len(f) == 5 && f[3] == "A" {
			count[f[4]]++
			as++
		} else if l != "" && !strings.HasPrefix(l, ";") {
			t.Logf("not an A answer in dig's output: %q", l)
		} else if strings.Contains(l, "timed out") || strings.Contains(l, "error") {
			t.Logf("dig: %s", l)
		}
	}
	end()
	if replies != n {
		t.Logf("%d replies to %d queries", replies, n)
	}
	return count
}

// TestWeightedAnswers: two members weighted 900 and 100 (the other two
// drained) share the global name's answers 9:1 over 2000 queries of the real
// dig; each answer carries one member's address.
func TestWeightedAnswers(t *testing.T) {
	healthy(t)
	clearTraffic(t)
	cs := fed.Clusters()
	heavy, light := cs[0], cs[1]
	annotateService(t, heavy, federation.AnnotationWeight, "900")
	annotateService(t, light, federation.AnnotationWeight, "100")
	for _, c := range cs[2:] {
		annotateService(t, c, federation.AnnotationDrain, "true")
	}
	// Converged: the drained members are gone from the global name, and an
	// answer has one address.
	waitFor(t, fed.DNS(), convergeTimeout, "one weighted address per answer", func() error {
		r, err := exchange(globalName(), dns.TypeA)
		if err != nil {
			return err
		}
		if len(r.Answer) != 1 {
			return fmt.Errorf("%d records:\n%s", len(r.Answer), r)
		}
		return nil
	})

	const n = 2000
	count := digBatch(t, globalName(), n)
	t.Logf("answers over %d queries: %v", n, count)
	total := 0
	for addr, k := range count {
		total += k
		if addr != heavy.Addr && addr != light.Addr {
			t.Errorf("%s answered %d times: not a weighted member's address", addr, k)
		}
	}
	if total != n {
		t.Errorf("%d answers of %d queries", total, n)
	}
	// Expected 1800 of 2000; the standard deviation is 13.4, so 1700..1900
	// (more than 7 of them) fails only when the weights are not applied.
	if h := count[heavy.Addr]; h < 1700 || h > 1900 {
		t.Errorf("weight 900 of 1000: %s answered %d of %d times, want about 1800", heavy.Addr, h, n)
	}
	if count[light.Addr] == 0 {
		t.Errorf("weight 100 of 1000: %s never answered", light.Addr)
	}
}

// TestPriorityStandby: a standby member (priority 1) is answered at the
// global name only while every active member's endpoints are unready, and
// leaves the answers again when one is back.
func TestPriorityStandby(t *testing.T) {
	healthy(t)
	clearTraffic(t)
	cs := fed.Clusters()
	standby, active := cs[0], cs[1:]
	annotateService(t, standby, federation.AnnotationPriority, "1")
	eventually(t, globalName(), dns.TypeA, positive(as(globalName(), active...)...))
	// Its own region still answers it: a level chooses among its own shards.
	expect(t, regionName(standby.Region), dns.TypeA, positive(as(regionName(standby.Region), standby)...))

	for _, c := range active {
		if err := c.SetReady(context.Background(), lab.SeedNamespace, false); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, globalName(), dns.TypeA, positive(as(globalName(), standby)...))

	if err := active[0].SetReady(context.Background(), lab.SeedNamespace, true); err != nil {
		t.Fatal(err)
	}
	eventually(t, globalName(), dns.TypeA, positive(as(globalName(), active[0])...))
}

// TestDrainAnnotation: a drained member leaves the global name and its region
// falls back to it (CNAME), though its endpoints are ready; removing the
// annotation brings it back without a restart. dig sees both.
func TestDrainAnnotation(t *testing.T) {
	healthy(t)
	clearTraffic(t)
	cs := fed.Clusters()
	drained := cs[0]
	annotateService(t, drained, federation.AnnotationDrain, "true")
	eventually(t, globalName(), dns.TypeA, positive(as(globalName(), cs[1:]...)...))
	checkDig(t, digAnswer(t, regionName(drained.Region)), append(
		[]digRR{{regionName(drained.Region), "CNAME", globalName()}}, digAs(globalName(), cs[1:]...)...))

	annotateService(t, drained, federation.AnnotationDrain, "false")
	eventually(t, globalName(), dns.TypeA, positive(as(globalName(), cs...)...))
	checkDig(t, digAnswer(t, regionName(drained.Region)), digAs(regionName(drained.Region), drained))

	// fedlab's drain on|off does the same.
	if err := fed.SetDrain(context.Background(), drained.Name, true); err != nil {
		t.Fatal(err)
	}
	eventually(t, globalName(), dns.TypeA, positive(as(globalName(), cs[1:]...)...))
	if err := fed.SetDrain(context.Background(), drained.Name, false); err != nil {
		t.Fatal(err)
	}
	eventually(t, globalName(), dns.TypeA, positive(as(globalName(), cs...)...))
}

// TestAnnotationErrors: bad values are ignored for their shard alone (the
// good annotation of the same shard applies, other shards are untouched),
// counted once per annotation in annotation_errors_total and logged once.
func TestAnnotationErrors(t *testing.T) {
	healthy(t)
	clearTraffic(t)
	d := fed.DNS()
	labels := func(annotation string) map[string]string {
		return map[string]string{"annotation": annotation}
	}
	before := map[string]float64{}
	for _, a := range []string{federation.AnnotationWeight, federation.AnnotationDrain} {
		v, _, err := metricValue(d, "coredns_federation_annotation_errors_total", labels(a))
		if err != nil {
			t.Fatal(err)
		}
		before[a] = v
	}
	cs := fed.Clusters()
	bad := cs[0]
	annotateService(t, bad, federation.AnnotationWeight, "heavy", federation.AnnotationDrain, "maybe", federation.AnnotationPriority, "1")
	// The priority applies (bad is a standby); the bad drain did not drain it,
	// the bad weight did not make the level weighted.
	eventually(t, globalName(), dns.TypeA, positive(as(globalName(), cs[1:]...)...))
	expect(t, regionName(bad.Region), dns.TypeA, positive(as(regionName(bad.Region), bad)...))
	for a, v := range before {
		eventuallyMetric(t, d, convergeTimeout, "coredns_federation_annotation_errors_total", labels(a), v+1)
	}
	// Another change of the same Service rebuilds it; the errors are not
	// counted again.
	annotateService(t, bad, federation.AnnotationPriority, "")
	eventually(t, globalName(), dns.TypeA, positive(as(globalName(), cs...)...))
	for a, v := range before {
		if got, _, err := metricValue(d, "coredns_federation_annotation_errors_total", labels(a)); err != nil || got != v+1 {
			t.Errorf("annotation_errors_total{annotation=%q} = %v (%v), want %v", a, got, err, v+1)
		}
	}
	logged, err := os.ReadFile(d.Log())
	if err != nil {
		t.Fatal(err)
	}
	line := fmt.Sprintf("in member %s: annotation %s=%q ignored", bad.Name, federation.AnnotationWeight, "heavy")
	if n := strings.Count(string(logged), line); n != 1 {
		t.Errorf("%q logged %d times, want once", line, n)
	}
}

// TestDrainCorefileReload: "drain MEMBER" added to the Corefile of a running
// coredns-fed with the reload plugin takes the member out of the answers, and
// taking the line out again puts it back, with the same process throughout.
func TestDrainCorefileReload(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	d, err := fed.StartVariant(ctx, "drain-reload", lab.Variant{
		ShardHealth:   lab.SeedShardHealth(),
		ServerOptions: []string{"reload 2s 1s"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Stop)
	healthyAt(t, d)
	pid := d.PID()
	corefile, err := os.ReadFile(d.Corefile)
	if err != nil {
		t.Fatal(err)
	}
	cs := fed.Clusters()
	drained := cs[0]
	block := "federation " + lab.SeedFederation + " {"
	withDrain := strings.Replace(string(corefile), block, block+"\n        drain "+drained.Name, 1)
	if withDrain == string(corefile) {
		t.Fatalf("no %q line in the Corefile:\n%s", block, corefile)
	}
	if err := os.WriteFile(d.Corefile, []byte(withDrain), 0o644); err != nil {
		t.Fatal(err)
	}
	eventuallyAt(t, d, convergeTimeout, globalName(), dns.TypeA, positive(as(globalName(), cs[1:]...)...))
	checkDig(t, digAnswerAt(t, d.Addr, regionName(drained.Region)), append(
		[]digRR{{regionName(drained.Region), "CNAME", globalName()}}, digAs(globalName(), cs[1:]...)...))

	if err := os.WriteFile(d.Corefile, corefile, 0o644); err != nil {
		t.Fatal(err)
	}
	healthyAt(t, d)
	if d.PID() != pid {
		t.Errorf("coredns-fed restarted (pid %d, was %d): a reload should do", d.PID(), pid)
	}
}

// TestSRVNamedPort: the lab's Services name their port "http" (TCP 80); the
// real dig gets its SRV record at the global name and at a region, with the
// level's name as target and its address in the additional section, and the
// CNAME to the global name's SRV when the region's only member is unready.
func TestSRVNamedPort(t *testing.T) {
	healthy(t)
	clearTraffic(t)
	cs := fed.Clusters()
	c := cs[0]
	srv := func(name string) string { return "_http._tcp." + name }

	out := dig(t, srv(regionName(c.Region)), "SRV", "+noall", "+answer", "+additional")
	t.Logf("dig %s SRV:\n%s", srv(regionName(c.Region)), out)
	want := []string{
		srv(regionName(c.Region)) + " SRV 0 100 80 " + regionName(c.Region),
		regionName(c.Region) + " A " + c.Addr,
	}
	if got := digLines(out); !sameSet(got, want) {
		t.Errorf("dig SRV: %v, want %v", got, want)
	}
	if s := digStatus(t, "_https._tcp."+globalName()); s != "NXDOMAIN" {
		t.Errorf("an unknown port: %s, want NXDOMAIN", s)
	}

	if err := c.SetReady(context.Background(), lab.SeedNamespace, false); err != nil {
		t.Fatal(err)
	}
	eventually(t, globalName(), dns.TypeA, positive(as(globalName(), cs[1:]...)...))
	out = dig(t, srv(regionName(c.Region)), "SRV", "+noall", "+answer")
	t.Logf("dig %s SRV, member unready:\n%s", srv(regionName(c.Region)), out)
	want = []string{
		srv(regionName(c.Region)) + " CNAME " + srv(globalName()),
		srv(globalName()) + " SRV 0 100 80 " + globalName(),
	}
	if got := digLines(out); !sameSet(got, want) {
		t.Errorf("dig SRV, member unready: %v, want %v", got, want)
	}
}

// digLines returns dig's records as "NAME TYPE DATA", without TTL and class.
func digLines(out string) []string {
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(l)
		if len(f) < 5 || f[2] != "IN" {
			continue
		}
		lines = append(lines, f[0]+" "+f[3]+" "+strings.Join(f[4:], " "))
	}
	return lines
}
