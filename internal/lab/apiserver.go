package lab

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"
)

// apiserverReadyTimeout bounds one kube-apiserver start. A cold start takes
// about 15s alone; several starting at once on two cores take longer.
const apiserverReadyTimeout = 3 * time.Minute

// apiserverArgs returns the flags of a member's kube-apiserver. They are
// fixed at setup, so a stopped server restarts on the same port and data.
// advertiseLoopback adds --advertise-address 127.0.0.1 (see
// Config.AdvertiseLoopback); audit writes an audit log of the API requests.
func apiserverArgs(c *Cluster, etcdURL string, index int, advertiseLoopback, audit bool) []string {
	args := []string{
		"--etcd-servers", etcdURL,
		"--etcd-prefix", fmt.Sprintf("/fedlab/%d-%s", index, c.Name),
		"--bind-address", Loopback,
		"--secure-port", fmt.Sprint(c.apiPort),
		"--cert-dir", c.certDir(),
		"--tls-cert-file", filepath.Join(c.certDir(), "apiserver.crt"),
		"--tls-private-key-file", filepath.Join(c.certDir(), "apiserver.key"),
		"--service-account-key-file", c.saKeyPath(),
		"--service-account-signing-key-file", c.saKeyPath(),
		"--service-account-issuer", "https://kubernetes.default.svc",
		"--token-auth-file", filepath.Join(c.dir, "tokens.csv"),
		"--authorization-mode", "RBAC",
		"--service-cluster-ip-range", "10.0.0.0/24",
		"--disable-admission-plugins", "ServiceAccount",
		// The lease reconciler would publish 127.0.0.1 as the kubernetes
		// Service's endpoint, which the API rejects; nothing here needs it.
		"--endpoint-reconciler-type", "none",
		"--profiling=false",
		"--shutdown-watch-termination-grace-period", "2s",
	}
	if advertiseLoopback {
		args = append(args, "--advertise-address", Loopback)
	}
	if audit {
		args = append(args,
			"--audit-policy-file", c.auditPolicyPath(),
			"--audit-log-path", c.auditLogPath(),
			"--audit-log-format", "json",
		)
	}
	return args
}

func (c *Cluster) auditPolicyPath() string { return filepath.Join(c.dir, "audit-policy.yaml") }
func (c *Cluster) auditLogPath() string    { return filepath.Join(c.dir, "audit.log") }

// auditPolicy records the list and watch requests of ServiceAccounts, and
// nothing else: enough to count a client's relists. A watch is logged when it
// arrives (it completes only when it ends); a list when it arrives and when it
// is answered, with its status code, so that a list the server refused (while
// its watch cache initialises) is told apart from one it served.
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["ResponseStarted", "Panic"]
rules:
- level: Metadata
  verbs: ["list"]
  userGroups: ["system:serviceaccounts"]
- level: Metadata
  verbs: ["watch"]
  userGroups: ["system:serviceaccounts"]
  omitStages: ["ResponseComplete"]
- level: None
`

// prepareAPIServer writes what a member's kube-apiserver reads at start:
// serving certificate, ServiceAccount key and the static token file that
// holds the lab's admin token.
func prepareAPIServer(c *Cluster, ca *authority, adminToken string, audit bool) error {
	if err := os.MkdirAll(c.certDir(), 0o755); err != nil {
		return err
	}
	if audit {
		if err := os.WriteFile(c.auditPolicyPath(), []byte(auditPolicy), 0o644); err != nil {
			return err
		}
	}
	if err := ca.writeServing(filepath.Join(c.certDir(), "apiserver.crt"), filepath.Join(c.certDir(), "apiserver.key"), c.Name); err != nil {
		return err
	}
	if err := writeServiceAccountKey(c.saKeyPath()); err != nil {
		return err
	}
	tokens := fmt.Sprintf("%s,%s,%s,\"system:masters\"\n", adminToken, adminUser, adminUser)
	return os.WriteFile(filepath.Join(c.dir, "tokens.csv"), []byte(tokens), 0o600)
}

// failedChecks picks the failing checks out of a /readyz error, which
// otherwise lists every passing one too.
var failedChecks = regexp.MustCompile(`\[-\][^\\\n"]*`)

// waitReady polls the member's /readyz with the admin client until it
// answers ok, which includes RBAC's bootstrap roles being in place.
func waitReady(ctx context.Context, c *Cluster, client kubernetes.Interface) error {
	ctx, cancel := context.WithTimeout(ctx, apiserverReadyTimeout)
	defer cancel()
	err := Poll(ctx, pollInterval, c.apiserver, func() error {
		body, err := client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		if err != nil {
			if failed := failedChecks.FindAllString(err.Error(), -1); len(failed) > 0 {
				return fmt.Errorf("readyz: %s", strings.Join(failed, ", "))
			}
			return err
		}
		if string(body) != "ok" {
			return fmt.Errorf("readyz: %s", body)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("kube-apiserver of %s not ready: %w", c.Name, err)
	}
	return nil
}
