// Command coredns-fed is a CoreDNS build that adds the federation and shardhealth
// plugins to the standard ones. It drops the cloud-provider backends (route53,
// azure, clouddns, etcd, nomad) that a federation server does not need.
//
// When GOMEMLIMIT is not set, the Go runtime's soft memory limit is 90 % of
// the memory limit of the process's cgroup (memlimit.go).
//
// "coredns-fed explain [-status ADDRESS] NAME [CLIENT]" asks a running server's
// status listener why NAME gets its answer (explain.go).
package main

import (
	"os"

	_ "github.com/coredns/caddy/onevent"
	_ "github.com/coredns/coredns/plugin/acl"
	_ "github.com/coredns/coredns/plugin/any"
	_ "github.com/coredns/coredns/plugin/auto"
	_ "github.com/coredns/coredns/plugin/autopath"
	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/bufsize"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/cancel"
	_ "github.com/coredns/coredns/plugin/chaos"
	_ "github.com/coredns/coredns/plugin/debug"
	_ "github.com/coredns/coredns/plugin/dns64"
	_ "github.com/coredns/coredns/plugin/dnssec"
	_ "github.com/coredns/coredns/plugin/dnstap"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/file"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/geoip"
	_ "github.com/coredns/coredns/plugin/header"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/hosts"
	_ "github.com/coredns/coredns/plugin/k8s_external"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/local"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/metadata"
	_ "github.com/coredns/coredns/plugin/metrics"
	_ "github.com/coredns/coredns/plugin/minimal"
	_ "github.com/coredns/coredns/plugin/nsid"
	_ "github.com/coredns/coredns/plugin/pprof"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
	_ "github.com/coredns/coredns/plugin/rewrite"
	_ "github.com/coredns/coredns/plugin/root"
	_ "github.com/coredns/coredns/plugin/secondary"
	_ "github.com/coredns/coredns/plugin/sign"
	_ "github.com/coredns/coredns/plugin/template"
	_ "github.com/coredns/coredns/plugin/timeouts"
	_ "github.com/coredns/coredns/plugin/tls"
	_ "github.com/coredns/coredns/plugin/transfer"
	_ "github.com/coredns/coredns/plugin/tsig"
	_ "github.com/coredns/coredns/plugin/view"
	_ "github.com/coredns/coredns/plugin/whoami"

	_ "github.com/coredns-fed/coredns-fed/plugin/federation"
	_ "github.com/coredns-fed/coredns-fed/plugin/shardhealth"

	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"
	clog "github.com/coredns/coredns/plugin/pkg/log"
)

// directives is CoreDNS's order with the cloud backends left out. shardhealth and
// federation come before kubernetes: in member mode federation must see
// S.N.F.svc.cluster.local before kubernetes answers NXDOMAIN for it, and it
// asks kubernetes (its next plugin) for the local Service. They also come
// before transfer: the federation hands AXFR and IXFR on to it, and every other
// query is answered without the transfer plugin's large stack frame under it
// (with it there, most queries grew their goroutine's stack: a quarter of the
// throughput, docs/benchmarks.md).
var directives = []string{
	"root",
	"metadata",
	"geoip",
	"cancel",
	"timeouts",
	"reload",
	"nsid",
	"bufsize",
	"bind",
	"debug",
	"ready",
	"health",
	"pprof",
	"prometheus",
	"errors",
	"log",
	"dnstap",
	"local",
	"dns64",
	"any",
	"chaos",
	"loadbalance",
	"tsig",
	"rewrite",
	"autopath",
	"acl",
	"cache",
	"header",
	"dnssec",
	"tls",
	"minimal",
	"template",
	"shardhealth",
	"federation",
	"transfer",
	"hosts",
	"k8s_external",
	"kubernetes",
	"file",
	"auto",
	"secondary",
	"loop",
	"forward",
	"whoami",
	"on",
	"sign",
	"view",
}

func init() {
	dnsserver.Directives = directives
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "explain" {
		os.Exit(explain(os.Args[2:], os.Stdout, os.Stderr))
	}
	// A soft memory limit below the container's, so that the collector works
	// harder near it instead of letting the heap reach twice the live heap.
	if msg, err := setMemoryLimit("/", os.Getenv); err != nil {
		clog.Warningf("memory limit: %v; the Go runtime's default applies", err)
	} else if msg != "" {
		clog.Infof("memory limit: %s", msg)
	}
	coremain.Run()
}
