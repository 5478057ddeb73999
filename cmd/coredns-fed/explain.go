package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// explain runs "coredns-fed explain [-status ADDRESS] NAME [CLIENT]": it asks a
// running server's status listener why NAME gets its answer (for CLIENT, an
// address or a prefix sent as EDNS Client Subnet) and prints the reply.
func explain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("explain", flag.ContinueOnError)
	fs.SetOutput(stderr)
	status := fs.String("status", "127.0.0.1:8053", "the status listener of the running coredns-fed (the federation block's status option)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: coredns-fed explain [-status ADDRESS] NAME [CLIENT]\n\n"+
			"Prints why NAME gets its answer: the Service and level, where each level falls\n"+
			"back to and why, and which shards are answered or left out and why.\n"+
			"CLIENT is an address or a prefix (sent as EDNS Client Subnet).\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() < 1 || fs.NArg() > 2 {
		fs.Usage()
		return 2
	}
	q := url.Values{"name": {fs.Arg(0)}}
	if fs.NArg() == 2 {
		q.Set("client", fs.Arg(1))
	}
	u := (&url.URL{Scheme: "http", Host: *status, Path: "/explain", RawQuery: q.Encode()}).String()
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(u)
	if err != nil {
		fmt.Fprintf(stderr, "explain: %v (is the status option set in the federation block, and -status its address?)\n", err)
		return 1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "explain: %s: %s", resp.Status, body)
		return 1
	}
	stdout.Write(body)
	return 0
}
