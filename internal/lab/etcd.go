package lab

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"time"
)

// etcd is the single etcd every member kube-apiserver stores into, each under
// its own --etcd-prefix.
type etcd struct {
	proc      *Process
	clientURL string
}

func startEtcd(ctx context.Context, bin, dir string) (*etcd, error) {
	clientPort, err := FreePort()
	if err != nil {
		return nil, err
	}
	peerPort, err := FreePort()
	if err != nil {
		return nil, err
	}
	clientURL := "http://" + HostPort(Loopback, clientPort)
	peerURL := "http://" + HostPort(Loopback, peerPort)
	proc := NewProcess("etcd", filepath.Join(dir, "etcd.log"), bin,
		"--name", "fedlab",
		"--data-dir", filepath.Join(dir, "etcd"),
		"--listen-client-urls", clientURL,
		"--advertise-client-urls", clientURL,
		"--listen-peer-urls", peerURL,
		"--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", "fedlab="+peerURL,
		"--log-level", "warn",
		"--logger", "zap",
	)
	if err := proc.Start(); err != nil {
		return nil, err
	}
	e := &etcd{proc: proc, clientURL: clientURL}
	if err := e.waitHealthy(ctx); err != nil {
		proc.Stop()
		return nil, err
	}
	return e, nil
}

func (e *etcd) waitHealthy(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	return Poll(ctx, pollInterval, e.proc, func() error {
		resp, err := http.Get(e.clientURL + "/health")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("etcd /health: %s", resp.Status)
		}
		return nil
	})
}
