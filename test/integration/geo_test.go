package integration

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coredns-fed/coredns-fed/internal/lab"
)

var clientSubnetRE = regexp.MustCompile(`CLIENT-SUBNET: (\S+)`)

// digGeo asks d for the global name with dig +subnet=subnet and returns the
// addresses answered and the reply's ECS option as dig prints it
// (ADDRESS/SOURCE/SCOPE).
func digGeo(t testing.TB, d *lab.CoreDNS, subnet string) (addrs []string, ecs string) {
	t.Helper()
	out := digAt(t, d.Addr, globalName(), "A", "+subnet="+subnet)
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 5 && f[2] == "IN" && f[3] == "A" && !strings.HasPrefix(line, ";") {
			addrs = append(addrs, f[4])
		}
	}
	slices.Sort(addrs)
	if m := clientSubnetRE.FindStringSubmatch(out); m != nil {
		ecs = m[1]
	}
	return addrs, ecs
}

// TestGeoAnswers runs a coredns-fed with geo on, over the lab's generated
// database: clients on two continents get two regions, a region that loses
// its shards hands its clients to the next nearest one, and the ECS scope in
// the reply is the database network's.
func TestGeoAnswers(t *testing.T) {
	healthy(t)
	if err := fed.WriteGeoDatabase(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// No shardhealth: answers follow endpoint readiness.
	d, err := fed.StartVariant(ctx, "geo", lab.Variant{FederationOptions: []string{"geo " + fed.GeoDatabase()}})
	if err != nil {
		t.Fatalf("starting coredns-fed with geo: %v", err)
	}
	defer d.Stop()
	healthyAt(t, d) // region and zone names, and the global name without ECS, are as without geo

	region := func(r string) string {
		for _, c := range fed.Clusters() {
			if c.Region == r {
				return c.Addr
			}
		}
		t.Fatalf("no cluster in region %s", r)
		return ""
	}
	check := func(subnet string, want []string, scope string) error {
		got, ecs := digGeo(t, d, subnet)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			return fmt.Errorf("dig +subnet=%s answered %v, want %v", subnet, got, want)
		}
		if ecs != subnet+"/"+scope {
			return fmt.Errorf("dig +subnet=%s: reply ECS %q, want %s/%s", subnet, ecs, subnet, scope)
		}
		return nil
	}
	for _, tc := range []struct {
		subnet, region, scope string
	}{
		{"81.2.69.0/24", "europe-west1", "24"}, // London
		{"1.0.16.0/24", "asia-east1", "20"},    // Tokyo: the database network is a /20
		{"12.1.0.0/24", "us-central1", "16"},   // Chicago
		{"12.0.0.0/24", "us-east1", "16"},      // New York
	} {
		if err := check(tc.subnet, []string{region(tc.region)}, tc.scope); err != nil {
			t.Error(err)
		}
	}
	all := []string{}
	for _, c := range fed.Clusters() {
		all = append(all, c.Addr)
	}
	if err := check("0.0.0.0/0", all, "0"); err != nil {
		t.Errorf("SOURCE PREFIX-LENGTH 0: %v", err)
	}

	// europe-west1 loses its shards: London moves to the next nearest region,
	// us-east1, not to every region; Tokyo stays in Asia.
	setReady(t, "gce-europe-west1", false)
	defer func() {
		setReady(t, "gce-europe-west1", true)
		healthy(t)
	}()
	waitFor(t, d, convergeTimeout, "London answered from us-east1", func() error {
		return check("81.2.69.0/24", []string{region("us-east1")}, "24")
	})
	if err := check("1.0.16.0/24", []string{region("asia-east1")}, "20"); err != nil {
		t.Error(err)
	}
	setReady(t, "gce-europe-west1", true)
	waitFor(t, d, convergeTimeout, "London back in europe-west1", func() error {
		return check("81.2.69.0/24", []string{region("europe-west1")}, "24")
	})
}
