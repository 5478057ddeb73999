package integration

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// msgSize is dig's "MSG SIZE  rcvd: N" line: the reply's size on the wire.
var msgSize = regexp.MustCompile(`MSG SIZE\s+rcvd: (\d+)`)

// TestCompressedReplies: the real dig receives the global name's four
// addresses, over UDP and over TCP, in a reply whose size is that of the same
// message packed with compressed names, not the uncompressed size CoreDNS's
// server sends when a plugin does not pack its reply itself. The lab's block
// has prometheus and errors ahead of the federation, so the packing is done by
// the writer at the head of the chain, under the metrics recorder.
func TestCompressedReplies(t *testing.T) {
	healthy(t)
	for _, transport := range []string{"+notcp", "+tcp"} {
		out := dig(t, globalName(), "A", transport, "+nocookie", "+bufsize=1232", "+noall", "+answer", "+stats")
		m := new(dns.Msg)
		m.SetQuestion(globalName(), dns.TypeA)
		m.Response, m.Authoritative = true, true
		m.SetEdns0(1232, false)
		for _, line := range strings.Split(out, "\n") {
			if line = strings.TrimSpace(line); line == "" || strings.HasPrefix(line, ";") {
				continue
			}
			rr, err := dns.NewRR(line)
			if err != nil {
				t.Fatalf("%s: dig printed %q: %v", transport, line, err)
			}
			m.Answer = append(m.Answer, rr)
		}
		if len(m.Answer) != len(fed.Clusters()) {
			t.Fatalf("%s: %d records, want %d:\n%s", transport, len(m.Answer), len(fed.Clusters()), out)
		}
		sm := msgSize.FindStringSubmatch(out)
		if sm == nil {
			t.Fatalf("%s: no MSG SIZE in dig's output:\n%s", transport, out)
		}
		got, _ := strconv.Atoi(sm[1])
		m.Compress = false
		plain := m.Len()
		m.Compress = true
		compressed := m.Len()
		t.Logf("%s: %d bytes on the wire; the same message %d compressed, %d uncompressed", transport, got, compressed, plain)
		if got != compressed {
			t.Errorf("%s: %d bytes on the wire, want %d (compressed; uncompressed it is %d)", transport, got, compressed, plain)
		}
	}
}
