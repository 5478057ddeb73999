package integration

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/coredns-fed/coredns-fed/internal/lab"
)

// commandTimeout bounds one kubectl or script run.
const commandTimeout = 2 * time.Minute

// requireKubectl fails the test unless kubectl is on PATH.
func requireKubectl(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("kubectl"); err != nil {
		t.Fatalf("kubectl not found (%v): the deploy tests run `kubectl apply --dry-run=server -k` "+
			"and deploy/member/mint-kubeconfig.sh against the lab; install kubectl and put it on PATH", err)
	}
}

// command runs name from the repository root with env added to the
// environment, in its own process group that is killed with the test
// binary, and returns its stdout and stderr.
func command(t testing.TB, env []string, name string, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = repoRoot
	// kubectl's discovery cache stays with the test, not in $HOME.
	cmd.Env = append(append(os.Environ(), "KUBECACHEDIR="+t.TempDir()), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

// TestDeployDryRun: every kustomization in deploy/ is accepted by a real
// kube-apiserver, through `kubectl apply --dry-run=server -k`, which runs
// validation, defaulting and admission (Pod Security for the restricted
// coredns-fed namespace included) without persisting anything.
func TestDeployDryRun(t *testing.T) {
	requireKubectl(t)
	c := fed.Clusters()[0]
	for _, dir := range []string{"deploy/member", "deploy/base", "deploy/overlays/seed", "deploy/overlays/signed"} {
		t.Run(dir, func(t *testing.T) {
			stdout, stderr, err := command(t, nil, "kubectl", "--kubeconfig", c.AdminKubeconfig,
				"apply", "--dry-run=server", "-k", dir)
			if err != nil {
				t.Fatalf("kubectl apply --dry-run=server -k %s against %s: %v\nstdout:\n%s\nstderr:\n%s", dir, c.Name, err, stdout, stderr)
			}
			t.Logf("kubectl apply --dry-run=server -k %s:\n%s%s", dir, stdout, stderr)
			lines := strings.Split(strings.TrimSpace(stdout), "\n")
			if len(lines) == 0 || lines[0] == "" {
				t.Fatalf("kubectl applied nothing from %s", dir)
			}
			for _, line := range lines {
				if !strings.HasSuffix(line, "(server dry run)") {
					t.Errorf("kubectl: %q is not a server dry run", line)
				}
			}
			if strings.Contains(stderr, "PodSecurity") {
				t.Errorf("%s violates the namespace's Pod Security level:\n%s", dir, stderr)
			}
		})
	}
}

// TestMintedKubeconfig: deploy/member/mint-kubeconfig.sh mints europe's
// kubeconfig from the lab's admin context, as the operator guide says, for
// the reader ServiceAccount the lab applied from deploy/member; a
// coredns-fed whose europe member uses it syncs, answers, and follows
// changes in europe.
func TestMintedKubeconfig(t *testing.T) {
	requireKubectl(t)
	healthy(t)
	eu := cluster(t, europe)
	out := filepath.Join(t.TempDir(), eu.Name+".kubeconfig")
	stdout, stderr, err := command(t, []string{"KUBECONFIG=" + fed.Kubeconfig()},
		filepath.Join("deploy", "member", "mint-kubeconfig.sh"), "--context", eu.Name, eu.Name, out)
	if err != nil {
		t.Fatalf("mint-kubeconfig.sh: %v\nstdout:\n%s\nstderr:\n%s", err, stdout, stderr)
	}
	t.Logf("mint-kubeconfig.sh: %s%s", stdout, stderr)
	if strings.Contains(stderr, "warning") {
		t.Errorf("mint-kubeconfig.sh warned:\n%s", stderr)
	}

	// The token is the reader ServiceAccount's.
	client, _, err := lab.ClientFor(out)
	if err != nil {
		t.Fatal(err)
	}
	review, err := client.AuthenticationV1().SelfSubjectReviews().Create(t.Context(), &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("who is the minted kubeconfig: %v", err)
	}
	wantUser := "system:serviceaccount:" + lab.ReaderNamespace + ":" + lab.ReaderServiceAccount
	if got := review.Status.UserInfo.Username; got != wantUser {
		t.Errorf("the minted kubeconfig authenticates as %q, want %q", got, wantUser)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 3*convergeTimeout)
	defer cancel()
	d, err := fed.StartVariant(ctx, "minted", lab.Variant{
		ShardHealth: lab.SeedShardHealth(),
		Kubeconfigs: map[string]string{eu.Name: out + " " + eu.Name},
	})
	if err != nil {
		t.Fatalf("starting coredns-fed with the minted kubeconfig: %v", err)
	}
	t.Cleanup(d.Stop)
	eventuallyMetric(t, d, convergeTimeout, "coredns_federation_member_synced", map[string]string{"member": eu.Name}, 1)
	healthyAt(t, d)

	setReady(t, europe, false)
	t.Cleanup(func() { setReady(t, europe, true) })
	eventuallyAt(t, d, convergeTimeout, regionName(eu.Region), dns.TypeA, fallback(eu))
	setReady(t, europe, true)
	eventuallyAt(t, d, convergeTimeout, regionName(eu.Region), dns.TypeA, positive(as(regionName(eu.Region), eu)...))
}
