package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/coredns-fed/coredns-fed/internal/lab"
)

// Replicas is what coredns-fed replicas cost a member's kube-apiserver, read
// from the apiserver's own /metrics before and after, for several replica
// counts.
type Replicas struct {
	Member     string         `json:"member"` // the member measured and churned
	Services   int            `json:"services_per_cluster"`
	ChurnRate  int            `json:"churn_updates_per_s"` // EndpointSlice updates per second asked of the member
	ChurnSecs  float64        `json:"churn_seconds"`
	Baseline   ReplicaCost    `json:"baseline"` // the same churn with no replica running
	Runs       []ReplicaCost  `json:"runs"`
	Agreement  *Agreement     `json:"agreement"`         // of the largest run's replicas
	ListByRes  map[string]int `json:"list_by_resource"`  // one replica's LISTs at start, by resource
	WatchByRes map[string]int `json:"watch_by_resource"` // one replica's watches, by resource
}

// ReplicaCost is one replica count's cost to the member.
type ReplicaCost struct {
	Replicas int `json:"replicas"`
	// Watches open once every replica answers, and LIST requests made while
	// they started.
	Watches int `json:"watches"`
	Lists   int `json:"lists"`
	// StartBytes is what the start cost the member in response bytes: LIST
	// responses and watch events sent while the replicas started.
	StartBytes int64 `json:"start_bytes"`
	// During the churn: EndpointSlice watch events sent per update and their
	// bytes (apiserver_watch_events_total and _sizes), the baseline's
	// subtracted, and the bytes per second that makes at the churn rate.
	Updates           int     `json:"updates"`
	EventsPerUpdate   float64 `json:"watch_events_per_update"`
	BytesPerUpdate    float64 `json:"watch_bytes_per_update"`
	WatchBytesPerSec  float64 `json:"watch_bytes_per_s"`
	AchievedChurnRate float64 `json:"achieved_updates_per_s"`
	// SyncSeconds is the time from starting the replicas to the last one's
	// first answer.
	SyncSeconds float64 `json:"sync_seconds"`
}

// Agreement compares the zones of replicas given the same data.
type Agreement struct {
	Replicas  int      `json:"replicas"`
	Records   int      `json:"records"`   // in the first replica's AXFR, SOA left out
	Identical bool     `json:"identical"` // every replica transferred the same records
	Serials   []uint32 `json:"serials"`
	Differ    []string `json:"differ,omitempty"` // a few records not in every zone
}

// apiserverMetrics is one scrape of a kube-apiserver's /metrics: each
// series ("name{labels}") and its value.
type apiserverMetrics map[string]float64

func scrape(ctx context.Context, client kubernetes.Interface) (apiserverMetrics, error) {
	b, err := client.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("/metrics: %w", err)
	}
	return parseMetrics(b), nil
}

// parseMetrics reads the Prometheus text format's samples.
func parseMetrics(b []byte) apiserverMetrics {
	m := apiserverMetrics{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		k := strings.LastIndexByte(line, ' ')
		if k < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[k+1:], 64)
		if err != nil {
			continue
		}
		m[line[:k]] += v
	}
	return m
}

// sum adds the samples of metric whose labels include every label in want
// (`key="value"`).
func (a apiserverMetrics) sum(metric string, want ...string) float64 {
	var s float64
	for series, v := range a {
		name, labels, _ := strings.Cut(series, "{")
		if name != metric {
			continue
		}
		if !allLabels(labels, want) {
			continue
		}
		s += v
	}
	return s
}

// byResource adds the samples of metric with the labels in want, by their
// resource label.
func (a apiserverMetrics) byResource(metric string, want ...string) map[string]float64 {
	out := map[string]float64{}
	for series, v := range a {
		name, labels, _ := strings.Cut(series, "{")
		if name != metric || !allLabels(labels, want) {
			continue
		}
		res := "?"
		if _, rest, ok := strings.Cut(labels, `resource="`); ok {
			res, _, _ = strings.Cut(rest, `"`)
		}
		out[res] += v
	}
	return out
}

func allLabels(labels string, want []string) bool {
	for _, w := range want {
		if !strings.Contains(labels, w) {
			return false
		}
	}
	return true
}

func (a apiserverMetrics) watches() float64 {
	return a.sum("apiserver_longrunning_requests", `verb="WATCH"`)
}
func (a apiserverMetrics) lists() float64 {
	return a.sum("apiserver_request_total", `verb="LIST"`)
}
func (a apiserverMetrics) listBytes() float64 {
	return a.sum("apiserver_response_sizes_sum", `verb="LIST"`)
}
func (a apiserverMetrics) watchBytes() float64 { return a.sum("apiserver_watch_events_sizes_sum") }

// sliceEvents and sliceBytes are the EndpointSlice watch events sent.
func (a apiserverMetrics) sliceEvents() float64 {
	return a.sum("apiserver_watch_events_total", `resource="endpointslices"`)
}
func (a apiserverMetrics) sliceBytes() float64 {
	return a.sum("apiserver_watch_events_sizes_sum", `resource="endpointslices"`)
}

// ReplicaOptions sizes the replica measurement.
type ReplicaOptions struct {
	Counts    []int // replica counts, e.g. 1, 2, 4
	ChurnRate int   // EndpointSlice updates per second
	Churn     time.Duration
	Logf      func(string, ...any)
}

// MeasureReplicas starts each count of coredns-fed replicas against the lab
// in turn, and reads from the first member's kube-apiserver what they cost
// it: watches, LISTs and bytes at start, watch traffic under churn.
func MeasureReplicas(ctx context.Context, spec ServerSpec, t Topology, clusters []*lab.Cluster, o ReplicaOptions) (*Replicas, error) {
	c := clusters[0]
	client, err := adminClient(c)
	if err != nil {
		return nil, err
	}
	res := &Replicas{Member: c.Name, Services: t.Services, ChurnRate: o.ChurnRate, ChurnSecs: o.Churn.Seconds()}
	churnK := 0
	// churn updates EndpointSlices and measures what the member's watchers of
	// EndpointSlices were sent per update: the apiserver's own watchers (the
	// baseline) and the replicas'. Per update, because the rate reached on a
	// loaded machine varies between runs.
	churn := func(rc *ReplicaCost) error {
		before, err := scrape(ctx, client)
		if err != nil {
			return err
		}
		start := time.Now()
		from := churnK
		if churnK, err = Churn(ctx, client, t, 0, churnK, o.ChurnRate, o.Churn); err != nil {
			return err
		}
		secs := time.Since(start).Seconds()
		time.Sleep(time.Second) // the last events reach the watchers
		after, err := scrape(ctx, client)
		if err != nil {
			return err
		}
		rc.Updates = churnK - from
		rc.AchievedChurnRate = float64(rc.Updates) / secs
		rc.EventsPerUpdate = (after.sliceEvents() - before.sliceEvents()) / float64(rc.Updates)
		rc.BytesPerUpdate = (after.sliceBytes() - before.sliceBytes()) / float64(rc.Updates)
		return nil
	}
	o.Logf("  replicas: baseline, %d EndpointSlice updates/s in %s for %s with no replica", o.ChurnRate, c.Name, o.Churn)
	if err := churn(&res.Baseline); err != nil {
		return nil, err
	}
	res.Baseline.WatchBytesPerSec = res.Baseline.BytesPerUpdate * float64(o.ChurnRate)
	base, err := scrape(ctx, client)
	if err != nil {
		return nil, err
	}
	res.Baseline.Watches = int(base.watches())

	for _, n := range o.Counts {
		before, err := scrape(ctx, client)
		if err != nil {
			return nil, err
		}
		start := time.Now()
		var servers []*Server
		stop := func() {
			for _, s := range servers {
				s.Stop()
			}
		}
		for k := range n {
			sp := spec
			sp.Name = "federation-transfer" // AXFR for the comparison
			sp.Dir = filepath.Join(spec.Dir, fmt.Sprintf("replica-%d-of-%d", k+1, n))
			s, err := sp.Start()
			if err != nil {
				stop()
				return nil, err
			}
			servers = append(servers, s)
		}
		for _, s := range servers {
			if _, err := s.WaitAnswering(ctx, Name(1, ""), 5*time.Minute); err != nil {
				stop()
				return nil, err
			}
		}
		rc := ReplicaCost{Replicas: n, SyncSeconds: time.Since(start).Seconds()}
		time.Sleep(2 * time.Second) // every watch is open and the initial events sent
		after, err := scrape(ctx, client)
		if err != nil {
			stop()
			return nil, err
		}
		rc.Watches = int(after.watches() - before.watches())
		rc.Lists = int(after.lists() - before.lists())
		rc.StartBytes = int64(after.listBytes() - before.listBytes() + after.watchBytes() - before.watchBytes())
		if n == 1 {
			res.ListByRes, res.WatchByRes = diffByResource(before, after, "apiserver_request_total", `verb="LIST"`), diffByResource(before, after, "apiserver_longrunning_requests", `verb="WATCH"`)
		}
		o.Logf("  replicas: %d: %d watches, %d LISTs, %d KiB at start (synced in %.1fs); churn for %s", n, rc.Watches, rc.Lists, rc.StartBytes>>10, rc.SyncSeconds, o.Churn)
		if err := churn(&rc); err != nil {
			stop()
			return nil, err
		}
		rc.EventsPerUpdate -= res.Baseline.EventsPerUpdate
		rc.BytesPerUpdate -= res.Baseline.BytesPerUpdate
		rc.WatchBytesPerSec = rc.BytesPerUpdate * float64(o.ChurnRate)
		o.Logf("  replicas: %d: %.2f watch events and %.0f bytes per update beyond the baseline: %.0f bytes/s at %d updates/s (%d updates, %.1f/s reached)",
			n, rc.EventsPerUpdate, rc.BytesPerUpdate, rc.WatchBytesPerSec, o.ChurnRate, rc.Updates, rc.AchievedChurnRate)
		res.Runs = append(res.Runs, rc)
		if n == slices.Max(o.Counts) && n > 1 {
			time.Sleep(2 * time.Second) // the last change in every replica's snapshot
			if res.Agreement, err = compareReplicas(servers); err != nil {
				stop()
				return nil, err
			}
			o.Logf("  replicas: %d replicas, %d records, identical %v, serials %v", n, res.Agreement.Records, res.Agreement.Identical, res.Agreement.Serials)
		}
		stop()
		if err := waitWatches(ctx, client, base.watches()); err != nil {
			return nil, err
		}
	}
	return res, nil
}

func diffByResource(before, after apiserverMetrics, metric string, want ...string) map[string]int {
	b, a := before.byResource(metric, want...), after.byResource(metric, want...)
	out := map[string]int{}
	for r, v := range a {
		if d := int(v - b[r]); d != 0 {
			out[r] = d
		}
	}
	return out
}

// waitWatches waits until the member's open watches are back to n, so that
// the next count starts from the baseline.
func waitWatches(ctx context.Context, client kubernetes.Interface, n float64) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		m, err := scrape(ctx, client)
		if err != nil {
			return err
		}
		if m.watches() <= n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%.0f watches still open 30s after the replicas stopped (baseline %.0f)", m.watches(), n)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Churn updates EndpointSlices of member m at rate per second for d, flipping
// the readiness of Services in turn from the k-th on, as the EndpointSlice
// controller would when pods come and go. It returns the next k.
func Churn(ctx context.Context, client kubernetes.Interface, t Topology, m, k, rate int, d time.Duration) (int, error) {
	if rate < 1 {
		return k, fmt.Errorf("churn rate %d: at least 1 update per second", rate)
	}
	eps := client.DiscoveryV1().EndpointSlices(Namespace)
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		<-tick.C
		i := 1 + (k*104729)%(t.Services-1)
		k++
		cur, err := eps.Get(ctx, SliceName(i), metav1.GetOptions{})
		if err != nil {
			return k, err
		}
		ready := len(cur.Endpoints) > 0 && cur.Endpoints[0].Conditions.Ready != nil && !*cur.Endpoints[0].Conditions.Ready
		setEndpoints(cur, m, i, ready)
		if _, err := eps.Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
			return k, err
		}
	}
	return k, nil
}

// compareReplicas transfers the zone from every server and compares the
// records (SOA aside) and the serials.
func compareReplicas(servers []*Server) (*Agreement, error) {
	a := &Agreement{Replicas: len(servers), Identical: true}
	var zones []map[string]bool
	for _, s := range servers {
		rrs, serial, err := zoneRecords(s.Addr)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.Addr, err)
		}
		a.Serials = append(a.Serials, serial)
		zones = append(zones, rrs)
	}
	a.Records = len(zones[0])
	for _, z := range zones[1:] {
		for rr := range z {
			if !zones[0][rr] {
				a.Identical = false
				a.Differ = appendFew(a.Differ, rr)
			}
		}
		for rr := range zones[0] {
			if !z[rr] {
				a.Identical = false
				a.Differ = appendFew(a.Differ, rr)
			}
		}
	}
	return a, nil
}

func appendFew(xs []string, x string) []string {
	if len(xs) < 5 && !slices.Contains(xs, x) {
		xs = append(xs, x)
	}
	return xs
}

// zoneRecords is an AXFR of the zone from addr: its records but the SOA, as
// strings, and the serial.
func zoneRecords(addr string) (map[string]bool, uint32, error) {
	q := new(dns.Msg)
	q.SetAxfr(Domain + ".")
	env, err := (&dns.Transfer{ReadTimeout: time.Minute}).In(q, addr)
	if err != nil {
		return nil, 0, err
	}
	rrs := map[string]bool{}
	var serial uint32
	for e := range env {
		if e.Error != nil {
			return nil, 0, e.Error
		}
		for _, rr := range e.RR {
			if soa, ok := rr.(*dns.SOA); ok {
				serial = soa.Serial
				continue
			}
			rrs[rr.String()] = true
		}
	}
	return rrs, serial, nil
}
