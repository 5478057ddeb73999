package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"
)

// BackendPort is the port every backend listens on, behind its member's
// load-balancer address.
const BackendPort = 80

// backend is the HTTP server standing behind a member's load balancer. It
// answers every request with the member's name, so `curl http://IP/` shows
// which cluster DNS chose. It runs inside the lab's process.
type backend struct {
	name string
	addr string
	logf func(string, ...any)

	mu  sync.Mutex
	srv *http.Server
}

func newBackend(name, addr string, logf func(string, ...any)) *backend {
	return &backend{name: name, addr: addr, logf: logf}
}

// start binds the backend's address; it fails if the address is taken.
func (b *backend) start() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.srv != nil {
		return nil
	}
	l, err := net.Listen("tcp", HostPort(b.addr, BackendPort))
	if errors.Is(err, syscall.EACCES) {
		return fmt.Errorf("backend of %s: %w (port %d needs root or CAP_NET_BIND_SERVICE)", b.name, err, BackendPort)
	}
	if err != nil {
		return fmt.Errorf("backend of %s: %w", b.name, err)
	}
	srv := &http.Server{
		Handler:           http.HandlerFunc(b.serveHTTP),
		ReadHeaderTimeout: 5 * time.Second,
	}
	b.srv = srv
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			b.logf("backend of %s: %v", b.name, err)
		}
	}()
	return nil
}

// stop closes the listener and every open connection, so the address
// refuses connections like a load balancer with no healthy target.
func (b *backend) stop() {
	b.mu.Lock()
	srv := b.srv
	b.srv = nil
	b.mu.Unlock()
	if srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if srv.Shutdown(ctx) != nil {
		srv.Close()
	}
}

func (b *backend) running() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.srv != nil
}

func (b *backend) serveHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Fedlab-Cluster", b.name)
	fmt.Fprintln(w, b.name)
}
