// Package integration runs the seed walkthrough end to end: real member
// kube-apiservers, real coredns-fed, real DNS clients. One lab serves every
// test in the package; tests run one after another and each leaves the lab
// as it found it.
package integration

import (
	"context"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/coredns-fed/coredns-fed/internal/lab"
)

// fed is the lab shared by every test, dnsAddr where coredns-fed answers
// for it, and repoRoot the repository the tests run in.
var (
	fed      *lab.Lab
	dnsAddr  string
	repoRoot string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	root, err := lab.RepoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		return 1
	}
	repoRoot = root
	if os.Getenv(netnsEnv) != "" {
		// Run again inside a network namespace by TestDNSViz, which starts a
		// lab of its own there: no shared lab.
		return m.Run()
	}
	cfg := lab.SeedConfig(root)
	logger := log.New(os.Stderr, "lab: ", log.Ltime|log.Lmicroseconds)
	cfg.Logf = logger.Printf

	// Ctrl-C or SIGTERM: cancel a start in progress, or stop a running lab,
	// before exiting; the deferred Close would not run.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	started := make(chan *lab.Lab, 1)
	go func() {
		<-sigs
		cancel()
		select {
		case l := <-started:
			l.Close()
		case <-time.After(30 * time.Second):
		}
		os.Exit(130)
	}()

	start := time.Now()
	fed, err = lab.Start(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration: starting the lab:", err)
		return 1
	}
	started <- fed
	defer fed.Close()
	dns, err := fed.StartCoreDNS(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration: starting coredns-fed:", err)
		return 1
	}
	dnsAddr = dns.Addr
	logger.Printf("lab and coredns-fed ready in %s", time.Since(start).Round(time.Millisecond))
	code := m.Run()
	if code != 0 {
		logger.Printf("coredns-fed log, last lines:\n%s", lab.Tail(dns.Log(), 40))
	}
	return code
}
