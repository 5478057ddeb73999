package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"time"

	"github.com/miekg/dns"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/coredns-fed/coredns-fed/internal/lab"
)

// Flip is one EndpointSlice change and when its answer changed.
type Flip struct {
	Member  string `json:"member"`
	Service string `json:"service"`
	Ready   bool   `json:"ready"` // the state flipped to
	// SendToAck is the update request's round trip; AckToAnswer the time from
	// its response to the first DNS answer that reflects it (negative when the
	// watch event beat the response).
	SendToAck   time.Duration `json:"send_to_ack_ns"`
	AckToAnswer time.Duration `json:"ack_to_answer_ns"`
	TimedOut    bool          `json:"timed_out,omitempty"` // no such answer within flipTimeout
	sent        time.Time     // when the update request went out
}

// Propagation summarises flips.
type Propagation struct {
	Flips      int     `json:"flips"`
	TimedOut   int     `json:"timed_out"`
	PollMicros int     `json:"poll_interval_us"`
	P50        float64 `json:"p50_ms"` // ack → answer
	P90        float64 `json:"p90_ms"`
	P99        float64 `json:"p99_ms"`
	Max        float64 `json:"max_ms"`
	SendP50    float64 `json:"send_p50_ms"` // send → answer
	SendP99    float64 `json:"send_p99_ms"`
	AckP50     float64 `json:"ack_p50_ms"` // send → ack
	// Machine CPU in use while flipping, in cores, and the server's part.
	MachineCores float64 `json:"machine_cores"`
	ServerCores  float64 `json:"server_cores"`
	Samples      []Flip  `json:"-"`
}

// pollInterval is how often the answer is asked while a flip is pending.
const pollInterval = 200 * time.Microsecond

// flipTimeout bounds the wait for one change to show; a flip that takes longer
// is counted as timed out at this value.
const flipTimeout = 10 * time.Second

// MeasurePropagation flips the readiness of n (member, Service) shards'
// EndpointSlices, alternately to not ready and back, and times each change
// from the member's kube-apiserver acknowledging the update to dnsAddr's
// answer for the member's zone name (Federation v1 form) reflecting it: the
// member's own address when ready, a CNAME one level up when not.
func MeasurePropagation(ctx context.Context, t Topology, clusters []*lab.Cluster, dnsAddr string, n int) (*Propagation, error) {
	clients := make([]kubernetes.Interface, len(clusters))
	for m, c := range clusters {
		var err error
		if clients[m], err = adminClient(c); err != nil {
			return nil, err
		}
	}
	conn, err := net.Dial("udp", dnsAddr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	dc := &dns.Conn{Conn: conn}

	p := &Propagation{PollMicros: int(pollInterval / time.Microsecond)}
	for k := 0; k < n; k++ {
		m := k / 2 % len(clusters)
		i := 1 + (k/2*7919)%(t.Services-1) // spread over the Services
		if !Ready(m, i) {
			i++
		}
		ready := k%2 == 1 // first to not ready, then back
		f, err := flip(ctx, clients[m], dc, t, m, i, ready)
		if err != nil {
			return nil, fmt.Errorf("flip %d (%s %s): %w", k, clusters[m].Name, ServiceName(i), err)
		}
		f.Member = clusters[m].Name
		if f.TimedOut {
			p.TimedOut++
		}
		p.Samples = append(p.Samples, *f)
		time.Sleep(20 * time.Millisecond) // let the next change be a build of its own
	}
	p.Flips = len(p.Samples)
	var ack, send, rtt []float64
	for _, f := range p.Samples {
		ack = append(ack, ms(f.AckToAnswer))
		send = append(send, ms(f.SendToAck+f.AckToAnswer))
		rtt = append(rtt, ms(f.SendToAck))
	}
	p.P50, p.P90, p.P99, p.Max = percentile(ack, 0.5), percentile(ack, 0.9), percentile(ack, 0.99), percentile(ack, 1)
	p.SendP50, p.SendP99 = percentile(send, 0.5), percentile(send, 0.99)
	p.AckP50 = percentile(rtt, 0.5)
	return p, nil
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// percentile returns the p-quantile (nearest rank) of xs; xs is sorted in place.
func percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	slices.Sort(xs)
	k := int(p*float64(len(xs))+0.5) - 1
	return xs[max(0, min(k, len(xs)-1))]
}

// flip sets the readiness of Service i's slice in member m and waits for the
// answer to follow.
func flip(ctx context.Context, client kubernetes.Interface, dc *dns.Conn, t Topology, m, i int, ready bool) (*Flip, error) {
	name := Name(i, t.ZoneOf(m)+"."+t.Clusters[m].Region+".")
	want := wantState(m, i, ready)
	// The answer must show the old state before the change is made.
	if _, err := waitAnswer(dc, name, func(r *dns.Msg) bool { return !want(r) && r.Rcode == dns.RcodeSuccess }, flipTimeout); err != nil {
		return nil, fmt.Errorf("answer for %s not in the starting state: %w", name, err)
	}
	eps := client.DiscoveryV1().EndpointSlices(Namespace)
	cur, err := eps.Get(ctx, SliceName(i), metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	setEndpoints(cur, m, i, ready)

	type seen struct {
		at  time.Time
		err error
	}
	got := make(chan seen, 1)
	sent := time.Now()
	go func() {
		at, err := waitAnswer(dc, name, want, flipTimeout)
		got <- seen{at, err}
	}()
	_, err = eps.Update(ctx, cur, metav1.UpdateOptions{})
	acked := time.Now()
	s := <-got
	if err != nil {
		return nil, err
	}
	f := &Flip{Service: ServiceName(i), Ready: ready, SendToAck: acked.Sub(sent), sent: sent}
	if errors.Is(s.err, errNoAnswer) {
		f.TimedOut, f.AckToAnswer = true, flipTimeout
		return f, nil
	}
	if s.err != nil {
		return nil, s.err
	}
	f.AckToAnswer = s.at.Sub(acked)
	return f, nil
}

// wantState reports whether an answer for Service i's zone name in member m
// shows the given readiness: the member's own address when ready, a CNAME one
// level up when not.
func wantState(m, i int, ready bool) func(*dns.Msg) bool {
	return func(r *dns.Msg) bool {
		if len(r.Answer) == 0 {
			return false
		}
		if ready {
			a, ok := r.Answer[0].(*dns.A)
			return ok && a.A.Equal(ServiceAddr(m, i).AsSlice())
		}
		_, ok := r.Answer[0].(*dns.CNAME)
		return ok
	}
}

// waitAnswer asks name A on dc every pollInterval until ok holds for the
// answer, and returns when the answer that satisfied it arrived.
func waitAnswer(dc *dns.Conn, name string, ok func(*dns.Msg) bool, timeout time.Duration) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	q := new(dns.Msg)
	q.SetQuestion(name, dns.TypeA)
	last := "no answer"
	for time.Now().Before(deadline) {
		q.Id = dns.Id()
		dc.SetDeadline(time.Now().Add(time.Second))
		if err := dc.WriteMsg(q); err != nil {
			return time.Time{}, err
		}
		for {
			r, err := dc.ReadMsg()
			if err != nil {
				break // a timeout: ask again
			}
			if r.Id != q.Id {
				continue // a late answer to an earlier question
			}
			if ok(r) {
				return time.Now(), nil
			}
			last = dns.RcodeToString[r.Rcode] + " " + fmt.Sprint(r.Answer)
			break
		}
		time.Sleep(pollInterval)
	}
	return time.Time{}, fmt.Errorf("%s within %s (last: %s): %w", name, timeout, last, errNoAnswer)
}

var errNoAnswer = errors.New("no matching answer")
