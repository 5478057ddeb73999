package integration

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestAnsweredAddressReachesItsCluster: an HTTP GET to the address a region
// name answers reaches that region's cluster, the way `curl` would.
func TestAnsweredAddressReachesItsCluster(t *testing.T) {
	healthy(t)
	client := &http.Client{Timeout: 5 * time.Second}
	for _, c := range fed.Clusters() {
		r, err := exchange(regionName(c.Region), dns.TypeA)
		if err != nil {
			t.Fatal(err)
		}
		var ips []string
		for _, rr := range r.Answer {
			if a, ok := rr.(*dns.A); ok {
				ips = append(ips, a.A.String())
			}
		}
		if len(ips) != 1 {
			t.Fatalf("%s answered %v, want one address", regionName(c.Region), ips)
		}
		resp, err := client.Get("http://" + ips[0] + "/")
		if err != nil {
			t.Fatalf("GET http://%s/ (answered for %s): %v", ips[0], c.Region, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(string(body)); got != c.Name {
			t.Errorf("GET http://%s/ (answered for %s) reached %q, want %q", ips[0], c.Region, got, c.Name)
		}
	}
}
