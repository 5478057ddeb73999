package lab

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
)

// corednsReadyTimeout bounds how long coredns-fed may take to report ready:
// every member synced or declared unreachable after its startup_timeout.
const corednsReadyTimeout = 90 * time.Second

// CoreDNS is a coredns-fed server the lab runs: the lab's own, serving its
// federation, or another one started for a test.
type CoreDNS struct {
	// Name is empty for the lab's own server, else the name it was started
	// under.
	Name string
	// Addr is the DNS server's host:port, for UDP and TCP.
	Addr string
	// Corefile is the path of the Corefile it was started with.
	Corefile string
	// HealthURL, ReadyURL and MetricsURL are the health, ready and
	// prometheus plugins' endpoints.
	HealthURL, ReadyURL, MetricsURL string
	// StatusURL is the federation's status page (the status option); its
	// JSON is at StatusURL + "status.json".
	StatusURL string

	lab  *Lab
	proc *Process
}

// Ports are the loopback ports of one coredns-fed: DNS over UDP and TCP,
// the health, ready and prometheus plugins, and the federation's status
// listener.
type Ports struct {
	DNS, Health, Ready, Metrics, Status int
}

// Variant describes another coredns-fed serving the lab's federation, with
// a Corefile that differs from the lab's own.
type Variant struct {
	// ShardHealth holds the lines of its shardhealth block; nil leaves
	// shardhealth out.
	ShardHealth []string
	// Kubeconfigs replaces members' reader kubeconfigs, by member name;
	// a value is "PATH" or "PATH CONTEXT", as the kubeconfig option takes.
	Kubeconfigs map[string]string
	// ServerOptions are extra plugin lines for its server block, after the
	// lab's own.
	ServerOptions []string
	// FederationOptions replaces the lab's extra federation block lines
	// (Config.FederationOptions) when not nil.
	FederationOptions []string
}

// corefile renders the server block for the lab's federation: the zone bound
// to 127.0.0.1, the shardhealth block when there is one, one member per
// cluster with its reader kubeconfig, and the ready, health and prometheus
// plugins on their own loopback ports.
func (l *Lab) corefile(p Ports, v Variant) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:%d {\n", l.cfg.Domain, p.DNS)
	fmt.Fprintf(&b, "    bind %s\n", Loopback)
	if v.ShardHealth != nil {
		fmt.Fprintf(&b, "    shardhealth {\n")
		for _, line := range v.ShardHealth {
			fmt.Fprintf(&b, "        %s\n", line)
		}
		fmt.Fprintf(&b, "    }\n")
	}
	fmt.Fprintf(&b, "    federation %s {\n", l.cfg.Federation)
	for _, c := range l.clusters {
		kubeconfig := c.ReaderKubeconfig
		if k, ok := v.Kubeconfigs[c.Name]; ok {
			kubeconfig = k
		}
		fmt.Fprintf(&b, "        member %s {\n", c.Name)
		fmt.Fprintf(&b, "            kubeconfig %s\n", kubeconfig)
		fmt.Fprintf(&b, "        }\n")
	}
	options := l.cfg.FederationOptions
	if v.FederationOptions != nil {
		options = v.FederationOptions
	}
	if !slices.ContainsFunc(options, func(l string) bool { return strings.HasPrefix(l, "resolvers") }) {
		// Ingress hostnames a test publishes are never resolved through the
		// host's resolver: the lab's packets stay on loopback (port 9 refuses).
		fmt.Fprintf(&b, "        resolvers %s {\n            timeout 200ms\n        }\n", HostPort(Loopback, 9))
	}
	for _, line := range options {
		fmt.Fprintf(&b, "        %s\n", line)
	}
	if !slices.ContainsFunc(options, isNSLine) {
		fmt.Fprintf(&b, "        ns %s %s\n", l.NSName(), Loopback)
	}
	if l.cfg.Geo {
		fmt.Fprintf(&b, "        geo %s\n", l.GeoDatabase())
	}
	fmt.Fprintf(&b, "        status %s\n", HostPort(Loopback, p.Status))
	fmt.Fprintf(&b, "    }\n")
	for _, line := range append(slices.Clone(l.cfg.ServerOptions), v.ServerOptions...) {
		fmt.Fprintf(&b, "    %s\n", line)
	}
	fmt.Fprintf(&b, "    ready %s\n", HostPort(Loopback, p.Ready))
	fmt.Fprintf(&b, "    health %s\n", HostPort(Loopback, p.Health))
	fmt.Fprintf(&b, "    prometheus %s\n", HostPort(Loopback, p.Metrics))
	fmt.Fprintf(&b, "    errors\n")
	fmt.Fprintf(&b, "}\n")
	if l.cfg.ExtraServerBlocks != "" {
		b.WriteString("\n" + l.cfg.ExtraServerBlocks)
	}
	return b.String()
}

// NSName is the name server the lab's Corefile gives the zone when its
// FederationOptions have no ns line: ns1 in the zone, with the address
// coredns-fed binds (127.0.0.1) as its glue, so that the zone passes a
// secondary's and a checker's load.
func (l *Lab) NSName() string { return "ns1." + strings.TrimSuffix(l.cfg.Domain, ".") + "." }

func isNSLine(line string) bool { return strings.HasPrefix(strings.TrimSpace(line), "ns ") }

// StartCoreDNS writes the lab's Corefile and starts coredns-fed with it,
// then waits until its ready endpoint answers 200.
func (l *Lab) StartCoreDNS(ctx context.Context) (*CoreDNS, error) {
	l.mu.Lock()
	started := l.dns != nil
	l.mu.Unlock()
	if started {
		return nil, errors.New("coredns-fed already started")
	}
	v := Variant{ShardHealth: l.cfg.ShardHealth}
	return l.startCoreDNS(ctx, "", func(p Ports) string { return l.corefile(p, v) })
}

// StartVariant starts another coredns-fed serving the lab's federation with
// the Corefile changed as v says, beside the lab's own, on ports of its own,
// for comparing configurations on the same members. Stop it when done; Close
// stops it too. name tells its files and logs apart.
func (l *Lab) StartVariant(ctx context.Context, name string, v Variant) (*CoreDNS, error) {
	return l.StartServer(ctx, name, func(p Ports) string { return l.corefile(p, v) })
}

// VariantCorefile renders the Corefile StartVariant starts v with, for the
// ports p: a test that needs the ports before the server is ready passes it
// to StartServer.
func (l *Lab) VariantCorefile(p Ports, v Variant) string { return l.corefile(p, v) }

// StartServer starts a coredns-fed with the Corefile that corefile renders
// for the ports the lab picked, and waits until it is ready: the Corefile
// must serve the ready plugin on Ports.Ready (and should serve health and
// prometheus on theirs). Stop it when done; Close stops it too.
func (l *Lab) StartServer(ctx context.Context, name string, corefile func(Ports) string) (*CoreDNS, error) {
	if !serverName.MatchString(name) {
		return nil, fmt.Errorf("server name %q: want lower-case letters, digits and '-'", name)
	}
	l.mu.Lock()
	_, taken := l.extra[name]
	l.mu.Unlock()
	if taken {
		return nil, fmt.Errorf("a coredns-fed named %q is already running", name)
	}
	return l.startCoreDNS(ctx, name, corefile)
}

var serverName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)

// startCoreDNS starts one coredns-fed: the lab's own when name is empty.
func (l *Lab) startCoreDNS(ctx context.Context, name string, render func(Ports) string) (*CoreDNS, error) {
	bin := filepath.Join(l.cfg.BinDir, "coredns-fed")
	if err := checkExecutable(bin, "build it with `make build`"); err != nil {
		return nil, err
	}
	var p Ports
	var err error
	if p.DNS, err = FreeDNSPort(); err != nil {
		return nil, err
	}
	for _, port := range []*int{&p.Health, &p.Ready, &p.Metrics, &p.Status} {
		if *port, err = FreePort(); err != nil {
			return nil, err
		}
	}
	corefile, logFile, procName := "Corefile", "coredns-fed.log", "coredns-fed"
	if name != "" {
		corefile, logFile, procName = "Corefile."+name, "coredns-fed-"+name+".log", "coredns-fed "+name
	}
	d := &CoreDNS{
		Name:       name,
		Addr:       HostPort(Loopback, p.DNS),
		Corefile:   filepath.Join(l.dir, corefile),
		HealthURL:  "http://" + HostPort(Loopback, p.Health) + "/health",
		ReadyURL:   "http://" + HostPort(Loopback, p.Ready) + "/ready",
		MetricsURL: "http://" + HostPort(Loopback, p.Metrics) + "/metrics",
		StatusURL:  "http://" + HostPort(Loopback, p.Status) + "/",
		lab:        l,
	}
	if err := os.WriteFile(d.Corefile, []byte(render(p)), 0o644); err != nil {
		return nil, err
	}
	d.proc = NewProcess(procName, filepath.Join(l.dir, logFile), bin, "-conf", d.Corefile)
	if err := d.proc.Start(); err != nil {
		return nil, err
	}
	l.mu.Lock()
	if name == "" {
		l.dns = d
	} else {
		l.extra[name] = d
	}
	l.mu.Unlock()
	l.logf("%s started (pid %d), DNS on %s", procName, d.proc.PID(), d.Addr)

	if err := d.WaitReady(ctx); err != nil {
		if name != "" {
			d.Stop()
		}
		return nil, err
	}
	l.logf("%s ready", procName)
	return d, nil
}

// WaitReady polls the server's ready endpoint until it answers 200, for at
// most corednsReadyTimeout.
func (d *CoreDNS) WaitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, corednsReadyTimeout)
	defer cancel()
	err := Poll(ctx, pollInterval, d.proc, func() error {
		resp, err := http.Get(d.ReadyURL)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", d.ReadyURL, resp.Status)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("%s not ready: %w", d.proc.name, err)
	}
	return nil
}

// Restart stops the server (SIGKILL when kill is set, else SIGTERM and a
// graceful shutdown) and starts it again with the same Corefile and ports,
// without waiting for it to be ready (see WaitReady): a cold start.
func (d *CoreDNS) Restart(kill bool) error {
	if kill {
		d.proc.Kill()
	} else {
		d.proc.Stop()
	}
	if err := d.proc.Start(); err != nil {
		return err
	}
	d.lab.logf("%s restarted (pid %d)", d.proc.name, d.proc.PID())
	return nil
}

// DNS returns the lab's own coredns-fed, or nil before StartCoreDNS.
func (l *Lab) DNS() *CoreDNS {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.dns
}

// extraServers returns the servers started with StartServer or StartVariant
// that have not been stopped, by name.
func (l *Lab) extraServers() []*CoreDNS {
	l.mu.Lock()
	defer l.mu.Unlock()
	var ds []*CoreDNS
	for _, name := range slices.Sorted(maps.Keys(l.extra)) {
		ds = append(ds, l.extra[name])
	}
	return ds
}

// Stop stops a server started with StartServer or StartVariant and waits
// for its process to end. It is safe to call more than once. The lab's own
// coredns-fed stops with the lab.
func (d *CoreDNS) Stop() {
	if d.Name == "" {
		return
	}
	d.proc.Stop()
	d.lab.mu.Lock()
	if d.lab.extra[d.Name] == d {
		delete(d.lab.extra, d.Name)
	}
	d.lab.mu.Unlock()
}

// PID returns coredns-fed's process id, 0 when it is not running.
func (d *CoreDNS) PID() int { return d.proc.PID() }

// Exited is closed when coredns-fed's process ends.
func (d *CoreDNS) Exited() <-chan struct{} { return d.proc.Exited() }

// ExitErr describes how coredns-fed ended, with the tail of its log.
func (d *CoreDNS) ExitErr() error { return d.proc.ExitErr() }

// Log returns the path of coredns-fed's log file.
func (d *CoreDNS) Log() string { return d.proc.Log() }

func checkExecutable(path, hint string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("%s is missing (%s)", path, hint)
	}
	if fi.IsDir() || fi.Mode()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable file (%s)", path, hint)
	}
	return nil
}
