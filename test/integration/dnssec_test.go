package integration

import (
	"context"
	"crypto"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/coredns-fed/coredns-fed/internal/lab"
)

// zoneKey writes a DNSSEC key of the lab's zone (ECDSA P-256, flags 257: one
// key signs everything) as the Kzone+013+tag.key and .private files
// dnssec-keygen writes, and returns their base path and the DNSKEY.
func zoneKey(t *testing.T, dir string) (string, *dns.DNSKEY) {
	t.Helper()
	k := &dns.DNSKEY{Hdr: dns.RR_Header{Name: lab.SeedDomain + ".", Rrtype: dns.TypeDNSKEY, Class: dns.ClassINET, Ttl: 3600},
		Flags: 257, Protocol: 3, Algorithm: dns.ECDSAP256SHA256}
	priv, err := k.Generate(256)
	if err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(dir, fmt.Sprintf("K%s.+%03d+%05d", k.Hdr.Name, k.Algorithm, k.KeyTag()))
	if err := os.WriteFile(base+".key", []byte(k.String()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(base+".private", []byte(k.PrivateKeyString(priv.(crypto.PrivateKey))), 0o600); err != nil {
		t.Fatal(err)
	}
	return base, k
}

func requireCommand(t *testing.T, name, pkg string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found (%v): install Debian's %s (make integration does)", name, err, pkg)
	}
	return path
}

// startUnbound runs a validating unbound on loopback whose only upstream is
// addr (for the zone and for the root, so nothing leaves the host), with the
// zone's key as its trust anchor.
func startUnbound(t *testing.T, dir, addr string, key *dns.DNSKEY) string {
	t.Helper()
	bin := requireCommand(t, "unbound", "unbound")
	port, err := lab.FreeDNSPort()
	if err != nil {
		t.Fatal(err)
	}
	host, dnsPort, _ := strings.Cut(addr, ":")
	conf := filepath.Join(dir, "unbound.conf")
	cfg := fmt.Sprintf(`server:
    interface: %[1]s
    port: %[2]d
    outgoing-interface: %[1]s
    do-ip6: no
    do-daemonize: no
    use-syslog: no
    logfile: ""
    chroot: ""
    username: ""
    directory: %[3]q
    pidfile: ""
    do-not-query-localhost: no
    module-config: "validator iterator"
    qname-minimisation: no
    trust-anchor: "%[4]s"
    val-log-level: 2
    verbosity: 1
stub-zone:
    name: "."
    stub-addr: %[5]s@%[6]s
stub-zone:
    name: %[7]q
    stub-addr: %[5]s@%[6]s
`, lab.Loopback, port, dir, fmt.Sprintf("%s DNSKEY %d %d %d %s", key.Hdr.Name, key.Flags, key.Protocol, key.Algorithm, key.PublicKey), host, dnsPort, lab.SeedDomain+".")
	if err := os.WriteFile(conf, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	proc, err := lab.StartProcess("unbound", filepath.Join(dir, "unbound.log"), bin, "-d", "-c", conf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proc.Stop)
	resolver := lab.HostPort(lab.Loopback, port)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := lab.Poll(ctx, 50*time.Millisecond, proc, func() error {
		_, err := validated(resolver, lab.SeedDomain+".", dns.TypeSOA)
		return err
	}); err != nil {
		t.Fatalf("unbound at %s: %v\n%s", resolver, err, lab.Tail(proc.Log(), 20))
	}
	return resolver
}

// validated asks resolver with the AD bit set (RFC 6840 §5.7), as a stub
// that trusts its resolver's validation does.
func validated(resolver, name string, qtype uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.AuthenticatedData = true
	m.SetEdns0(1232, true)
	c := &dns.Client{Net: "udp", Timeout: 3 * time.Second}
	r, _, err := c.Exchange(m, resolver)
	if err == nil && r.Truncated {
		c.Net = "tcp"
		r, _, err = c.Exchange(m, resolver)
	}
	return r, err
}

// TestDNSSEC: with the dnssec plugin in its server block, the federation's
// answers validate: unbound with the zone's key as trust anchor sets AD on a
// positive answer, on the zone → region → global CNAME chain, on a name that
// does not exist and on NODATA, and delv reports "fully validated". A signed
// four-address answer stays under 1232 bytes.
func TestDNSSEC(t *testing.T) {
	healthy(t)
	delv := requireCommand(t, "delv", "bind9-dnsutils")
	dir := t.TempDir()
	base, key := zoneKey(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	signed, err := fed.StartVariant(ctx, "signed", lab.Variant{
		ShardHealth:   fed.Config().ShardHealth,
		ServerOptions: []string{"dnssec {", "    key file " + base, "}"},
	})
	if err != nil {
		t.Fatalf("starting a signed coredns-fed: %v", err)
	}
	t.Cleanup(signed.Stop)

	// The size of a signed four-address answer, asked directly with the
	// DNS flag day's buffer size.
	m := new(dns.Msg)
	m.SetQuestion(globalName(), dns.TypeA)
	m.SetEdns0(1232, true)
	r, _, err := (&dns.Client{Net: "udp", Timeout: 3 * time.Second}).Exchange(m, signed.Addr)
	if err != nil {
		t.Fatal(err)
	}
	wire, _ := r.Pack()
	var as, sigs int
	for _, rr := range r.Answer {
		switch rr.(type) {
		case *dns.A:
			as++
		case *dns.RRSIG:
			sigs++
		}
	}
	if r.Truncated || as != 4 || sigs != 1 || len(wire) >= 1232 {
		t.Errorf("signed answer of %s: %d bytes, %d A, %d RRSIG, truncated %v; want 4 A and their RRSIG in under 1232 bytes\n%s",
			globalName(), len(wire), as, sigs, r.Truncated, r)
	}
	t.Logf("signed 4-address answer: %d bytes", len(wire))

	resolver := startUnbound(t, dir, signed.Addr, key)
	expectAD := func(name string, qtype uint16, rcode, answers int) *dns.Msg {
		t.Helper()
		r, err := validated(resolver, name, qtype)
		if err != nil {
			t.Fatalf("%s %s: %v", name, dns.TypeToString[qtype], err)
		}
		n := 0
		for _, rr := range r.Answer {
			if rr.Header().Rrtype != dns.TypeRRSIG {
				n++
			}
		}
		if !r.AuthenticatedData || r.Rcode != rcode || answers >= 0 && n != answers {
			t.Errorf("%s %s through unbound: AD %v, rcode %s, %d records; want AD, %s, %d records\n%s",
				name, dns.TypeToString[qtype], r.AuthenticatedData, dns.RcodeToString[r.Rcode], n, dns.RcodeToString[rcode], answers, r)
		}
		return r
	}
	// answers < 0: any number of records.
	expectAD(globalName(), dns.TypeA, dns.RcodeSuccess, 4)
	// NODATA: the name exists, without AAAA.
	expectAD(globalName(), dns.TypeAAAA, dns.RcodeSuccess, 0)
	// A name that does not exist: the dnssec plugin proves it with an NSEC
	// "black lie" (RFC 4470 minimal covering, as NODATA), which validates.
	expectAD("nosuch."+globalName(), dns.TypeA, dns.RcodeSuccess, 0)

	out, err := exec.Command(delv, "@"+lab.Loopback, "-p", strings.TrimPrefix(signed.Addr, lab.Loopback+":"),
		"-a", anchorFile(t, dir, key), "+root="+lab.SeedDomain, globalName(), "A").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "; fully validated") {
		t.Errorf("delv %s: %v\n%s", globalName(), err, out)
	}

	// The zone → region → global chain once europe's endpoints are unready.
	const europe = "gce-europe-west1"
	c := cluster(t, europe)
	setReady(t, europe, false)
	t.Cleanup(func() {
		setReady(t, europe, true)
		healthy(t)
	})
	zone := zoneName(c.Zones[0])
	eventuallyAt(t, signed, convergeTimeout, zone, dns.TypeA, positive(append([]string{
		cname(zone, regionName(c.Region)), cname(regionName(c.Region), globalName())},
		as3(except(europe))...)...))
	// unbound may chase the chain into its cached global answer: the count varies.
	r = expectAD(zone, dns.TypeA, dns.RcodeSuccess, -1)
	if r.Answer[0].Header().Rrtype != dns.TypeCNAME {
		t.Errorf("%s through unbound: the answer does not start with the CNAME\n%s", zone, r)
	}
	out, err = exec.Command(delv, "@"+lab.Loopback, "-p", strings.TrimPrefix(signed.Addr, lab.Loopback+":"),
		"-a", anchorFile(t, dir, key), "+root="+lab.SeedDomain, zone, "A").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "; fully validated") {
		t.Errorf("delv %s: %v\n%s", zone, err, out)
	}
}

// as3 is the global name's A records for the clusters.
func as3(clusters []*lab.Cluster) []string { return as(globalName(), clusters...) }

// anchorFile writes key as a delv trust anchor.
func anchorFile(t *testing.T, dir string, key *dns.DNSKEY) string {
	t.Helper()
	path := filepath.Join(dir, "anchors.conf")
	text := fmt.Sprintf("trust-anchors {\n    %q static-key %d %d %d %q;\n};\n",
		key.Hdr.Name, key.Flags, key.Protocol, key.Algorithm, key.PublicKey)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
