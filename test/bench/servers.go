package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/coredns-fed/coredns-fed/internal/lab"
)

// Server is a DNS server under test, running on 127.0.0.1.
type Server struct {
	Name     string // "federation", "federation-transfer", "federation-geo", "file", "whoami", "knot", "gdnsd", "knot-geoip"
	Addr     string // host:port for DNS
	Config   string // the Corefile or knot.conf it runs with
	PprofURL string // coredns-fed's pprof plugin, "" for Knot
	// MetricsURL is the prometheus plugin's /metrics, for the servers of a
	// cluster's own domain (stock, kubernetes, member); "" for the others.
	MetricsURL string
	proc       *lab.Process
}

// PID is the server's process id.
func (s *Server) PID() int { return s.proc.PID() }

// Stop stops the server.
func (s *Server) Stop() { s.proc.Stop() }

// ServerSpec says how to start one server.
type ServerSpec struct {
	Name string // as Server.Name, or a cluster DNS server of the member phase (member.go)
	Dir  string // working directory for its files and log
	CPUs string // taskset CPU list, "" for none

	Bin      string         // bin/coredns-fed (Knot: knotd from PATH)
	Clusters []*lab.Cluster // federation: the members, watched with their reader kubeconfigs
	ZoneFile string         // file and knot: the zone
	NotifyTo string         // federation-transfer: a secondary (host:port) told of every new serial

	Geo *GeoSetup // federation-geo: its database; gdnsd and knot-geoip: everything
}

// corefile renders the Corefile of a coredns-fed server. Every variant has
// the same server block around its one answering plugin; pprof only opens an
// HTTP listener and is not in the query path. federation-transfer adds the
// transfer plugin, which sits in the chain in front of federation.
func (sp ServerSpec) corefile(port, pprofPort int) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:%d {\n    bind 127.0.0.1\n", Domain, port)
	switch sp.Name {
	case "federation", "federation-transfer", "federation-geo":
		fmt.Fprintf(&b, "    federation %s {\n", Federation)
		for _, c := range sp.Clusters {
			fmt.Fprintf(&b, "        member %s {\n            kubeconfig %s\n        }\n", c.Name, c.ReaderKubeconfig)
		}
		fmt.Fprintf(&b, "        ns ns1.%s. 192.0.2.53\n", Domain)
		fmt.Fprintf(&b, "        %s\n", lab.SeedIngressAllow) // the lab's load balancers are on loopback
		if sp.Name == "federation-geo" {
			if sp.Geo == nil {
				return "", fmt.Errorf("federation-geo needs a geo setup")
			}
			fmt.Fprintf(&b, "        geo %s\n", sp.Geo.Database)
		}
		fmt.Fprintf(&b, "        startup_timeout 5m\n    }\n")
		if sp.Name == "federation-transfer" {
			fmt.Fprintf(&b, "    transfer {\n        %s\n    }\n", strings.TrimSpace("to * "+sp.NotifyTo))
		}
	case "file":
		fmt.Fprintf(&b, "    file %s\n", sp.ZoneFile)
	case "whoami":
		fmt.Fprintf(&b, "    whoami\n")
	default:
		return "", fmt.Errorf("no Corefile for server %q", sp.Name)
	}
	fmt.Fprintf(&b, "    pprof 127.0.0.1:%d\n}\n", pprofPort)
	return b.String(), nil
}

// knotConf renders knotd's configuration: one UDP and one TCP worker, the zone
// from the file, nothing written back.
func (sp ServerSpec) knotConf(port int) string {
	return lab.KnotServerConf(sp.Dir, port, "warning") + fmt.Sprintf(`
template:
  - id: default
    storage: "%[1]s"
    journal-content: none
    zonefile-sync: -1
    zonefile-load: whole
    semantic-checks: off

zone:
  - domain: %[2]s
    file: "%[3]s"
`, sp.Dir, Domain, sp.ZoneFile)
}

// Start writes the server's configuration and starts it; it does not wait
// for answers (see WaitAnswering).
func (sp ServerSpec) Start() (*Server, error) {
	if err := os.MkdirAll(sp.Dir, 0o755); err != nil {
		return nil, err
	}
	port, err := lab.FreeDNSPort()
	if err != nil {
		return nil, err
	}
	s := &Server{Name: sp.Name, Addr: lab.HostPort(lab.Loopback, port)}
	logPath := filepath.Join(sp.Dir, sp.Name+".log")
	var argv []string
	switch sp.Name {
	case "knot":
		s.Config = sp.knotConf(port)
		conf := filepath.Join(sp.Dir, "knot.conf")
		if err := os.WriteFile(conf, []byte(s.Config), 0o644); err != nil {
			return nil, err
		}
		argv = []string{"knotd", "-c", conf}
	case "gdnsd", "knot-geoip":
		if argv, err = sp.geoServer(s, port); err != nil {
			return nil, err
		}
	default:
		pprofPort, err := lab.FreePort()
		if err != nil {
			return nil, err
		}
		if isClusterServer(sp.Name) {
			metricsPort, err := lab.FreePort()
			if err != nil {
				return nil, err
			}
			if s.Config, err = sp.clusterCorefile(port, pprofPort, metricsPort); err != nil {
				return nil, err
			}
			s.MetricsURL = "http://" + lab.HostPort(lab.Loopback, metricsPort) + "/metrics"
		} else if s.Config, err = sp.corefile(port, pprofPort); err != nil {
			return nil, err
		}
		conf := filepath.Join(sp.Dir, "Corefile."+sp.Name)
		if err := os.WriteFile(conf, []byte(s.Config), 0o644); err != nil {
			return nil, err
		}
		s.PprofURL = "http://" + lab.HostPort(lab.Loopback, pprofPort) + "/debug/pprof"
		argv = []string{sp.Bin, "-conf", conf}
	}
	if s.proc, err = lab.StartProcess(sp.Name, logPath, lab.Pinned(sp.CPUs, argv...)...); err != nil {
		return nil, err
	}
	return s, nil
}

// WaitAnswering asks name A every 10 ms until the server answers NOERROR (the
// federation answers SERVFAIL until every member has synced; the file plugin
// until the zone is loaded) and returns when that happened.
func (s *Server) WaitAnswering(ctx context.Context, name string, timeout time.Duration) (time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c := &dns.Client{Timeout: 500 * time.Millisecond}
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	var at time.Time
	err := lab.Poll(ctx, 10*time.Millisecond, s.proc, func() error {
		r, _, err := c.Exchange(m, s.Addr)
		switch {
		case err != nil:
			return err
		case r.Rcode != dns.RcodeSuccess:
			return errors.New(dns.RcodeToString[r.Rcode])
		}
		at = time.Now()
		return nil
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("%s at %s not answering %s: %w", s.Name, s.Addr, name, err)
	}
	return at, nil
}
