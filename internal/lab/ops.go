package lab

import (
	"context"
	"fmt"
)

// SetReady marks every federated Service's endpoints in the named member
// ready or not ready.
func (l *Lab) SetReady(ctx context.Context, cluster string, ready bool) error {
	c, err := l.Cluster(cluster)
	if err != nil {
		return err
	}
	return c.SetReady(ctx, l.cfg.Namespace, ready)
}

// StopBackend closes the named member's backend: its load-balancer address
// refuses connections.
func (l *Lab) StopBackend(cluster string) error {
	c, err := l.Cluster(cluster)
	if err != nil {
		return err
	}
	c.backend.stop()
	l.logf("%s: backend %s stopped", c.Name, c.Addr)
	return nil
}

// StartBackend starts the named member's backend again on its address.
func (l *Lab) StartBackend(cluster string) error {
	c, err := l.Cluster(cluster)
	if err != nil {
		return err
	}
	if err := c.backend.start(); err != nil {
		return err
	}
	l.logf("%s: backend %s started", c.Name, c.Addr)
	return nil
}

// BackendRunning reports whether the named member's backend is up.
func (l *Lab) BackendRunning(cluster string) (bool, error) {
	c, err := l.Cluster(cluster)
	if err != nil {
		return false, err
	}
	return c.backend.running(), nil
}

// StopAPIServer stops the named member's kube-apiserver; its data stays in
// etcd and its port stays reserved for StartAPIServer.
func (l *Lab) StopAPIServer(cluster string) error {
	c, err := l.Cluster(cluster)
	if err != nil {
		return err
	}
	c.apiserver.Stop()
	l.logf("%s: kube-apiserver stopped", c.Name)
	return nil
}

// KillAPIServer kills the named member's kube-apiserver with SIGKILL, as a
// crash would end it: no graceful shutdown, watches cut without a goodbye.
// StartAPIServer starts it again.
func (l *Lab) KillAPIServer(cluster string) error {
	c, err := l.Cluster(cluster)
	if err != nil {
		return err
	}
	c.apiserver.Kill()
	l.logf("%s: kube-apiserver killed", c.Name)
	return nil
}

// StartAPIServer starts the named member's kube-apiserver again, with the
// same port, certificates and data, and waits until it is ready.
func (l *Lab) StartAPIServer(ctx context.Context, cluster string) error {
	c, err := l.Cluster(cluster)
	if err != nil {
		return err
	}
	if c.apiserver.PID() != 0 {
		return nil
	}
	if err := c.apiserver.Start(); err != nil {
		return err
	}
	if err := waitReady(ctx, c, c.Client); err != nil {
		return err
	}
	l.logf("%s: kube-apiserver ready again (pid %d)", c.Name, c.apiserver.PID())
	return nil
}

// APIServerRunning reports whether the named member's kube-apiserver runs.
func (l *Lab) APIServerRunning(cluster string) (bool, error) {
	c, err := l.Cluster(cluster)
	if err != nil {
		return false, err
	}
	return c.apiserver.PID() != 0, nil
}

// AddService creates the federated Service name in every member whose
// kube-apiserver is running.
func (l *Lab) AddService(ctx context.Context, name string) error {
	return l.eachRunning(func(c *Cluster) error {
		return c.AddService(ctx, l.cfg.Namespace, name, l.cfg.Federation)
	})
}

// RemoveService deletes the federated Service name from every member whose
// kube-apiserver is running.
func (l *Lab) RemoveService(ctx context.Context, name string) error {
	return l.eachRunning(func(c *Cluster) error {
		return c.RemoveService(ctx, l.cfg.Namespace, name)
	})
}

func (l *Lab) eachRunning(fn func(*Cluster) error) error {
	return l.eachCluster(func(c *Cluster) error {
		if c.apiserver.PID() == 0 {
			l.logf("%s: kube-apiserver is stopped, skipped", c.Name)
			return nil
		}
		if err := fn(c); err != nil {
			return fmt.Errorf("%s: %w", c.Name, err)
		}
		return nil
	})
}

// AuditLog returns the path of the named member's kube-apiserver audit log,
// which it writes when the lab runs with Config.Audit.
func (l *Lab) AuditLog(cluster string) (string, error) {
	c, err := l.Cluster(cluster)
	if err != nil {
		return "", err
	}
	if !l.cfg.Audit {
		return "", fmt.Errorf("the lab runs without audit logs (Config.Audit)")
	}
	return c.auditLogPath(), nil
}

// EtcdURL is the client URL of the lab's etcd.
func (l *Lab) EtcdURL() string { return l.etcd.clientURL }

// StopEtcd stops the lab's etcd, with SIGKILL when kill is set (else
// SIGTERM); its data stays for StartEtcd. Every member's kube-apiserver
// loses its storage meanwhile.
func (l *Lab) StopEtcd(kill bool) {
	if kill {
		l.etcd.proc.Kill()
	} else {
		l.etcd.proc.Stop()
	}
	l.logf("etcd stopped")
}

// StartEtcd starts the lab's etcd again on the same ports and data, and
// waits until it is healthy.
func (l *Lab) StartEtcd(ctx context.Context) error {
	if l.etcd.proc.PID() != 0 {
		return nil
	}
	if err := l.etcd.proc.Start(); err != nil {
		return err
	}
	if err := l.etcd.waitHealthy(ctx); err != nil {
		return err
	}
	l.logf("etcd healthy again (pid %d)", l.etcd.proc.PID())
	return nil
}
