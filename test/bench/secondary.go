package bench

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/miekg/dns"
	"k8s.io/client-go/kubernetes"

	"github.com/coredns-fed/coredns-fed/internal/lab"
)

// Secondary is a Knot DNS secondary slaved to coredns-fed: how long an
// EndpointSlice change takes to reach its answers, and what a change costs to
// transfer.
type Secondary struct {
	// Flips are the EndpointSlice changes, each timed from the update request
	// to the secondary's first answer that shows it (Knot learns of the new
	// serial by NOTIFY and fetches it by IXFR).
	Flips      int      `json:"flips"`
	Skipped    []string `json:"skipped,omitempty"` // flips whose starting state the secondary did not show
	TimedOut   int      `json:"timed_out"`
	PauseMaxMs int      `json:"pause_max_ms"` // between flips: a fixed pseudo-random pause in [0, max)
	P50        float64  `json:"p50_ms"`       // send → the secondary's answer
	P90        float64  `json:"p90_ms"`
	P99        float64  `json:"p99_ms"`
	Max        float64  `json:"max_ms"`
	// The same flips seen at the primary (coredns-fed itself), send → answer.
	PrimaryP50 float64 `json:"primary_p50_ms"`
	PrimaryP99 float64 `json:"primary_p99_ms"`
	// SerialAhead is how far the primary's serial ran ahead of the clock at
	// most, read after each flip.
	SerialAhead int64 `json:"serial_ahead_s"`

	Transfers []Transfer `json:"transfers"` // one per measured change
	// Medians over Transfers.
	IXFRBytes int    `json:"ixfr_bytes"`
	AXFRBytes int    `json:"axfr_bytes"`
	IXFRMsgs  int    `json:"ixfr_messages"`
	AXFRMsgs  int    `json:"axfr_messages"`
	AXFRRRs   int    `json:"axfr_records"`
	KnotConf  string `json:"knot_conf"`
}

// Transfer is what one change costs a secondary: an IXFR from the serial
// before it, and an AXFR of the whole zone, in bytes read from the TCP
// connection (DNS messages with their 2-byte length prefixes).
type Transfer struct {
	From, To  uint32
	IXFRBytes int `json:"ixfr_bytes"`
	IXFRMsgs  int `json:"ixfr_messages"`
	IXFRRRs   int `json:"ixfr_records"`
	AXFRBytes int `json:"axfr_bytes"`
	AXFRMsgs  int `json:"axfr_messages"`
	AXFRRRs   int `json:"axfr_records"`
}

// MeasureSecondary starts coredns-fed with the transfer plugin and a Knot
// secondary it notifies, flips n EndpointSlices with pauses of up to pauseMax
// between them, timing each at the secondary and at the primary, and then
// measures the transfer of changes more changes, one at a time.
func MeasureSecondary(ctx context.Context, spec ServerSpec, t Topology, clusters []*lab.Cluster, n, changes int, pauseMax time.Duration, logf func(string, ...any)) (*Secondary, error) {
	knotDir := filepath.Join(spec.Dir, "knot-secondary")
	if err := os.MkdirAll(knotDir, 0o755); err != nil {
		return nil, err
	}
	port, err := lab.FreeDNSPort()
	if err != nil {
		return nil, err
	}
	knotAddr := lab.HostPort(lab.Loopback, port)
	spec.Name, spec.NotifyTo = "federation-transfer", knotAddr
	primary, err := spec.Start()
	if err != nil {
		return nil, err
	}
	defer primary.Stop()
	probe := Name(1, "")
	if _, err := primary.WaitAnswering(ctx, probe, 5*time.Minute); err != nil {
		return nil, err
	}
	res := &Secondary{PauseMaxMs: int(pauseMax / time.Millisecond)}
	res.KnotConf = lab.KnotSecondaryConf(knotDir, port, primary.Addr, Domain)
	conf := filepath.Join(knotDir, "knot.conf")
	if err := os.WriteFile(conf, []byte(res.KnotConf), 0o644); err != nil {
		return nil, err
	}
	knot := lab.NewProcess("knotd", filepath.Join(knotDir, "knotd.log"), "knotd", "-c", conf)
	if err := knot.Start(); err != nil {
		return nil, err
	}
	defer knot.Stop()
	ks := &Server{Name: "knot-secondary", Addr: knotAddr, proc: knot}
	if _, err := ks.WaitAnswering(ctx, probe, 5*time.Minute); err != nil {
		return nil, fmt.Errorf("%w; end of %s:\n%s", err, knot.Log(), lab.Tail(knot.Log(), 10))
	}
	logf("  secondary: knotd at %s has the zone from %s", knotAddr, primary.Addr)

	clients := make([]kubernetes.Interface, len(clusters))
	for m, c := range clusters {
		if clients[m], err = adminClient(c); err != nil {
			return nil, err
		}
	}
	conn, err := net.Dial("udp", knotAddr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	dc := &dns.Conn{Conn: conn}
	pconn, err := net.Dial("udp", primary.Addr)
	if err != nil {
		return nil, err
	}
	defer pconn.Close()
	pdc := &dns.Conn{Conn: pconn}

	var secondary, atPrimary []float64
	for k := range n {
		m, i, ready := flipTarget(t, len(clusters), k)
		// The primary's answer is watched beside the secondary's, on its own
		// connection, so that both figures come from the same flips.
		name := Name(i, t.ZoneOf(m)+"."+t.Clusters[m].Region+".")
		primaryAt := make(chan time.Time, 1)
		go func() {
			at, _ := waitAnswer(pdc, name, wantState(m, i, ready), flipTimeout)
			primaryAt <- at // zero: never
		}()
		f, err := flip(ctx, clients[m], dc, t, m, i, ready)
		if err != nil && strings.Contains(err.Error(), "not in the starting state") && len(res.Skipped) < n/5 {
			// Counted and reported, not timed: the secondary did not show the
			// state the flip starts from.
			logf("  secondary: flip %d skipped: %v", k, err)
			res.Skipped = append(res.Skipped, err.Error())
			<-primaryAt
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("flip %d (%s %s): %w", k, clusters[m].Name, ServiceName(i), err)
		}
		if f.TimedOut {
			res.TimedOut++
		}
		secondary = append(secondary, ms(f.SendToAck+f.AckToAnswer))
		if at := <-primaryAt; at.IsZero() {
			atPrimary = append(atPrimary, ms(flipTimeout))
		} else {
			atPrimary = append(atPrimary, ms(at.Sub(f.sent)))
		}
		serial, err := soaSerial(primary.Addr)
		if err != nil {
			return nil, err
		}
		res.SerialAhead = max(res.SerialAhead, int64(serial)-time.Now().Unix())
		time.Sleep(pause(k, pauseMax))
	}
	res.Flips = len(secondary)
	res.P50, res.P90, res.P99, res.Max = percentile(secondary, 0.5), percentile(secondary, 0.9), percentile(secondary, 0.99), percentile(secondary, 1)
	res.PrimaryP50, res.PrimaryP99 = percentile(atPrimary, 0.5), percentile(atPrimary, 0.99)
	logf("  secondary: %d flips, send → secondary's answer p50 %.0f ms, p99 %.0f ms, max %.0f ms (primary p50 %.1f ms, p99 %.1f ms); serial at most %ds ahead of the clock",
		res.Flips, res.P50, res.P99, res.Max, res.PrimaryP50, res.PrimaryP99, res.SerialAhead)

	for k := range changes {
		tr, err := measureTransfer(ctx, clients, t, primary.Addr, dc, n+k)
		if err != nil {
			return nil, fmt.Errorf("transfer %d: %w", k, err)
		}
		res.Transfers = append(res.Transfers, *tr)
	}
	var ib, ab, im, am, ar []float64
	for _, tr := range res.Transfers {
		ib, ab = append(ib, float64(tr.IXFRBytes)), append(ab, float64(tr.AXFRBytes))
		im, am, ar = append(im, float64(tr.IXFRMsgs)), append(am, float64(tr.AXFRMsgs)), append(ar, float64(tr.AXFRRRs))
	}
	res.IXFRBytes, res.AXFRBytes = int(percentile(ib, 0.5)), int(percentile(ab, 0.5))
	res.IXFRMsgs, res.AXFRMsgs, res.AXFRRRs = int(percentile(im, 0.5)), int(percentile(am, 0.5)), int(percentile(ar, 0.5))
	logf("  transfer per change: IXFR %d bytes in %d messages, AXFR %d bytes in %d messages (%d records)", res.IXFRBytes, res.IXFRMsgs, res.AXFRBytes, res.AXFRMsgs, res.AXFRRRs)
	return res, nil
}

// flipTarget picks the k-th flip's shard: members in turn, Services spread
// over the topology, alternately to not ready and back. It leaves out the
// Services that a degraded member has not ready (every eighth): a flip of
// such a Service in another member could leave it healthy nowhere, whose
// global name a secondary answers NXDOMAIN and coredns-fed NODATA.
func flipTarget(t Topology, members, k int) (m, i int, ready bool) {
	m = k / 2 % members
	i = 1 + (k/2*7919)%(t.Services-1)
	if i%8 == 0 {
		i-- // i >= 8 here, and i+1 may be past the last Service
	}
	return m, i, k%2 == 1
}

// pause is the k-th pause between flips: fixed pseudo-random values in
// [0, max), so that changes land anywhere within a second, as a cluster's do.
func pause(k int, max time.Duration) time.Duration {
	if max <= 0 {
		return 0
	}
	x := uint64(k+1) * 0x9E3779B97F4A7C15
	x ^= x >> 29
	return time.Duration(x % uint64(max))
}

// measureTransfer makes one change (flip k), waits until the secondary
// answers it, and transfers the zone from the primary by IXFR from the serial
// before the change and by AXFR.
func measureTransfer(ctx context.Context, clients []kubernetes.Interface, t Topology, primary string, dc *dns.Conn, k int) (*Transfer, error) {
	from, err := soaSerial(primary)
	if err != nil {
		return nil, err
	}
	m, i, ready := flipTarget(t, len(clients), k)
	if _, err := flip(ctx, clients[m], dc, t, m, i, ready); err != nil {
		return nil, err
	}
	tr := &Transfer{From: from}
	if tr.To, err = soaSerial(primary); err != nil {
		return nil, err
	}
	if tr.To == from {
		return nil, fmt.Errorf("serial still %d after the change", from)
	}
	ixfr := new(dns.Msg)
	ixfr.SetIxfr(Domain+".", from, "ns1."+Domain+".", "hostmaster."+Domain+".")
	if tr.IXFRBytes, tr.IXFRMsgs, tr.IXFRRRs, err = countTransfer(ixfr, primary); err != nil {
		return nil, fmt.Errorf("IXFR from %d: %w", from, err)
	}
	axfr := new(dns.Msg)
	axfr.SetAxfr(Domain + ".")
	if tr.AXFRBytes, tr.AXFRMsgs, tr.AXFRRRs, err = countTransfer(axfr, primary); err != nil {
		return nil, fmt.Errorf("AXFR: %w", err)
	}
	return tr, nil
}

// countingConn counts the bytes read from a connection.
type countingConn struct {
	net.Conn
	n int
}

func (c *countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.n += n
	return n, err
}

// countTransfer runs the zone transfer q against addr and returns the bytes
// read, the messages and the records of its response.
func countTransfer(q *dns.Msg, addr string) (bytes, msgs, rrs int, err error) {
	raw, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0, 0, 0, err
	}
	cc := &countingConn{Conn: raw}
	tr := &dns.Transfer{Conn: &dns.Conn{Conn: cc}, ReadTimeout: time.Minute}
	env, err := tr.In(q, addr)
	if err != nil {
		raw.Close()
		return 0, 0, 0, err
	}
	for e := range env {
		if e.Error != nil && err == nil {
			err = e.Error
		}
		msgs++
		rrs += len(e.RR)
	}
	tr.Close()
	return cc.n, msgs, rrs, err
}

// soaSerial asks addr for the zone's SOA serial.
func soaSerial(addr string) (uint32, error) {
	m := new(dns.Msg)
	m.SetQuestion(Domain+".", dns.TypeSOA)
	r, _, err := (&dns.Client{Timeout: 2 * time.Second}).Exchange(m, addr)
	if err != nil {
		return 0, err
	}
	for _, rr := range r.Answer {
		if soa, ok := rr.(*dns.SOA); ok {
			return soa.Serial, nil
		}
	}
	return 0, fmt.Errorf("no SOA from %s", addr)
}
