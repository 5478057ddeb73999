package federation

import (
	"context"
	"fmt"
	"net"
	"testing"

	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"
	"github.com/coredns/coredns/request"

	"github.com/coredns-fed/coredns-fed/internal/fixture"

	"github.com/miekg/dns"
	"k8s.io/apimachinery/pkg/runtime"
)

// wireConn stands in for the server's connection: it keeps what was written,
// as bytes (Write) or as a message it packs itself (WriteMsg), and says whether
// the client came over UDP or TCP.
type wireConn struct {
	test.ResponseWriter
	tcp   bool
	wrote []byte
	byMsg bool // the reply came through WriteMsg, packed by the connection
}

func (c *wireConn) RemoteAddr() net.Addr {
	if c.tcp {
		return &net.TCPAddr{IP: net.ParseIP("10.240.0.1"), Port: 40212}
	}
	return c.ResponseWriter.RemoteAddr()
}

func (c *wireConn) Write(b []byte) (int, error) {
	c.wrote = append([]byte(nil), b...)
	return len(b), nil
}

func (c *wireConn) WriteMsg(m *dns.Msg) error {
	b, err := m.Pack()
	c.wrote, c.byMsg = b, true
	return err
}

// askWire asks f the way CoreDNS's server does, through a ScrubWriter, with
// handlers (none, or wireHandler and a recorder) ahead of f in the chain.
func askWire(t *testing.T, f *Federation, r *dns.Msg, tcp, ahead bool) (*wireConn, *dns.Msg) {
	t.Helper()
	conn := &wireConn{tcp: tcp}
	var h plugin.Handler = f
	var rec *recordingHandler
	if ahead {
		rec = &recordingHandler{next: f}
		h = wireHandler{next: rec}
	}
	if _, err := h.ServeDNS(context.Background(), request.NewScrubWriter(r, conn), r); err != nil {
		t.Fatal(err)
	}
	if conn.wrote == nil {
		t.Fatal("nothing written")
	}
	m := new(dns.Msg)
	if err := m.Unpack(conn.wrote); err != nil {
		t.Fatalf("the reply does not unpack: %v", err)
	}
	if ahead && (rec.msg == nil || rec.msg.Rcode != m.Rcode || len(rec.msg.Answer) != len(m.Answer)) {
		t.Errorf("the plugin ahead of the federation did not see the reply through WriteMsg: %v", rec.msg)
	}
	return conn, m
}

// recordingHandler is a plugin ahead of the federation that wraps the writer,
// as prometheus and log do.
type recordingHandler struct {
	next plugin.Handler
	msg  *dns.Msg
}

func (h *recordingHandler) Name() string { return "recording" }

func (h *recordingHandler) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	rw := dnstest.NewRecorder(w)
	rcode, err := h.next.ServeDNS(ctx, rw, r)
	h.msg = rw.Msg
	return rcode, err
}

// TestWireCompressed: a reply leaves with compressed names and the client's
// EDNS, and unpacks to the same records as the uncompressed one, whether the
// federation heads the chain or plugins precede it.
func TestWireCompressed(t *testing.T) {
	f, _ := newTestFederation(t, seed())
	for _, ahead := range []bool{false, true} {
		r := new(dns.Msg)
		r.SetQuestion(nginx(""), dns.TypeA)
		r.SetEdns0(1232, false)
		conn, m := askWire(t, f, r, false, ahead)
		if conn.byMsg {
			t.Errorf("ahead=%v: the reply went through WriteMsg, uncompressed", ahead)
		}
		if len(m.Answer) != 4 || m.Rcode != dns.RcodeSuccess || !m.Authoritative {
			t.Fatalf("ahead=%v: %v", ahead, m)
		}
		if o := m.IsEdns0(); o == nil || o.UDPSize() != 1232 {
			t.Errorf("ahead=%v: the reply lacks the client's OPT: %v", ahead, m)
		}
		m.Compress = false
		if plain := m.Len(); len(conn.wrote) >= plain-100 {
			t.Errorf("ahead=%v: %d bytes on the wire, %d uncompressed: not compressed", ahead, len(conn.wrote), plain)
		}
	}
}

// TestWireTruncates: a reply that does not fit the client's buffer even
// compressed is left to CoreDNS's ScrubWriter, which truncates it.
func TestWireTruncates(t *testing.T) {
	f, _ := newTestFederation(t, manyAddresses(60), func(f *Federation) { f.MaxAnswers = 0 })
	r := new(dns.Msg)
	r.SetQuestion(nginx(""), dns.TypeA) // no EDNS: 512 bytes
	conn, m := askWire(t, f, r, false, false)
	if !conn.byMsg || !m.Truncated || len(conn.wrote) > 512 {
		t.Errorf("a reply of 60 addresses over UDP without EDNS: byMsg=%v TC=%v %d bytes", conn.byMsg, m.Truncated, len(conn.wrote))
	}
	// Over TCP the whole answer leaves, compressed.
	conn, m = askWire(t, f, r, true, false)
	if conn.byMsg || m.Truncated || len(m.Answer) != 60 {
		t.Errorf("over TCP: byMsg=%v TC=%v %d records", conn.byMsg, m.Truncated, len(m.Answer))
	}
}

// TestWireTSIG: a reply with a TSIG record is written as a message, for the
// connection to sign.
func TestWireTSIG(t *testing.T) {
	conn := &wireConn{}
	r := new(dns.Msg)
	r.SetQuestion("example.com.", dns.TypeSOA)
	m := new(dns.Msg)
	m.SetReply(r)
	m.SetTsig("key.", dns.HmacSHA256, 300, 0)
	if err := writeCompressed(request.NewScrubWriter(r, conn), r, m); err != nil {
		t.Fatal(err)
	}
	if !conn.byMsg {
		t.Error("a reply with TSIG was packed by the plugin")
	}
}

// manyAddresses returns the seed's four clusters with n IPv4 addresses in all.
func manyAddresses(n int) []cluster {
	cs := seed()
	for i := range cs {
		var ips []string
		for j := range n / len(cs) {
			ips = append(ips, fmt.Sprintf("192.0.%d.%d", i, j+1))
		}
		cs[i].objs = []runtime.Object{fixture.Service("mynamespace", "nginx", "myfederation", ips...), slice("mynamespace", "nginx", fixture.Ready)}
	}
	return cs
}
