package lab

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// corednsReadyTimeout bounds how long coredns-fed may take to report ready:
// every member synced or declared unreachable after its startup_timeout.
const corednsReadyTimeout = 90 * time.Second

// CoreDNS is the coredns-fed server the lab runs against its members.
type CoreDNS struct {
	// Addr is the DNS server's host:port, for UDP and TCP.
	Addr string
	// Corefile is the path of the Corefile it was started with.
	Corefile string
	// HealthURL, ReadyURL and MetricsURL are the health, ready and
	// prometheus plugins' endpoints.
	HealthURL, ReadyURL, MetricsURL string

	proc *process
}

// corefile renders the server block for the lab's federation: the zone bound
// to 127.0.0.1, one member per cluster with its reader kubeconfig, and the
// ready, health and prometheus plugins on their own loopback ports.
func (l *Lab) corefile(dnsPort, healthPort, readyPort, metricsPort int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:%d {\n", l.cfg.Domain, dnsPort)
	fmt.Fprintf(&b, "    bind %s\n", loopback)
	fmt.Fprintf(&b, "    federation %s {\n", l.cfg.Federation)
	for _, c := range l.clusters {
		fmt.Fprintf(&b, "        member %s {\n", c.Name)
		fmt.Fprintf(&b, "            kubeconfig %s\n", c.ReaderKubeconfig)
		fmt.Fprintf(&b, "        }\n")
	}
	for _, line := range l.cfg.FederationOptions {
		fmt.Fprintf(&b, "        %s\n", line)
	}
	fmt.Fprintf(&b, "    }\n")
	for _, line := range l.cfg.ServerOptions {
		fmt.Fprintf(&b, "    %s\n", line)
	}
	fmt.Fprintf(&b, "    ready %s\n", hostPort(loopback, readyPort))
	fmt.Fprintf(&b, "    health %s\n", hostPort(loopback, healthPort))
	fmt.Fprintf(&b, "    prometheus %s\n", hostPort(loopback, metricsPort))
	fmt.Fprintf(&b, "    errors\n")
	fmt.Fprintf(&b, "}\n")
	if l.cfg.ExtraServerBlocks != "" {
		b.WriteString("\n" + l.cfg.ExtraServerBlocks)
	}
	return b.String()
}

// StartCoreDNS writes the Corefile and starts coredns-fed with it, then
// waits until its ready endpoint answers 200.
func (l *Lab) StartCoreDNS(ctx context.Context) (*CoreDNS, error) {
	if l.dns != nil {
		return nil, errors.New("coredns-fed already started")
	}
	bin := filepath.Join(l.cfg.BinDir, "coredns-fed")
	if err := checkExecutable(bin, "build it with `make build`"); err != nil {
		return nil, err
	}
	var ports [4]int
	var err error
	if ports[0], err = freeDNSPort(); err != nil {
		return nil, err
	}
	for i := 1; i < len(ports); i++ {
		if ports[i], err = freePort(); err != nil {
			return nil, err
		}
	}
	d := &CoreDNS{
		Addr:       hostPort(loopback, ports[0]),
		Corefile:   filepath.Join(l.dir, "Corefile"),
		HealthURL:  "http://" + hostPort(loopback, ports[1]) + "/health",
		ReadyURL:   "http://" + hostPort(loopback, ports[2]) + "/ready",
		MetricsURL: "http://" + hostPort(loopback, ports[3]) + "/metrics",
	}
	if err := os.WriteFile(d.Corefile, []byte(l.corefile(ports[0], ports[1], ports[2], ports[3])), 0o644); err != nil {
		return nil, err
	}
	d.proc = newProcess("coredns-fed", bin, filepath.Join(l.dir, "coredns-fed.log"), "-conf", d.Corefile)
	if err := d.proc.start(); err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.dns = d
	l.mu.Unlock()
	l.logf("coredns-fed started (pid %d), DNS on %s", d.proc.pid(), d.Addr)

	ctx, cancel := context.WithTimeout(ctx, corednsReadyTimeout)
	defer cancel()
	err = poll(ctx, d.proc, func() error {
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
		return nil, fmt.Errorf("coredns-fed not ready: %w", err)
	}
	l.logf("coredns-fed ready")
	return d, nil
}

// DNS returns the running coredns-fed, or nil before StartCoreDNS.
func (l *Lab) DNS() *CoreDNS {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.dns
}

// PID returns coredns-fed's process id, 0 when it is not running.
func (d *CoreDNS) PID() int { return d.proc.pid() }

// Exited is closed when coredns-fed's process ends.
func (d *CoreDNS) Exited() <-chan struct{} { return d.proc.exited() }

// ExitErr describes how coredns-fed ended, with the tail of its log.
func (d *CoreDNS) ExitErr() error { return d.proc.exitErr() }

// Log returns the path of coredns-fed's log file.
func (d *CoreDNS) Log() string { return d.proc.logPath }

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
