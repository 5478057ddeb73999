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
	proc      *process
	clientURL string
}

func startEtcd(ctx context.Context, bin, dir string) (*etcd, error) {
	clientPort, err := freePort()
	if err != nil {
		return nil, err
	}
	peerPort, err := freePort()
	if err != nil {
		return nil, err
	}
	clientURL := "http://" + hostPort(loopback, clientPort)
	peerURL := "http://" + hostPort(loopback, peerPort)
	proc := newProcess("etcd", bin, filepath.Join(dir, "etcd.log"),
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
	if err := proc.start(); err != nil {
		return nil, err
	}
	e := &etcd{proc: proc, clientURL: clientURL}
	if err := e.waitHealthy(ctx); err != nil {
		proc.stop()
		return nil, err
	}
	return e, nil
}

func (e *etcd) waitHealthy(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	return poll(ctx, e.proc, func() error {
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

// poll calls check every 200ms until it succeeds, ctx ends, or proc exits.
func poll(ctx context.Context, proc *process, check func() error) error {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	var exited <-chan struct{}
	if proc != nil {
		exited = proc.exited()
	}
	for {
		err := check()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-exited:
			return proc.exitErr()
		case <-tick.C:
		}
	}
}
