package lab

import (
	"context"
	"fmt"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
)

// The identity deploy/member/rbac.yaml creates in every member, and that
// coredns-fed uses to watch it.
const (
	ReaderNamespace      = "coredns-fed"
	ReaderServiceAccount = "coredns-fed-reader"
)

// readerTokenLifetime is asked of the TokenRequest API; a lab rarely lives a
// week, and the API server may shorten it.
const readerTokenLifetime = 7 * 24 * time.Hour

// writeReaderKubeconfig mints a token for the reader ServiceAccount through
// the TokenRequest API, as `kubectl create token` does, and writes the
// member's reader kubeconfig with it.
func writeReaderKubeconfig(ctx context.Context, c *Cluster, client kubernetes.Interface, caPEM []byte) error {
	req := &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{
			ExpirationSeconds: ptr.To(int64(readerTokenLifetime / time.Second)),
		},
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var tr *authenticationv1.TokenRequest
	// The ServiceAccount was just applied; retry briefly in case the
	// API server's cache has not caught up.
	err := Poll(ctx, pollInterval, nil, func() error {
		var err error
		tr, err = client.CoreV1().ServiceAccounts(ReaderNamespace).CreateToken(ctx, ReaderServiceAccount, req, metav1.CreateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("minting a token for %s/%s in %s: %w", ReaderNamespace, ReaderServiceAccount, c.Name, err)
	}
	user := "system:serviceaccount:" + ReaderNamespace + ":" + ReaderServiceAccount
	return clientcmd.WriteToFile(*kubeconfig(c, caPEM, user, tr.Status.Token), c.ReaderKubeconfig)
}
