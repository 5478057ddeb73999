package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/coredns-fed/coredns-fed/internal/lab"
)

// The zone as a secondary and a checker see it: the lab's zone transferred
// with dig passes named-checkzone, a transfer right after a fresh start gets
// the zone, and dnsviz finds nothing to report on the lab's names.

// transferVariant serves the lab's federation with the transfer plugin, as a
// secondary needs it.
var transferVariant = lab.Variant{
	ShardHealth:   lab.SeedShardHealth(),
	ServerOptions: []string{"transfer {", "    to *", "}"},
}

// requireTool fails the test when a command is missing, with the Debian
// package that has it (`make apt` installs the Makefile's APT_PKGS).
func requireTool(t testing.TB, cmd, pkg string) string {
	t.Helper()
	path, err := exec.LookPath(cmd)
	if err != nil {
		t.Fatalf("%s not found (%v); `make apt` installs it (Debian package %s)", cmd, err, pkg)
	}
	return path
}

// axfr transfers the lab's zone from addr with dig and returns dig's output.
// dig prints "; Transfer failed." and still exits 0 when the server refuses
// or fails, so the output is checked: it must open and close with the SOA.
func axfr(t testing.TB, addr string) string {
	t.Helper()
	// +time: a transfer asked for before the first snapshot waits for it.
	out := digAt(t, addr, lab.SeedDomain, "AXFR", "+nocmd", "+nostats", "+time=20")
	var types []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if f := strings.Fields(line); len(f) >= 4 && !strings.HasPrefix(line, ";") {
			types = append(types, f[3])
		}
	}
	if len(types) < 3 || types[0] != "SOA" || types[len(types)-1] != "SOA" {
		t.Fatalf("AXFR %s from %s: not SOA ... SOA:\n%s", lab.SeedDomain, addr, out)
	}
	return out
}

// TestZoneTransferPassesNamedCheckzone: the lab's zone, transferred with dig
// from a coredns-fed with the transfer plugin, loads in named-checkzone (BIND's
// zone checker) without an error or a warning: the NS has its glue address,
// and every record is one a secondary accepts.
func TestZoneTransferPassesNamedCheckzone(t *testing.T) {
	checkzone := requireTool(t, "named-checkzone", "bind9-utils")
	healthy(t)
	ctx, cancel := context.WithTimeout(t.Context(), 3*convergeTimeout)
	defer cancel()
	d, err := fed.StartVariant(ctx, "transfer", transferVariant)
	if err != nil {
		t.Fatalf("starting coredns-fed with the transfer plugin: %v", err)
	}
	t.Cleanup(d.Stop)
	healthyAt(t, d)

	zone := axfr(t, d.Addr)
	var records []string
	for _, line := range strings.Split(zone, "\n") {
		if f := strings.Fields(line); len(f) == 5 {
			records = append(records, strings.Join(slices.Delete(f, 1, 2), " ")) // without the TTL
		}
	}
	for _, want := range []string{
		lab.SeedDomain + ". IN NS " + fed.NSName(),
		fed.NSName() + " IN A " + lab.Loopback,
	} {
		if !slices.Contains(records, want) {
			t.Errorf("AXFR lacks %q:\n%s", want, zone)
		}
	}
	path := filepath.Join(t.TempDir(), "zone")
	if err := os.WriteFile(path, []byte(zone), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(checkzone, lab.SeedDomain, path).CombinedOutput()
	t.Logf("named-checkzone %s:\n%s", lab.SeedDomain, out)
	if err != nil {
		t.Fatalf("named-checkzone: %v\n%s\nzone:\n%s", err, out, zone)
	}
	// It prints "zone Z/IN: loaded serial N" and "OK"; anything else is a warning.
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line != "OK" && !strings.HasPrefix(line, "zone "+lab.SeedDomain+"/IN: loaded serial ") {
			t.Errorf("named-checkzone: %s", line)
		}
	}
}

// freshStarts is how many times TestZoneTransferRightAfterStart starts a
// coredns-fed: the failure it guards against hit about 3 starts in 8.
const freshStarts = 3

// TestZoneTransferRightAfterStart: an AXFR sent as soon as a new coredns-fed
// accepts TCP connections, before its members have synced, gets the zone: the
// transfer waits for the first snapshot. It used to get SERVFAIL ("Transfer
// failed") whenever it beat the first sync.
func TestZoneTransferRightAfterStart(t *testing.T) {
	healthy(t)
	for i := range freshStarts {
		name := fmt.Sprintf("transfer-start-%d", i)
		ports := make(chan int, 1)
		started := make(chan error, 1)
		var d *lab.CoreDNS
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 3*convergeTimeout)
			defer cancel()
			var err error
			d, err = fed.StartServer(ctx, name, func(p lab.Ports) string {
				ports <- p.DNS
				return fed.VariantCorefile(p, transferVariant)
			})
			started <- err
		}()
		addr := lab.HostPort(lab.Loopback, <-ports)
		dialErr := waitListening(addr, started)
		var zone string
		if dialErr == nil {
			zone = axfrNoFatal(addr)
		}
		if err := <-started; err != nil {
			t.Fatalf("start %d: %v", i, err)
		}
		d.Stop()
		if dialErr != nil {
			t.Fatalf("start %d: %v", i, dialErr)
		}
		if !strings.HasPrefix(zone, lab.SeedDomain+".") || strings.Contains(zone, "Transfer failed") {
			t.Errorf("start %d: AXFR right after the start:\n%s", i, zone)
		}
	}
}

// waitListening returns once addr accepts a TCP connection, or with an error
// when the server's start ends first or takes a minute.
func waitListening(addr string, started <-chan error) error {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			// A connection to a port nobody listens on can connect to itself
			// when the kernel picks that port as the source: not the server.
			self := c.LocalAddr().String() == c.RemoteAddr().String()
			c.Close()
			if !self {
				return nil
			}
		}
		select {
		case err := <-started:
			return fmt.Errorf("server start ended before it listened on %s: %v", addr, err)
		case <-time.After(5 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s not listening within a minute", addr)
}

// axfrNoFatal is dig's AXFR of the lab's zone from addr, for a goroutine that
// must not stop the test: errors come back in the output.
func axfrNoFatal(addr string) string {
	host, port, _ := net.SplitHostPort(addr)
	out, err := exec.Command("dig", "@"+host, "-p", port, "+tries=1", "+time=20",
		lab.SeedDomain, "AXFR", "+nocmd", "+nostats").CombinedOutput()
	if err != nil {
		return fmt.Sprintf("dig: %v\n%s", err, out)
	}
	return string(out)
}

// netnsEnv, when set, tells the test binary it runs inside the network
// namespace TestDNSViz made: TestMain starts no shared lab, and TestDNSViz
// runs its own.
const netnsEnv = "FEDLAB_NETNS_CHILD"

// TestDNSViz probes the lab's names with dnsviz (authoritative analysis, with
// its EDNS compatibility tests) and fails on any error or warning it reports.
// dnsviz also asks the root servers and the system's resolver, so it runs in
// a network namespace with only loopback, with a lab of its own: the test
// binary runs itself again under `unshare -n` (root only), and that run brings
// up lo, starts two members (their kube-apiservers advertise 127.0.0.1, since
// there is no default route) and a coredns-fed, and runs dnsviz there.
func TestDNSViz(t *testing.T) {
	if os.Getenv(netnsEnv) != "" {
		dnsvizInNamespace(t)
		return
	}
	requireTool(t, "dnsviz", "dnsviz")
	unshare := requireTool(t, "unshare", "util-linux")
	requireTool(t, "ip", "iproute2")
	if os.Geteuid() != 0 {
		t.Skip("dnsviz runs in a network namespace of its own: `unshare -n` needs root")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, unshare, "-n", "--", self, "-test.run", "^TestDNSViz$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), netnsEnv+"=1")
	// The run in the namespace, and through it its lab, dies with this one.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.CombinedOutput()
	t.Logf("in a loopback-only network namespace:\n%s", out)
	if err != nil {
		t.Fatalf("dnsviz run in the network namespace: %v", err)
	}
}

// dnsvizInNamespace is TestDNSViz inside the network namespace.
func dnsvizInNamespace(t *testing.T) {
	if out, err := exec.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("ip link set lo up: %v\n%s", err, out)
	}
	cfg := lab.SeedConfig(repoRoot)
	cfg.Clusters = cfg.Clusters[:2]
	cfg.AdvertiseLoopback = true
	cfg.Logf = t.Logf
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	l, err := lab.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("starting the lab in the namespace: %v", err)
	}
	t.Cleanup(l.Close)
	d, err := l.StartCoreDNS(ctx)
	if err != nil {
		t.Fatalf("starting coredns-fed in the namespace: %v", err)
	}

	// The names: the apex, its name server, an empty non-terminal, and the
	// service at every level of both members, in both zone forms. Each level
	// answers its members' addresses before dnsviz asks (the probes passed).
	names := []string{lab.SeedDomain + ".", l.NSName(), "svc." + lab.SeedDomain + ".", globalName()}
	eventuallyAt(t, d, convergeTimeout, globalName(), dns.TypeA, positive(as(globalName(), l.Clusters()...)...))
	for _, c := range l.Clusters() {
		levels := []string{regionName(c.Region)}
		for _, z := range c.Zones {
			levels = append(levels, zoneName(z), zoneRegionName(z, c.Region))
		}
		for _, name := range levels {
			eventuallyAt(t, d, convergeTimeout, name, dns.TypeA, positive(as(name, c)...))
		}
		names = append(names, levels...)
	}
	dir := t.TempDir()
	namesFile, probe := filepath.Join(dir, "names.txt"), filepath.Join(dir, "probe.json")
	if err := os.WriteFile(namesFile, []byte(strings.Join(names, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	server := fmt.Sprintf("%s+:%s=%s", lab.SeedDomain, strings.TrimSuffix(l.NSName(), "."), d.Addr)
	args := []string{"probe", "-4", "-A", "-E", "-n", "-x", server, "-f", namesFile, "-o", probe}
	if out, err := exec.CommandContext(ctx, "dnsviz", args...).CombinedOutput(); err != nil {
		t.Fatalf("dnsviz %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	// The whole assessment (grok -l warning prints nothing at all when
	// there is nothing to report), so that it shows every name was probed.
	grok := exec.CommandContext(ctx, "dnsviz", "grok", "-r", probe)
	var stderr strings.Builder
	grok.Stderr = &stderr
	out, err := grok.Output()
	if err != nil {
		t.Fatalf("dnsviz grok -r %s: %v\n%s", probe, err, stderr.String())
	}
	var report map[string]any
	if err := json.Unmarshal(out, &report); err != nil {
		t.Fatalf("dnsviz grok output: %v\n%s", err, out)
	}
	for _, name := range names {
		if _, ok := report[name]; !ok {
			t.Errorf("dnsviz did not assess %s:\n%s", name, out)
		}
	}
	findings := dnsvizFindings(report, "")
	for _, f := range findings {
		t.Errorf("dnsviz: %s", f)
	}
	if len(findings) > 0 {
		lvl, _ := exec.CommandContext(ctx, "dnsviz", "grok", "-l", "warning", "-r", probe).Output()
		t.Logf("dnsviz grok -l warning:\n%s", lvl)
	}
}

// dnsvizFindings walks dnsviz grok's JSON and returns every entry under an
// "errors" or "warnings" key, with the path that leads to it.
func dnsvizFindings(v any, path string) []string {
	var out []string
	switch v := v.(type) {
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(v)) {
			p := path + "/" + k
			if k == "errors" || k == "warnings" {
				b, _ := json.Marshal(v[k])
				out = append(out, p+": "+string(b))
				continue
			}
			out = append(out, dnsvizFindings(v[k], p)...)
		}
	case []any:
		for i, e := range v {
			out = append(out, dnsvizFindings(e, fmt.Sprintf("%s[%d]", path, i))...)
		}
	}
	return out
}
