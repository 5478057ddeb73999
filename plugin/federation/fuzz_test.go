package federation

import (
	"strings"
	"testing"

	"github.com/coredns/caddy"
)

// FuzzParse feeds arbitrary federation blocks to the Corefile parser, in both
// modes: it must return a *Federation/*MemberMode or an error, never panic, and
// an error must name the plugin's option or say what is wrong.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"federation myfederation {\n member a { kubeconfig /k }\n ns ns1.example.com. 192.0.2.53\n}",
		"federation myfederation {\n member a { incluster region r1 zones z1 z2 }\n ttl 5\n soa a. b. 1 2 3 4\n}",
		"federation f {\n member a {\n kubeconfig /k ctx\n }\n namespaces a b\n startup_timeout 1s\n stale_after 2s\n label x.io/y\n}",
		"federation cluster.local {\n myfederation example.com\n region r\n zone z\n ttl 3\n startup_timeout 5s\n}",
		"federation {\n a example.com\n kubeconfig /k ctx\n label l\n}",
		"federation f {\n member a { kubeconfig }\n}",
		"federation f {\n member\n}",
		"federation {\n}",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, corefile string) {
		c := caddy.NewTestController("dns", corefile)
		c.ServerBlockKeys = []string{"example.com."}
		if memberMode(c) {
			m, err := parseMemberMode(c)
			if err == nil && m == nil {
				t.Fatal("no MemberMode and no error")
			}
			return
		}
		fed, err := parse(c)
		switch {
		case err == nil && fed == nil:
			t.Fatal("no Federation and no error")
		case err == nil && (len(fed.Members) == 0 || fed.Zone == "" || fed.Fed == ""):
			t.Fatalf("accepted an incomplete block: %+v", fed)
		case err != nil && strings.TrimSpace(err.Error()) == "":
			t.Fatal("an empty error")
		}
	})
}

// FuzzTopology feeds arbitrary Node labels to topology discovery and checks
// that every place it keeps is made of lower-case DNS labels.
func FuzzTopology(f *testing.F) {
	f.Add("us-central1", "us-central1-b", "", "")
	f.Add("US-East1", "bad_zone!", "r", "")
	f.Add("", "z", "a.b", "-x")
	f.Fuzz(func(t *testing.T, r1, z1, r2, z2 string) {
		topo := newTopology(&Member{Name: "m"})
		topo.update([]Place{{r1, z1}, {r2, z2}})
		for _, p := range topo.current() {
			for _, v := range []string{p.Region, p.Zone} {
				if v == "" {
					continue
				}
				if v != strings.ToLower(v) || checkLabel(v) != nil {
					t.Fatalf("kept %q from %q", v, []string{r1, z1, r2, z2})
				}
			}
		}
	})
}
