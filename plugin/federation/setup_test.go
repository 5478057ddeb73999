package federation

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coredns/caddy"
)

const kc = "testdata/member.kubeconfig"

func TestParse(t *testing.T) {
	tests := []struct {
		input     string
		shouldErr bool
		errText   string
		check     func(t *testing.T, f *Federation)
	}{
		{`federation myfederation {
			member gce-asia-east1 {
				kubeconfig ` + kc + `
			}
			ns ns1.example.com. 192.0.2.53
		}`, false, "", func(t *testing.T, f *Federation) {
			if f.Fed != "myfederation" || f.Zone != "example.com." || f.TTL != 30 || f.Label != DefaultLabel || f.StartupTimeout != 30*time.Second {
				t.Errorf("defaults: %+v", f)
			}
			if f.soa.mname != "ns1.example.com." || f.soa.rname != "hostmaster.example.com." || f.soa.minttl != 30 {
				t.Errorf("default SOA: %+v", f.soa)
			}
		}},
		// A name server outside the zone needs no glue.
		{`federation myfederation {
			member a { kubeconfig ` + kc + ` }
			ns ns.provider.net.
		}`, false, "", func(t *testing.T, f *Federation) {
			if len(f.ns) != 1 || f.ns[0].name != "ns.provider.net." || len(f.ns[0].addrs) != 0 || f.soa.mname != "ns.provider.net." {
				t.Errorf("ns: %+v, soa %+v", f.ns, f.soa)
			}
		}},
		{`federation MyFederation {
			member a {
				kubeconfig ` + kc + ` other
				region us-central1
				zones us-central1-b us-central1-c
			}
			member b {
				incluster
			}
			label example.org/fed
			namespaces mynamespace web
			ttl 5
			soa ns1.example.com. admin.example.com. 1 2 3 4
			ns ns1.example.com. 192.0.2.53 2001:db8::53
			ns ns.provider.net.
			startup_timeout 2m
			stale_after 45s
		}`, false, "", func(t *testing.T, f *Federation) {
			m := f.Members[0]
			if f.Fed != "myfederation" || m.Context != "other" || m.Region != "us-central1" || !slices.Equal(m.Zones, []string{"us-central1-b", "us-central1-c"}) {
				t.Errorf("member: %+v", m)
			}
			if !f.Members[1].InCluster || f.Label != "example.org/fed" || !slices.Equal(f.Namespaces, []string{"mynamespace", "web"}) || f.TTL != 5 || f.StartupTimeout != 2*time.Minute || f.StaleAfter != 45*time.Second {
				t.Errorf("options: %+v", f)
			}
			want := soaConfig{"ns1.example.com.", "admin.example.com.", 1, 2, 3, 4}
			if f.soa != want {
				t.Errorf("soa %+v, want %+v", f.soa, want)
			}
			if len(f.ns) != 2 || !slices.Equal(f.ns[0].addrs, []netip.Addr{netip.MustParseAddr("192.0.2.53"), netip.MustParseAddr("2001:db8::53")}) {
				t.Errorf("ns: %+v", f.ns)
			}
		}},

		{`federation myfederation {
			member a { kubeconfig ` + kc + ` }
			ns ns1.example.com. 192.0.2.53
			max_answers 0
		}`, false, "", func(t *testing.T, f *Federation) {
			if f.MaxAnswers != 0 {
				t.Errorf("max_answers 0: got %d", f.MaxAnswers)
			}
		}},
		{`federation myfederation {
			member a { kubeconfig ` + kc + ` }
			ns ns1.example.com. 192.0.2.53
		}`, false, "", func(t *testing.T, f *Federation) {
			if f.MaxAnswers != DefaultMaxAnswers {
				t.Errorf("max_answers default: got %d", f.MaxAnswers)
			}
		}},
		// Bad input: each names the option and the value.
		{`federation myfederation {
			member a { kubeconfig ` + kc + ` }
			ns ns1.example.com. 192.0.2.53
			max_answers -1
		}`, true, `max_answers "-1": not a number from 0 (no limit) to 256`, nil},
		{`federation myfederation {
			member a { kubeconfig ` + kc + ` }
			ns ns1.example.com. 192.0.2.53
			max_answers 8 9
		}`, true, "max_answers needs one number, got 2 arguments", nil},
		{`federation {
			member a { kubeconfig ` + kc + ` }
		}`, true, "exactly one FEDERATION name, got 0", nil},
		{`federation my_fed {
			member a { kubeconfig ` + kc + ` }
		}`, true, `federation name "my_fed"`, nil},
		{`federation myfederation {
		}`, true, "at least one member", nil},
		{`federation myfederation {
			member a
		}`, true, "member needs a NAME and a block", nil},
		{`federation myfederation {
			member a {
				kubeconfig ` + kc + `
				incluster
			}
		}`, true, "member a: needs exactly one of kubeconfig and incluster", nil},
		{`federation myfederation {
			member a {
			}
		}`, true, "member a: needs exactly one of kubeconfig and incluster", nil},
		{`federation myfederation {
			member a {
				kubeconfig ` + kc + `
				colour blue
			}
		}`, true, `member a: unknown option "colour"`, nil},
		{`federation myfederation {
			member a {
				kubeconfig ` + kc + `
				region Us_Central
			}
		}`, true, `member a: region "Us_Central"`, nil},
		{`federation myfederation {
			member a { kubeconfig ` + kc + ` }
			member a { kubeconfig ` + kc + ` }
		}`, true, `member "a" defined twice`, nil},
		{`federation myfederation {
			member a { kubeconfig ` + kc + ` }
			ttl 3601
		}`, true, `ttl "3601": must be an integer in [0, 3600]`, nil},
		{`federation myfederation {
			member a { kubeconfig ` + kc + ` }
			ttl soon
		}`, true, `ttl "soon"`, nil},
		// No ns: the zone would have a name server without an address, which
		// fails a secondary's and a checker's load (named-checkzone).
		{`federation myfederation {
			member a { kubeconfig ` + kc + ` }
		}`, true, "federation needs at least one 'ns NAME [ADDRESS...]' line: it gives the zone's NS records, and a NAME inside example.com. needs its glue addresses", nil},
		{`federation myfederation {
			member a { kubeconfig ` + kc + ` }
			ns ns1.example.com.
		}`, true, "ns ns1.example.com.: a name server inside example.com. needs glue addresses", nil},
		{`federation myfederation {
			member a { kubeconfig ` + kc + ` }
			ns ns1.example.com. 192.0.2.300
		}`, true, `ns ns1.example.com.: address "192.0.2.300": not an IP address`, nil},
		{`federation myfederation {
			member a { kubeconfig ` + kc + ` }
			ns ns.other.net. 192.0.2.1
		}`, true, "glue addresses are only allowed for names inside example.com.", nil},
		{`federation myfederation {
			member a { kubeconfig ` + kc + ` }
			soa ns1.example.com.
		}`, true, "soa needs MNAME RNAME [REFRESH RETRY EXPIRE MINIMUM], got 1 arguments", nil},
		{`federation myfederation {
			member a { kubeconfig ` + kc + ` }
			ns ns1.example.com. 192.0.2.53
			soa ns1.example.com. admin.example.com. 1 2 3 -4
		}`, true, `soa "-4": timers must be unsigned 32-bit integers`, nil},
		{`federation myfederation {
			member a { kubeconfig ` + kc + ` }
			startup_timeout -1s
		}`, true, `startup_timeout "-1s": must be a positive duration`, nil},
		{`federation myfederation {
			member a { kubeconfig /k }
			stale_after never
		}`, true, `stale_after "never": must be a positive duration`, nil},
		{`federation myfederation {
			member a { kubeconfig ` + kc + ` }
			label "bad key!"
		}`, true, `label "bad key!"`, nil},
		{`federation myfederation {
			member a { kubeconfig ` + kc + ` }
			namespaces
		}`, true, "namespaces needs at least one NAMESPACE", nil},
		{`federation myfederation {
			member a { kubeconfig ` + kc + ` }
			fallthrough
		}`, true, `unknown option "fallthrough"`, nil},
		{`federation myfederation {
			member a { kubeconfig ` + kc + ` }
			ns ns1.example.com. 192.0.2.53
		}
		federation other {
			member b { kubeconfig ` + kc + ` }
		}`, true, "only one federation block per server block", nil},
	}
	for i, tc := range tests {
		c := caddy.NewTestController("dns", tc.input)
		c.ServerBlockKeys = []string{"example.com."}
		f, err := parse(c)
		if tc.shouldErr {
			if err == nil {
				t.Errorf("test %d: expected error containing %q, got none", i, tc.errText)
			} else if !strings.Contains(err.Error(), tc.errText) {
				t.Errorf("test %d: error %q does not contain %q", i, err, tc.errText)
			}
			continue
		}
		if err != nil {
			t.Errorf("test %d: unexpected error: %v", i, err)
			continue
		}
		tc.check(t, f)
	}
}

func TestParseErrorNamesLine(t *testing.T) {
	c := caddy.NewTestController("dns", "federation myfederation {\n member a { kubeconfig "+kc+" }\n ttl -5\n}")
	c.ServerBlockKeys = []string{"example.com."}
	_, err := parse(c)
	if err == nil || !strings.Contains(err.Error(), "Testfile:3") {
		t.Errorf("error %v does not name line 3", err)
	}
}

func TestParseOneZone(t *testing.T) {
	c := caddy.NewTestController("dns", "federation myfederation {\n member a { kubeconfig "+kc+" }\n}")
	c.ServerBlockKeys = []string{"example.com.", "example.net."}
	if _, err := parse(c); err == nil || !strings.Contains(err.Error(), "exactly one zone") {
		t.Errorf("two zones: error %v", err)
	}
}

func TestSetupKubeconfigErrors(t *testing.T) {
	tests := []struct{ input, errText string }{
		{"federation myfederation {\n member gce-asia-east1 { kubeconfig testdata/missing.kubeconfig }\n ns ns1.example.com. 192.0.2.53\n}",
			"member gce-asia-east1: kubeconfig testdata/missing.kubeconfig"},
		{"federation myfederation {\n member gce-asia-east1 { kubeconfig testdata/broken.kubeconfig }\n ns ns1.example.com. 192.0.2.53\n}",
			"member gce-asia-east1: kubeconfig testdata/broken.kubeconfig"},
		{"federation myfederation {\n member gce-asia-east1 { kubeconfig " + kc + " nosuchcontext }\n ns ns1.example.com. 192.0.2.53\n}",
			`member gce-asia-east1: kubeconfig testdata/member.kubeconfig: context "nosuchcontext" does not exist`},
	}
	for _, tc := range tests {
		c := caddy.NewTestController("dns", tc.input)
		c.ServerBlockKeys = []string{"example.com."}
		err := setup(c)
		if err == nil || !strings.Contains(err.Error(), tc.errText) || !strings.HasPrefix(err.Error(), "plugin/federation: ") {
			t.Errorf("error %v, want plugin/federation: ... %q", err, tc.errText)
		}
	}
	c := caddy.NewTestController("dns", "federation myfederation {\n member gce-asia-east1 { kubeconfig "+kc+" }\n ns ns1.example.com. 192.0.2.53\n}")
	c.ServerBlockKeys = []string{"example.com."}
	if err := setup(c); err != nil {
		t.Errorf("good kubeconfig: %v", err)
	}
}
