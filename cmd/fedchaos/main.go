// Command fedchaos runs coredns-fed's reliability scenarios against a lab of
// real kube-apiservers and writes report.md and report.json: EndpointSlice
// churn, a member's kube-apiserver killed, etcd restarted and a watch expiry,
// coredns-fed reloaded and restarted, hostile API servers, reply
// amplification and flapping backends, each with a query load whose every
// answer is checked against the state the scenario set.
//
//	fedchaos [-out DIR] [-doc FILE] [-short]
//
// It needs bin/coredns-fed, bin/kube-apiserver and etcd; `make chaos`
// provides them and writes docs/reliability.md. See test/chaos.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/coredns-fed/coredns-fed/internal/lab"
	"github.com/coredns-fed/coredns-fed/test/chaos"
)

func main() {
	log.SetFlags(log.Ltime)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "fedchaos:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	out := flag.String("out", "chaos-results", "directory for the reports and the lab's logs")
	doc := flag.String("doc", "", "also write the Markdown report to this file (docs/reliability.md)")
	short := flag.Bool("short", false, "short scenarios, to check the harness (about 4 minutes)")
	flag.Parse()

	o := chaos.DefaultOptions(*short)
	root, outDir, err := lab.Dirs(*out)
	if err != nil {
		return err
	}
	o.Root, o.Out = root, outDir
	o.Doc = *doc
	rep, err := chaos.Run(ctx, o, *short)
	if rep == nil {
		return err
	}
	failed := 0
	for _, g := range rep.Goals {
		met := "met"
		if !g.Met {
			met = "NOT met"
			failed++
		}
		log.Printf("%s: %s (goal %s) %s", g.What, g.Measured, g.Goal, met)
	}
	log.Printf("reports: %s, %s", filepath.Join(o.Out, "report.md"), filepath.Join(o.Out, "report.json"))
	if err == nil && len(rep.Errors) > 0 {
		err = fmt.Errorf("%d scenarios did not complete", len(rep.Errors))
	}
	return err
}
