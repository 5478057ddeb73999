package shardhealth

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
)

// Probe kinds.
const (
	kindTCP   = "tcp"
	kindHTTP  = "http"
	kindHTTPS = "https"
	kindOff   = "off"
)

// Probe says how an address is checked. It is comparable: checks are keyed by
// address and Probe.
type Probe struct {
	Kind      string // tcp, http, https or off
	Port      uint16 // 0: 80 for http, 443 for https; tcp needs one
	Path      string // http and https
	ExpectMin int    // accepted status codes, inclusive; http and https
	ExpectMax int
	Host      string // Host header and TLS server name; empty: the address
}

// defaultPort returns the port of a kind when none is given, or 0.
func defaultPort(kind string) uint16 {
	switch kind {
	case kindHTTP:
		return 80
	case kindHTTPS:
		return 443
	}
	return 0
}

// resolved fills in the default port and clears what the kind does not use, so
// that equal probes compare equal.
func (p Probe) resolved() Probe {
	if p.Port == 0 {
		p.Port = defaultPort(p.Kind)
	}
	if p.Kind == kindTCP {
		p.Path, p.ExpectMin, p.ExpectMax, p.Host = "", 0, 0, ""
	}
	return p
}

// url names the probe of addr in logs and metrics, e.g. "http://192.0.2.1:80/healthz".
func (p Probe) url(addr netip.Addr) string {
	s := p.Kind + "://" + netip.AddrPortFrom(addr, p.Port).String()
	if p.Kind == kindTCP {
		return s
	}
	s += p.Path
	if p.Host != "" {
		s += " host " + p.Host
	}
	return s
}

// Outcome classifies a probe result for metrics and logs.
type Outcome string

// Outcomes of a probe.
const (
	Success  Outcome = "success"
	Refused  Outcome = "refused" // the connection was refused
	Timeout  Outcome = "timeout" // no answer within the timeout
	TLSError Outcome = "tls"     // the TLS handshake failed
	Status   Outcome = "status"  // an HTTP status outside the expected range
	Failed   Outcome = "error"   // anything else: unreachable, reset, not HTTP
)

// Prober runs one probe of addr. It returns when the probe ends or ctx is done,
// with the error that made it fail.
type Prober interface {
	Run(ctx context.Context, addr netip.Addr, p Probe) (Outcome, error)
}

// netProber probes over the network: a TCP connect, or an HTTP(S) GET on a fresh
// connection.
type netProber struct{}

// Run implements Prober.
func (netProber) Run(ctx context.Context, addr netip.Addr, p Probe) (Outcome, error) {
	hostport := netip.AddrPortFrom(addr, p.Port).String()
	var err error
	var status int
	switch p.Kind {
	case kindTCP:
		var c net.Conn
		if c, err = (&net.Dialer{}).DialContext(ctx, "tcp", hostport); err == nil {
			c.Close()
		}
	case kindHTTP, kindHTTPS:
		status, err = get(ctx, hostport, p)
	default:
		return Failed, fmt.Errorf("unknown probe %q", p.Kind)
	}
	switch {
	case err == nil && p.Kind != kindTCP && (status < p.ExpectMin || status > p.ExpectMax):
		return Status, fmt.Errorf("status %d, expected %d-%d", status, p.ExpectMin, p.ExpectMax)
	case err == nil:
		return Success, nil
	case ctx.Err() != nil:
		return Timeout, err
	case errors.Is(err, syscall.ECONNREFUSED):
		return Refused, err
	case errors.As(err, new(*handshakeError)):
		return TLSError, err
	}
	return Failed, err
}

// handshakeError marks a failed TLS handshake.
type handshakeError struct{ err error }

func (e *handshakeError) Error() string { return "tls handshake: " + e.err.Error() }
func (e *handshakeError) Unwrap() error { return e.err }

// get sends one GET and returns the status. The connection is not reused and
// redirects are not followed: a probe sees exactly one backend answer. The
// certificate is not verified, since the probe asks whether the address works,
// not who it is; a handshake that fails is a failed probe.
func get(ctx context.Context, hostport string, p Probe) (int, error) {
	dialer := &net.Dialer{}
	tlsConfig := &tls.Config{InsecureSkipVerify: true} // liveness, not identity; see above
	if p.Host != "" && net.ParseIP(p.Host) == nil {
		tlsConfig.ServerName = p.Host
	}
	transport := &http.Transport{
		Proxy:       nil, // probe the address itself, never through HTTP_PROXY
		DialContext: dialer.DialContext,
		DialTLSContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dialer.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			tc := tls.Client(c, tlsConfig)
			if err := tc.HandshakeContext(ctx); err != nil {
				c.Close()
				return nil, &handshakeError{err}
			}
			return tc, nil
		},
		DisableKeepAlives:      true,
		DisableCompression:     true,
		MaxResponseHeaderBytes: 64 << 10,
	}
	client := &http.Client{
		Transport:     transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.Kind+"://"+hostport+p.Path, nil)
	if err != nil {
		return 0, err
	}
	if p.Host != "" {
		req.Host = p.Host
	}
	req.Header.Set("User-Agent", "coredns-fed/"+pluginName)
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	// Only the status counts; with keep-alives off, closing the body closes the connection.
	resp.Body.Close()
	return resp.StatusCode, nil
}
