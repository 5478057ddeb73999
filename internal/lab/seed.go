package lab

import (
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// The seed's federation: four GCE clusters, one region and zone each,
// federating nginx in mynamespace as myfederation under example.com.
const (
	SeedDomain     = "example.com"
	SeedFederation = "myfederation"
	SeedNamespace  = "mynamespace"
	SeedService    = "nginx"
)

// SeedClusters are the seed's four member clusters.
var SeedClusters = []ClusterSpec{
	{Name: "gce-asia-east1", Region: "asia-east1", Zones: []string{"asia-east1-b"}},
	{Name: "gce-europe-west1", Region: "europe-west1", Zones: []string{"europe-west1-b"}},
	{Name: "gce-us-east1", Region: "us-east1", Zones: []string{"us-east1-b"}},
	{Name: "gce-us-central1", Region: "us-central1", Zones: []string{"us-central1-b"}},
}

// The seed lab's probes: coredns-fed GETs / on every backend's port 80 each
// second; an address leaves the answers after two failed probes in a row and
// returns after two good ones, and a member whose kube-apiserver has been
// silent for ten seconds is stale.
const (
	SeedProbeInterval = time.Second
	SeedProbeTimeout  = 500 * time.Millisecond
	SeedProbeRise     = 2
	SeedProbeFall     = 2
	SeedProbeJitter   = 10 // percent
	SeedStaleAfter    = 10 * time.Second
)

// SeedIngressAllow is the ingress rule that lets the seed lab answer and
// probe its backends: they listen on loopback addresses, which a federation
// refuses unless its Corefile allows them.
const SeedIngressAllow = "ingress allow 127.0.0.0/8"

// SeedFederationOptions returns the lines the seed lab adds to its
// federation block.
func SeedFederationOptions() []string {
	return []string{"stale_after " + SeedStaleAfter.String(), SeedIngressAllow}
}

// SeedShardHealth returns the lines of the seed lab's shardhealth block.
func SeedShardHealth() []string {
	return []string{
		fmt.Sprintf("probe http %d", BackendPort),
		"path /",
		"expect 200-399",
		"interval " + SeedProbeInterval.String(),
		"timeout " + SeedProbeTimeout.String(),
		fmt.Sprintf("rise %d", SeedProbeRise),
		fmt.Sprintf("fall %d", SeedProbeFall),
		fmt.Sprintf("jitter %d%%", SeedProbeJitter),
	}
}

// BinDirEnv names the environment variable that overrides where the lab
// finds kube-apiserver and coredns-fed.
const BinDirEnv = "FEDLAB_BIN_DIR"

// SeedConfig returns the seed lab's configuration for the repository at
// root: binaries from root/bin (or $FEDLAB_BIN_DIR), RBAC from
// root/deploy/member/rbac.yaml, and coredns-fed probing the backends.
func SeedConfig(root string) Config {
	bin := filepath.Join(root, "bin")
	if d := os.Getenv(BinDirEnv); d != "" {
		bin = d
	}
	return Config{
		BinDir:       bin,
		RBACManifest: filepath.Join(root, "deploy", "member", "rbac.yaml"),
		Domain:       SeedDomain,
		Federation:   SeedFederation,
		Namespace:    SeedNamespace,
		Services:     []string{SeedService},
		Clusters:     append([]ClusterSpec(nil), SeedClusters...),
		ShardHealth:  SeedShardHealth(),

		FederationOptions: SeedFederationOptions(),
	}
}

// RepoRoot walks up from the working directory to the directory holding
// go.mod, so tests and the CLI find bin/ and deploy/ wherever they run.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}

// Dirs returns the repository's root and out as an absolute path: what the
// lab's commands (fedbench, fedchaos) need before they start.
func Dirs(out string) (root, absOut string, err error) {
	if root, err = RepoRoot(); err != nil {
		return "", "", err
	}
	if absOut, err = filepath.Abs(out); err != nil {
		return "", "", err
	}
	return root, absOut, nil
}
