package shardhealth

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/coredns-fed/coredns-fed/plugin/federation"
)

// Real backends on 127.0.0.1, one per way of failing.

// listen starts a TCP listener on 127.0.0.1 whose connections are handled by
// serve; it is closed with the test.
func listen(t *testing.T, serve func(net.Conn)) uint16 {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() { defer wg.Done(); serve(c) }()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return uint16(l.Addr().(*net.TCPAddr).Port)
}

// refusing returns a port on 127.0.0.1 that nothing listens on.
func refusing(t *testing.T) uint16 {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := uint16(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	return port
}

// hanging accepts and never answers.
func hanging(t *testing.T) uint16 {
	return listen(t, func(c net.Conn) { io.Copy(io.Discard, c) })
}

// slowLoris answers one byte at a time, far slower than any timeout.
func slowLoris(t *testing.T) uint16 {
	return listen(t, func(c net.Conn) {
		buf := make([]byte, 4096)
		c.Read(buf)
		for _, b := range []byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n") {
			if _, err := c.Write([]byte{b}); err != nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
}

// closing accepts and closes at once: a TLS handshake gets EOF.
func closing(t *testing.T) uint16 {
	return listen(t, func(c net.Conn) { c.Close() })
}

func server(t *testing.T, h http.HandlerFunc) uint16 {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return uint16(s.Listener.Addr().(*net.TCPAddr).Port)
}

func tlsServer(t *testing.T, h http.HandlerFunc, serverNames chan<- string) uint16 {
	t.Helper()
	s := httptest.NewUnstartedServer(h)
	s.TLS = &tls.Config{GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		if serverNames != nil {
			serverNames <- hello.ServerName
		}
		return nil, nil
	}}
	s.StartTLS()
	t.Cleanup(s.Close)
	return uint16(s.Listener.Addr().(*net.TCPAddr).Port)
}

func status(code int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(code) }
}

// slow answers after d. If the server gives up on the request first, the
// connection is dropped: a cancelled handler must never look like a 200.
func slow(d time.Duration) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(d):
		case <-r.Context().Done():
			panic(http.ErrAbortHandler)
		}
	}
}

var loopback = netip.MustParseAddr("127.0.0.1")

func httpProbe(kind string, port uint16) Probe {
	return Probe{Kind: kind, Port: port, Path: "/healthz", ExpectMin: 200, ExpectMax: 399}
}

func TestNetProber(t *testing.T) {
	const timeout = 300 * time.Millisecond
	tests := []struct {
		name  string
		addr  netip.Addr
		probe func(t *testing.T) Probe
		want  []Outcome // any of these
	}{
		{"http ok", loopback, func(t *testing.T) Probe { return httpProbe(kindHTTP, server(t, status(200))) }, []Outcome{Success}},
		{"http redirect not followed", loopback, func(t *testing.T) Probe {
			return httpProbe(kindHTTP, server(t, func(w http.ResponseWriter, r *http.Request) {
				// Followed, the redirect would be refused: the probe must see the 302 itself.
				http.Redirect(w, r, fmt.Sprintf("http://127.0.0.1:%d/", refusing(t)), http.StatusFound)
			}))
		}, []Outcome{Success}},
		{"http 500", loopback, func(t *testing.T) Probe { return httpProbe(kindHTTP, server(t, status(500))) }, []Outcome{Status}},
		{"http refusing", loopback, func(t *testing.T) Probe { return httpProbe(kindHTTP, refusing(t)) }, []Outcome{Refused}},
		{"http hanging", loopback, func(t *testing.T) Probe { return httpProbe(kindHTTP, hanging(t)) }, []Outcome{Timeout}},
		{"http slow-loris", loopback, func(t *testing.T) Probe { return httpProbe(kindHTTP, slowLoris(t)) }, []Outcome{Timeout}},
		{"http slow", loopback, func(t *testing.T) Probe { return httpProbe(kindHTTP, server(t, slow(5*time.Second))) }, []Outcome{Timeout}},
		{"http not http", loopback, func(t *testing.T) Probe { return httpProbe(kindHTTP, closing(t)) }, []Outcome{Failed}},
		{"https ok", loopback, func(t *testing.T) Probe { return httpProbe(kindHTTPS, tlsServer(t, status(204), nil)) }, []Outcome{Success}},
		{"https against plain http", loopback, func(t *testing.T) Probe { return httpProbe(kindHTTPS, server(t, status(200))) }, []Outcome{TLSError}},
		{"https closed in the handshake", loopback, func(t *testing.T) Probe { return httpProbe(kindHTTPS, closing(t)) }, []Outcome{TLSError}},
		{"https hanging handshake", loopback, func(t *testing.T) Probe { return httpProbe(kindHTTPS, hanging(t)) }, []Outcome{Timeout}},
		{"https slow", loopback, func(t *testing.T) Probe { return httpProbe(kindHTTPS, tlsServer(t, slow(5*time.Second), nil)) }, []Outcome{Timeout}},
		{"tcp ok", loopback, func(t *testing.T) Probe { return Probe{Kind: kindTCP, Port: server(t, status(200))} }, []Outcome{Success}},
		{"tcp accepts without answering", loopback, func(t *testing.T) Probe { return Probe{Kind: kindTCP, Port: hanging(t)} }, []Outcome{Success}},
		{"tcp refusing", loopback, func(t *testing.T) Probe { return Probe{Kind: kindTCP, Port: refusing(t)} }, []Outcome{Refused}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := tc.probe(t)
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			start := time.Now()
			got, err := netProber{}.Run(ctx, tc.addr, p)
			took := time.Since(start)
			ok := false
			for _, w := range tc.want {
				ok = ok || got == w
			}
			if !ok {
				t.Errorf("outcome %s (%v), want one of %v", got, err, tc.want)
			}
			if got != Success && err == nil {
				t.Errorf("outcome %s without an error", got)
			}
			if took > timeout+200*time.Millisecond {
				t.Errorf("probe took %s, want it to end within the timeout %s", took, timeout)
			}
		})
	}
}

func TestNetProberHostAndSNI(t *testing.T) {
	hosts := make(chan string, 1)
	names := make(chan string, 1)
	port := tlsServer(t, func(w http.ResponseWriter, r *http.Request) { hosts <- r.Host }, names)
	p := httpProbe(kindHTTPS, port)
	p.Host = "web.example.org"
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if got, err := (netProber{}).Run(ctx, loopback, p); got != Success {
		t.Fatalf("outcome %s (%v), want success", got, err)
	}
	if h := <-hosts; h != "web.example.org" {
		t.Errorf("Host %q, want web.example.org", h)
	}
	if n := <-names; n != "web.example.org" {
		t.Errorf("SNI %q, want web.example.org", n)
	}

	// Without a host the Host header is the address and no SNI is sent.
	p.Host = ""
	if got, err := (netProber{}).Run(ctx, loopback, p); got != Success {
		t.Fatalf("outcome %s (%v), want success", got, err)
	}
	if h := <-hosts; h != "127.0.0.1:"+strconv.Itoa(int(port)) {
		t.Errorf("Host %q, want the address", h)
	}
	if n := <-names; n != "" {
		t.Errorf("SNI %q, want none", n)
	}
}

// timedProber records how long each target's probes took.
type timedProber struct {
	mu      sync.Mutex
	longest map[uint16]time.Duration
	count   map[uint16]int
}

func (p *timedProber) Run(ctx context.Context, addr netip.Addr, pr Probe) (Outcome, error) {
	start := time.Now()
	o, err := netProber{}.Run(ctx, addr, pr)
	p.mu.Lock()
	p.longest[pr.Port] = max(p.longest[pr.Port], time.Since(start))
	p.count[pr.Port]++
	p.mu.Unlock()
	return o, err
}

func TestBadBackendsDoNotBlockProbes(t *testing.T) {
	const interval, timeout = 400 * time.Millisecond, 300 * time.Millisecond
	type backend struct {
		name string
		kind string
		port uint16
		up   bool
	}
	backends := []backend{
		{"good", kindHTTP, server(t, status(200)), true},
		{"good-tls", kindHTTPS, tlsServer(t, status(200), nil), true},
		{"refusing", kindHTTP, refusing(t), false},
		{"hanging", kindHTTP, hanging(t), false},
		{"slow-loris", kindHTTP, slowLoris(t), false},
		{"slow", kindHTTP, server(t, slow(5*time.Second)), false},
		{"tls-broken", kindHTTPS, closing(t), false},
		{"tls-hanging", kindHTTPS, hanging(t), false},
	}
	prober := &timedProber{longest: map[uint16]time.Duration{}, count: map[uint16]int{}}
	h := New()
	h.prober = prober
	h.Interval, h.Timeout, h.Rise, h.Fall = interval, timeout, 1, 1
	h.MaxConcurrent = 4 // fewer slots than bad backends
	sink := &fakeSink{}
	h.Start(sink)
	t.Cleanup(h.Stop)

	var shards []federation.Shard
	for _, b := range backends {
		shards = append(shards, shard("a", "ns/"+b.name, map[string]string{
			AnnotationProbe: b.kind, AnnotationPort: strconv.Itoa(int(b.port)), AnnotationPath: "/healthz",
		}, "127.0.0.1"))
	}
	sink.snapshot(shards...)

	waitFor(t, "every backend to be judged", func() bool {
		for i, b := range backends {
			addrs, _ := h.Usable(&shards[i])
			got := len(addrs) == 1
			h.mu.Lock()
			c := h.checks[target{loopback, Probe{Kind: b.kind, Port: b.port, Path: "/healthz", ExpectMin: 200, ExpectMax: 399}.resolved()}]
			judged := c != nil && c.state != unknown
			h.mu.Unlock()
			if !judged || got != b.up {
				return false
			}
		}
		return true
	})
	time.Sleep(3 * interval)

	prober.mu.Lock()
	defer prober.mu.Unlock()
	for _, b := range backends {
		if d := prober.longest[b.port]; d > timeout+200*time.Millisecond {
			t.Errorf("%s: a probe took %s, want at most the timeout %s", b.name, d, timeout)
		}
	}
	// The good backends keep close to their interval although bad ones hold
	// most of the slots for a whole timeout each round.
	for _, b := range backends[:2] {
		if n := prober.count[b.port]; n < 3 {
			t.Errorf("%s: probed %d times, want at least 3", b.name, n)
		}
	}
}
