package main

import (
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/coredns-fed/coredns-fed/internal/lab"

	"github.com/miekg/dns"
)

// printBanner tells the user what runs where and what to try.
func printBanner(w io.Writer, info labInfo, foreground bool) {
	host, port, _ := strings.Cut(info.DNS, ":")
	dig := fmt.Sprintf("dig @%s -p %s", host, port)
	base := fmt.Sprintf("%s.%s.%s.svc", info.Service, info.Namespace, info.Federation)
	global := base + "." + info.Domain
	self := fedlabCommand()
	rel := func(p string) string { return relPath(p) }

	var example clusterInfo
	for _, c := range info.Clusters {
		if c.Name == "gce-europe-west1" || example.Name == "" {
			example = c
		}
	}
	region := base + "." + example.Region + "." + info.Domain
	zone := base + "." + example.Zones[0] + "." + info.Domain

	fmt.Fprintf(w, "\ncoredns-fed serves %s on %s (federation %s)\n\n", info.Domain, info.DNS, info.Federation)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  CLUSTER\tREGION\tZONES\tLOAD BALANCER\tKUBECONFIG")
	for _, c := range info.Clusters {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", c.Name, c.Region, strings.Join(c.Zones, ","), c.Addr, rel(c.AdminKubeconfig))
	}
	tw.Flush()

	fmt.Fprintf(w, "\nAsk it:\n")
	fmt.Fprintf(w, "  %s %s +noall +answer\n", dig, global)
	fmt.Fprintf(w, "  %s %s +noall +answer\n", dig, region)
	fmt.Fprintf(w, "  %s %s +noall +answer\n", dig, zone)
	fmt.Fprintf(w, "  curl http://$(%s +short %s | tail -n1)/\n", dig, region)

	fmt.Fprintf(w, "\nThe global name answers each client its nearest region (+subnet= sends the client's subnet, as a\npublic resolver does; the lab's geo database places it):\n")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range lab.SeedGeoClients {
		fmt.Fprintf(tw, "  %s %s +subnet=%s +noall +answer\t# %s: %s\n", dig, global, c.Subnet, c.Place, geoAnswer(info, global, c))
	}
	tw.Flush()

	fmt.Fprintf(w, "\nBreak %s and watch the answers change:\n", example.Region)
	tw = tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	fmt.Fprintf(tw, "  %s endpoints unready %s\t# its region and zone names turn into CNAMEs; London moves to us-east1\n", self, example.Name)
	fmt.Fprintf(tw, "  watch -n1 %s %s +noall +answer\n", dig, zone)
	fmt.Fprintf(tw, "  %s endpoints ready %s\t# and back\n", self, example.Name)
	tw.Flush()
	fmt.Fprintf(w, "Other things to break and repair:\n")
	tw = tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	fmt.Fprintf(tw, "  %s backend stop %s\t# its load balancer refuses: probes drop its IP from the answers within ~%s\n",
		self, example.Name, probeSettle(lab.SeedProbeFall))
	fmt.Fprintf(tw, "  %s backend start %s\t# and bring it back within ~%s\n", self, example.Name, probeSettle(lab.SeedProbeRise))
	fmt.Fprintf(tw, "  %s apiserver stop|start %s\t# its shard stays answered while its backend passes the probes\n", self, example.Name)
	fmt.Fprintf(tw, "  %s service remove|add %s\t# NXDOMAIN, then back\n", self, info.Service)
	fmt.Fprintf(tw, "  %s drain on|off %s\t# maintenance: out of the answers with its endpoints ready (coredns-fed.io/drain), then back\n", self, example.Name)
	fmt.Fprintf(tw, "  %s status\t# what runs, what is broken\n", self)
	tw.Flush()

	fmt.Fprintf(w, "\nLook inside:\n")
	if info.StatusURL != "" {
		statusAddr := strings.TrimSuffix(strings.TrimPrefix(info.StatusURL, "http://"), "/")
		fmt.Fprintf(w, "  %s\t(the live status page; JSON at %sstatus.json)\n", info.StatusURL, info.StatusURL)
		fmt.Fprintf(w, "  %s explain -status %s %s 192.0.2.1\t# why this answer\n",
			relPath(filepath.Join(filepath.Dir(fedlabCommand()), "coredns-fed")), statusAddr, zone)
	}
	fmt.Fprintf(w, "  kubectl --kubeconfig %s --context %s get svc,endpointslices,nodes -A\n", rel(info.Kubeconfig), example.Name)
	fmt.Fprintf(w, "  curl -s %s | grep -E 'coredns_(federation|shardhealth)_'\n", info.MetricsURL)
	fmt.Fprintf(w, "  Corefile %s, log %s\n", rel(info.Corefile), rel(info.CorednsLog))
	if foreground {
		fmt.Fprintf(w, "\nCtrl-C stops everything.\n")
	} else {
		fmt.Fprintf(w, "\nVariables for scripts: . %s/env\nStop it with: %s down\n", rel(info.Dir), self)
	}
}

// probeSettle is how long n probes in a row take in the seed lab, "2 s":
// the time an address takes to leave (n = FALL) or return (n = RISE).
func probeSettle(n int) string {
	return fmt.Sprintf("%g s", (time.Duration(n) * lab.SeedProbeInterval).Seconds())
}

// fedlabCommand is how to run this binary from the working directory.
func fedlabCommand() string {
	self, err := os.Executable()
	if err != nil {
		return "fedlab"
	}
	return relPath(self)
}

// relPath shortens p relative to the working directory when it is below it.
func relPath(p string) string {
	wd, err := os.Getwd()
	if err != nil {
		return p
	}
	r, err := filepath.Rel(wd, p)
	if err != nil || strings.HasPrefix(r, "..") {
		return p
	}
	if !strings.Contains(r, "/") {
		return "./" + r
	}
	return r
}

// geoAnswer asks the lab's server for global from the client's subnet and
// says which cluster answered, as the printed dig command would show.
func geoAnswer(info labInfo, global string, c lab.GeoClient) string {
	p, err := netip.ParsePrefix(c.Subnet)
	if err != nil {
		return err.Error()
	}
	m := new(dns.Msg)
	m.SetQuestion(global+".", dns.TypeA)
	m.SetEdns0(1232, false)
	o := m.IsEdns0()
	o.Option = append(o.Option, &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: uint8(p.Bits()), Address: p.Addr().AsSlice()})
	r, err := dns.Exchange(m, info.DNS)
	if err != nil {
		return "no answer: " + err.Error()
	}
	var got []string
	for _, rr := range r.Answer {
		a, ok := rr.(*dns.A)
		if !ok {
			continue
		}
		name := a.A.String()
		for _, cl := range info.Clusters {
			if cl.Addr == name {
				name += " (" + cl.Region + ")"
			}
		}
		got = append(got, name)
	}
	if len(got) == 0 {
		return "no address"
	}
	return strings.Join(got, ", ")
}
