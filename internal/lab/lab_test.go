package lab

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDecodeManifest(t *testing.T) {
	data := []byte(`# comment only
---
apiVersion: v1
kind: Namespace
metadata:
  name: a
---
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: b
  namespace: a
`)
	objs, err := decodeManifest(data)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range objs {
		got = append(got, o.GetKind()+"/"+o.GetName())
	}
	if strings.Join(got, " ") != "Namespace/a ServiceAccount/b" {
		t.Errorf("decoded %v", got)
	}
	if _, err := decodeManifest([]byte("metadata:\n  name: x\n")); err == nil {
		t.Error("a document without kind was accepted")
	}
}

// TestDecodeMemberRBAC checks the manifest the lab applies in every member
// still creates the reader identity the lab mints tokens for.
func TestDecodeMemberRBAC(t *testing.T) {
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	objs, err := decodeManifest(mustRead(t, filepath.Join(root, "deploy", "member", "rbac.yaml")))
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, o := range objs {
		if o.GetKind() == "ServiceAccount" && o.GetNamespace() == ReaderNamespace && o.GetName() == ReaderServiceAccount {
			found = true
		}
	}
	if !found {
		t.Errorf("deploy/member/rbac.yaml has no ServiceAccount %s/%s", ReaderNamespace, ReaderServiceAccount)
	}
}

func TestCorefile(t *testing.T) {
	l := &Lab{cfg: Config{
		Domain:            "example.com",
		Federation:        "myfederation",
		FederationOptions: []string{"ttl 5"},
		ServerOptions:     []string{"log"},
	}}
	l.clusters = []*Cluster{
		{Name: "a", ReaderKubeconfig: "/lab/a/reader.kubeconfig"},
		{Name: "b", ReaderKubeconfig: "/lab/b/reader.kubeconfig"},
	}
	got := l.corefile(Ports{DNS: 1053, Health: 1080, Ready: 1181, Metrics: 1153, Status: 1054}, Variant{
		ShardHealth: []string{"probe off"},
		Kubeconfigs: map[string]string{"b": "/tmp/minted.kubeconfig b"},
	})
	want := `example.com:1053 {
    bind 127.0.0.1
    shardhealth {
        probe off
    }
    federation myfederation {
        member a {
            kubeconfig /lab/a/reader.kubeconfig
        }
        member b {
            kubeconfig /tmp/minted.kubeconfig b
        }
        resolvers 127.0.0.1:9 {
            timeout 200ms
        }
        ttl 5
        ns ns1.example.com. 127.0.0.1
        status 127.0.0.1:1054
    }
    log
    ready 127.0.0.1:1181
    health 127.0.0.1:1080
    prometheus 127.0.0.1:1153
    errors
}
`
	if got != want {
		t.Errorf("corefile:\n%s\nwant:\n%s", got, want)
	}
	got = l.corefile(Ports{}, Variant{FederationOptions: []string{"ingress allow 127.9.1.1"}})
	if !strings.Contains(got, "        ingress allow 127.9.1.1\n        ns ns1.example.com. 127.0.0.1\n        status 127.0.0.1:0\n    }") || strings.Contains(got, "ttl 5") {
		t.Errorf("a Variant's FederationOptions do not replace the lab's:\n%s", got)
	}
}

// TestSeedShardHealth checks the seed's shardhealth block against the
// settings the tests and fedlab derive their timing from.
func TestSeedShardHealth(t *testing.T) {
	got := strings.Join(SeedShardHealth(), "\n")
	want := `probe http 80
path /
expect 200-399
interval 1s
timeout 500ms
rise 2
fall 2
jitter 10%`
	if got != want {
		t.Errorf("seed shardhealth block:\n%s\nwant:\n%s", got, want)
	}
	l := &Lab{cfg: Config{Domain: "example.com", Federation: "f"}}
	if got := l.corefile(Ports{}, Variant{}); strings.Contains(got, "shardhealth") {
		t.Errorf("a Variant without ShardHealth has a shardhealth block:\n%s", got)
	}
}

// TestCorefileOwnNS: a lab configured with its own ns line gets no other.
func TestCorefileOwnNS(t *testing.T) {
	l := &Lab{cfg: Config{Domain: "example.com", Federation: "f", FederationOptions: []string{"ns ns.example.net."}}}
	got := l.corefile(Ports{}, Variant{})
	if strings.Count(got, " ns ") != 1 || !strings.Contains(got, "        ns ns.example.net.\n") {
		t.Errorf("corefile with an ns option:\n%s", got)
	}
}

func TestBackendAddrs(t *testing.T) {
	for range 100 {
		addrs := backendAddrs(4)
		if len(addrs) != 4 {
			t.Fatalf("got %d addresses", len(addrs))
		}
		for _, a := range addrs {
			ip := net.ParseIP(a)
			if ip == nil || !ip.IsLoopback() || ip.To4()[1] == 0 {
				t.Fatalf("%s is not a loopback address outside 127.0.0.0/16", a)
			}
		}
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestFailedChecks(t *testing.T) {
	msg := `an error on the server ("[+]ping ok\n[-]poststarthook/rbac/bootstrap-roles failed: reason withheld\n[+]etcd ok\n[-]poststarthook/x failed: reason withheld\nreadyz check failed") has prevented the request from succeeding`
	got := strings.Join(failedChecks.FindAllString(msg, -1), ", ")
	want := "[-]poststarthook/rbac/bootstrap-roles failed: reason withheld, [-]poststarthook/x failed: reason withheld"
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
