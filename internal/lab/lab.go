package lab

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"sync"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// adminUser is the static-token user with system:masters in every member.
const adminUser = "fedlab-admin"

// Config describes a lab.
type Config struct {
	// Dir holds certificates, kubeconfigs, data and logs. When empty the lab
	// uses a new temporary directory and removes it on Close; a given Dir is
	// left in place for the caller.
	Dir string
	// BinDir holds kube-apiserver and coredns-fed.
	BinDir string
	// Etcd is the etcd binary; default "etcd" from PATH.
	Etcd string
	// RBACManifest is applied in every member; it must create the reader
	// ServiceAccount (deploy/member/rbac.yaml).
	RBACManifest string

	// Domain is the zone coredns-fed serves, Federation the federation name
	// and Namespace where the federated Services live.
	Domain, Federation, Namespace string
	// Services are the federated Services created in every member at start.
	Services []string
	// Clusters are the members.
	Clusters []ClusterSpec

	// ShardHealth holds the lines of the shardhealth block in coredns-fed's
	// server block; nil leaves shardhealth out, so answers follow endpoint
	// readiness alone.
	ShardHealth []string
	// FederationOptions are extra lines for the federation block of the
	// Corefile, ServerOptions extra plugin lines for its server block, and
	// ExtraServerBlocks is appended after that block verbatim.
	FederationOptions []string
	ServerOptions     []string
	ExtraServerBlocks string
	// Geo writes the lab's geo database at start and turns geo answers on
	// in its coredns-fed's federation block.
	Geo bool

	// AdvertiseLoopback makes every kube-apiserver advertise 127.0.0.1. It
	// is needed in a network namespace with only loopback (no default route),
	// where kube-apiserver finds no address of its own and refuses to start.
	AdvertiseLoopback bool

	// Audit has every kube-apiserver write an audit log of the list and
	// watch requests made by ServiceAccounts (coredns-fed's reader), one
	// line per request as it arrives; see Lab.AuditLog.
	Audit bool

	// Logf reports progress; default log.Printf.
	Logf func(format string, args ...any)
}

// ClusterSpec describes one member cluster.
type ClusterSpec struct {
	Name   string
	Region string
	// Zones get one Node each; a member with two zones is a shard of both.
	Zones []string
}

// Cluster is a running member cluster: a kube-apiserver on loopback and the
// backend behind its load balancer.
type Cluster struct {
	Name   string
	Region string
	Zones  []string
	// Addr is the member's load-balancer ingress IP, where its backend
	// listens on port 80.
	Addr string
	// Server is the kube-apiserver's URL.
	Server string
	// AdminKubeconfig has system:masters credentials; ReaderKubeconfig
	// holds the reader ServiceAccount's token, for coredns-fed.
	AdminKubeconfig, ReaderKubeconfig string
	// Client and RESTConfig use the admin credentials.
	Client     *kubernetes.Clientset
	RESTConfig *rest.Config

	index     int
	dir       string
	apiPort   int
	apiserver *Process
	backend   *backend

	mu    sync.Mutex
	ready bool
}

func (c *Cluster) certDir() string   { return filepath.Join(c.dir, "certs") }
func (c *Cluster) saKeyPath() string { return filepath.Join(c.dir, "sa.key") }

// Lab is a running set of member clusters sharing one etcd, and optionally
// coredns-fed serving their federation.
type Lab struct {
	cfg     Config
	dir     string
	tempDir bool
	ca      *authority
	token   string
	etcd    *etcd

	clusters []*Cluster
	byName   map[string]*Cluster

	mu        sync.Mutex
	dns       *CoreDNS
	extra     map[string]*CoreDNS
	closeOnce sync.Once
}

// Start brings up etcd, one kube-apiserver per member, the members' objects
// and backends. On error everything already started is stopped again.
func Start(ctx context.Context, cfg Config) (*Lab, error) {
	if err := cfg.complete(); err != nil {
		return nil, err
	}
	l := &Lab{cfg: cfg, dir: cfg.Dir, byName: map[string]*Cluster{}, extra: map[string]*CoreDNS{}}
	if err := l.start(ctx); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

func (cfg *Config) complete() error {
	if cfg.Logf == nil {
		cfg.Logf = log.Printf
	}
	if cfg.Etcd == "" {
		cfg.Etcd = "etcd"
	}
	etcd, err := exec.LookPath(cfg.Etcd)
	if err != nil {
		return fmt.Errorf("etcd not found (%v); install it with `make apt` (Debian package etcd-server)", err)
	}
	cfg.Etcd = etcd
	if err := checkExecutable(filepath.Join(cfg.BinDir, "kube-apiserver"), "build it with `make kube-apiserver`"); err != nil {
		return err
	}
	if _, err := os.Stat(cfg.RBACManifest); err != nil {
		return fmt.Errorf("RBAC manifest: %w", err)
	}
	if cfg.Domain == "" || cfg.Federation == "" || cfg.Namespace == "" || len(cfg.Clusters) == 0 {
		return errors.New("lab config needs Domain, Federation, Namespace and Clusters")
	}
	seen := map[string]bool{}
	for _, c := range cfg.Clusters {
		if c.Name == "" || c.Region == "" || len(c.Zones) == 0 {
			return fmt.Errorf("cluster %q needs a name, a region and at least one zone", c.Name)
		}
		if seen[c.Name] {
			return fmt.Errorf("cluster %q listed twice", c.Name)
		}
		seen[c.Name] = true
	}
	return nil
}

func (l *Lab) start(ctx context.Context) error {
	var err error
	if l.dir == "" {
		if l.dir, err = makeTempDir(); err != nil {
			return err
		}
		l.tempDir = true
	} else if err := os.MkdirAll(l.dir, 0o755); err != nil {
		return err
	}
	if l.ca, err = newAuthority(); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(l.dir, "ca.crt"), l.ca.certPEM, 0o644); err != nil {
		return err
	}
	l.token = randomToken()
	if l.cfg.Geo {
		if err := l.WriteGeoDatabase(); err != nil {
			return err
		}
	}

	for i, spec := range l.cfg.Clusters {
		c := &Cluster{
			Name:   spec.Name,
			Region: spec.Region,
			Zones:  append([]string(nil), spec.Zones...),
			index:  i,
			dir:    filepath.Join(l.dir, "clusters", spec.Name),
			ready:  true,
		}
		c.AdminKubeconfig = filepath.Join(c.dir, "admin.kubeconfig")
		c.ReaderKubeconfig = filepath.Join(c.dir, "reader.kubeconfig")
		l.clusters = append(l.clusters, c)
		l.byName[c.Name] = c
	}
	if err := l.startBackends(); err != nil {
		return err
	}
	l.logf("starting etcd")
	if l.etcd, err = startEtcd(ctx, l.cfg.Etcd, l.dir); err != nil {
		return err
	}
	l.logf("starting %d kube-apiservers", len(l.clusters))
	if err := l.eachCluster(func(c *Cluster) error { return l.startCluster(ctx, c) }); err != nil {
		return err
	}
	return writeCombinedKubeconfig(l.Kubeconfig(), l.clusters, l.ca.certPEM, l.token)
}

// startBackends binds every member's backend address, drawing new addresses
// when another lab on the machine holds one of them.
func (l *Lab) startBackends() error {
	var err error
	for range 10 {
		addrs := backendAddrs(len(l.clusters))
		for i, c := range l.clusters {
			c.Addr = addrs[i]
			c.backend = newBackend(c.Name, c.Addr, l.logf)
			if err = c.backend.start(); err != nil {
				break
			}
		}
		if err == nil {
			return nil
		}
		for _, c := range l.clusters {
			if c.backend != nil {
				c.backend.stop()
			}
		}
	}
	return err
}

// startCluster starts the member's kube-apiserver and writes what a real
// cluster would hold: the reader RBAC, Nodes, federated Services with their
// load-balancer status and EndpointSlices.
func (l *Lab) startCluster(ctx context.Context, c *Cluster) error {
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return err
	}
	port, err := FreePort()
	if err != nil {
		return err
	}
	c.apiPort = port
	c.Server = "https://" + HostPort(Loopback, port)
	if err := prepareAPIServer(c, l.ca, l.token, l.cfg.Audit); err != nil {
		return err
	}
	if err := clientcmd.WriteToFile(*kubeconfig(c, l.ca.certPEM, adminUser, l.token), c.AdminKubeconfig); err != nil {
		return err
	}
	if c.Client, c.RESTConfig, err = ClientFor(c.AdminKubeconfig); err != nil {
		return err
	}
	c.apiserver = NewProcess("kube-apiserver "+c.Name, filepath.Join(c.dir, "kube-apiserver.log"),
		append([]string{filepath.Join(l.cfg.BinDir, "kube-apiserver")}, apiserverArgs(c, l.etcd.clientURL, c.index, l.cfg.AdvertiseLoopback, l.cfg.Audit)...)...)
	if err := c.apiserver.Start(); err != nil {
		return err
	}
	if err := waitReady(ctx, c, c.Client); err != nil {
		return err
	}
	l.logf("%s: kube-apiserver ready at %s (pid %d)", c.Name, c.Server, c.apiserver.PID())

	if err := ApplyManifest(ctx, c.RESTConfig, l.cfg.RBACManifest); err != nil {
		return fmt.Errorf("%s: %w", c.Name, err)
	}
	if err := writeReaderKubeconfig(ctx, c, c.Client, l.ca.certPEM); err != nil {
		return err
	}
	for _, zone := range c.Zones {
		if err := c.AddNode(ctx, zone); err != nil {
			return fmt.Errorf("%s: node in %s: %w", c.Name, zone, err)
		}
	}
	for _, svc := range l.cfg.Services {
		if err := c.AddService(ctx, l.cfg.Namespace, svc, l.cfg.Federation); err != nil {
			return err
		}
	}
	return nil
}

// eachCluster runs fn for every member concurrently and joins the errors.
func (l *Lab) eachCluster(fn func(*Cluster) error) error {
	errs := make([]error, len(l.clusters))
	var wg sync.WaitGroup
	for i, c := range l.clusters {
		wg.Go(func() { errs[i] = fn(c) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Close stops everything the lab started, newest first, and removes its
// temporary directory. It is safe to call more than once.
func (l *Lab) Close() {
	l.closeOnce.Do(func() {
		for _, d := range l.extraServers() {
			d.Stop()
		}
		if d := l.DNS(); d != nil {
			d.proc.Stop()
		}
		l.eachCluster(func(c *Cluster) error {
			if c.apiserver != nil {
				c.apiserver.Stop()
			}
			return nil
		})
		if l.etcd != nil {
			l.etcd.proc.Stop()
		}
		for _, c := range l.clusters {
			if c.backend != nil {
				c.backend.stop()
			}
		}
		if l.tempDir {
			os.RemoveAll(l.dir)
		}
	})
}

// Dir is the lab's working directory.
func (l *Lab) Dir() string { return l.dir }

// Config returns the lab's configuration.
func (l *Lab) Config() Config { return l.cfg }

// Kubeconfig is the path of a kubeconfig holding every member as a context,
// with admin credentials.
func (l *Lab) Kubeconfig() string { return filepath.Join(l.dir, "kubeconfig") }

// Clusters returns the members in configuration order.
func (l *Lab) Clusters() []*Cluster { return l.clusters }

// Cluster returns the member called name.
func (l *Lab) Cluster(name string) (*Cluster, error) {
	c, ok := l.byName[name]
	if !ok {
		return nil, fmt.Errorf("no cluster %q in the lab", name)
	}
	return c, nil
}

// PIDs returns the process id of every child process that is running, by
// role, for callers that record them.
func (l *Lab) PIDs() map[string]int {
	pids := map[string]int{}
	if l.etcd != nil {
		if pid := l.etcd.proc.PID(); pid != 0 {
			pids["etcd"] = pid
		}
	}
	for _, c := range l.clusters {
		if c.apiserver != nil {
			if pid := c.apiserver.PID(); pid != 0 {
				pids["kube-apiserver/"+c.Name] = pid
			}
		}
	}
	if d := l.DNS(); d != nil {
		if pid := d.proc.PID(); pid != 0 {
			pids["coredns-fed"] = pid
		}
	}
	for _, d := range l.extraServers() {
		if pid := d.proc.PID(); pid != 0 {
			pids["coredns-fed/"+d.Name] = pid
		}
	}
	return pids
}

func (l *Lab) logf(format string, args ...any) { l.cfg.Logf(format, args...) }

func randomToken() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}
