package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestEnvName(t *testing.T) {
	for in, want := range map[string]string{
		"gce-us-east1":   "GCE_US_EAST1",
		"a.b-c":          "A_B_C",
		"Europe_West1-b": "EUROPE_WEST1_B",
	} {
		if got := envName(in); got != want {
			t.Errorf("envName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestShellQuoteRoundTrip(t *testing.T) {
	for _, s := range []string{"", "plain", "with space", "it's", "'", `a'b'c`} {
		if got := shellUnquote(shellQuote(s)); got != s {
			t.Errorf("round trip of %q gave %q", s, got)
		}
	}
}

// TestShellQuoteInShell checks that a POSIX shell reads back what
// shellQuote wrote, the way `. .lab/env` does.
func TestShellQuoteInShell(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatalf("no sh: %v", err)
	}
	v := `/tmp/it's a "path" $HOME`
	out, err := exec.Command(sh, "-c", "X="+shellQuote(v)+`; printf %s "$X"`).Output()
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != v {
		t.Errorf("sh read %q, want %q", out, v)
	}
}

func TestWriteLoadEnv(t *testing.T) {
	dir := t.TempDir()
	want := labInfo{
		Dir:        dir,
		DNS:        "127.0.0.1:5353",
		Domain:     "example.com",
		Federation: "myfederation",
		Namespace:  "mynamespace",
		Service:    "nginx",
		Kubeconfig: filepath.Join(dir, "kubeconfig"),
		Corefile:   filepath.Join(dir, "Corefile"),
		CorednsLog: filepath.Join(dir, "coredns-fed.log"),
		HealthURL:  "http://127.0.0.1:1/health",
		ReadyURL:   "http://127.0.0.1:2/ready",
		MetricsURL: "http://127.0.0.1:3/metrics",
		Clusters: []clusterInfo{
			{Name: "gce-a", Region: "r1", Zones: []string{"z1", "z2"}, Addr: "127.9.1.1", AdminKubeconfig: "/a/admin", ReaderKubeconfig: "/a/reader"},
			{Name: "gce-b", Region: "r2", Zones: []string{"z3"}, Addr: "127.9.1.2", AdminKubeconfig: "/b/admin", ReaderKubeconfig: "/b/reader"},
		},
	}
	if err := writeEnvInfo(filepath.Join(dir, envFile), want); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, envFile))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(string(b), readyMarker+"\n") {
		t.Errorf("env file does not end with %s:\n%s", readyMarker, b)
	}
	got, err := loadEnv(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("loaded %+v\nwant %+v", got, want)
	}
}

func TestPIDsRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), pidsFile)
	self := os.Getpid()
	// A pid that cannot exist is left out: there is nothing to stop.
	if err := writePIDs(path, map[string]int{"etcd": self, supervisor: self, "gone": 1 << 30}); err != nil {
		t.Fatal(err)
	}
	recs, err := readPIDs(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[0].role != supervisor || recs[1].role != "etcd" {
		t.Fatalf("records %+v, want supervisor then etcd", recs)
	}
	for _, r := range recs {
		if r.pid != self || !r.alive() {
			t.Errorf("record %+v: want this process, alive", r)
		}
	}
	stale := pidRecord{role: "etcd", pid: self, start: "1"}
	if stale.alive() {
		t.Error("a record with another start time counts as alive")
	}
}

func TestBannerBreakHints(t *testing.T) {
	var b strings.Builder
	printBanner(&b, labInfo{
		DNS: "127.0.0.1:5353", Domain: "example.com", Federation: "myfederation",
		Namespace: "mynamespace", Service: "nginx",
		Clusters: []clusterInfo{{Name: "gce-europe-west1", Region: "europe-west1", Zones: []string{"europe-west1-b"}, Addr: "127.9.1.2"}},
	}, true)
	for _, want := range []string{
		"backend stop gce-europe-west1",
		"probes drop its IP from the answers within ~2 s",
		"backend start gce-europe-west1",
		"apiserver stop|start gce-europe-west1",
		"drain on|off gce-europe-west1",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("banner lacks %q:\n%s", want, b.String())
		}
	}
}
