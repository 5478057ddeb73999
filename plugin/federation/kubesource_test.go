package federation

import (
	"context"
	"errors"
	golog "log"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	meta "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

type contacts struct {
	mu   sync.Mutex
	errs []error
}

func (c *contacts) Changed(string) {}
func (c *contacts) Contact(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.errs = append(c.errs, err)
}

// A list or watch that reaches no API server is retried by the source itself,
// so that the reflector's backoff (up to a minute) does not delay the watches
// once the server is back; each failure is still reported. Errors with an HTTP
// status go to the reflector at once.
func TestUntilReached(t *testing.T) {
	ev := &contacts{}
	k := &kubeSource{ev: ev}
	refused := errors.New("dial tcp 127.0.0.1:6443: connect: connection refused")
	calls := 0
	call := untilReached(k, func(context.Context, meta.ListOptions) (int, error) {
		calls++
		if calls <= 2 {
			return 0, refused
		}
		return 42, nil
	})
	got, err := call(context.Background(), meta.ListOptions{})
	if err != nil || got != 42 || calls != 3 {
		t.Errorf("got %d, %v after %d calls; want 42, nil after 3", got, err, calls)
	}
	if len(ev.errs) != 2 || ev.errs[0] != refused {
		t.Errorf("reported %v, want the two refusals", ev.errs)
	}

	gone := apierrors.NewResourceExpired("too old resource version")
	calls = 0
	call = untilReached(k, func(context.Context, meta.ListOptions) (int, error) {
		calls++
		return 0, gone
	})
	if _, err := call(context.Background(), meta.ListOptions{}); !apierrors.IsResourceExpired(err) || calls != 1 {
		t.Errorf("410 Gone: got %v after %d calls, want it returned after 1", err, calls)
	}
	unavailable := apierrors.NewServiceUnavailable("starting")
	call = untilReached(k, func(context.Context, meta.ListOptions) (int, error) { return 0, unavailable })
	if _, err := call(context.Background(), meta.ListOptions{}); !apierrors.IsServiceUnavailable(err) {
		t.Errorf("503: got %v, want it returned", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	call = untilReached(k, func(context.Context, meta.ListOptions) (int, error) {
		cancel()
		return 0, refused
	})
	if _, err := call(ctx, meta.ListOptions{}); err == nil {
		t.Error("a cancelled call returned no error")
	}
}

// client-go's log lines about a member's watches name the member.
func TestClientGoLogNamesMember(t *testing.T) {
	routeKlog()
	var buf safeBuffer
	golog.SetOutput(&buf)
	defer golog.SetOutput(os.Stderr)

	// Every watch closes at once: client-go logs "watch ended with error".
	c := fake.NewClientset()
	c.PrependWatchReactor("*", func(k8stesting.Action) (bool, watch.Interface, error) {
		w := watch.NewFake()
		w.Stop()
		return true, w, nil
	})
	k := newKubeSource("gce-asia-east1", c, nil, labels.Everything(), true)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		k.Run(ctx, &contacts{})
		close(done)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(buf.String(), "watch ended with error") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	<-done
	for _, line := range strings.Split(buf.String(), "\n") {
		if strings.Contains(line, "client-go") && !strings.Contains(line, "member=gce-asia-east1") {
			t.Errorf("a client-go line without the member: %s", line)
		}
	}
	if !strings.Contains(buf.String(), "watch ended with error") {
		t.Fatalf("client-go logged no failure:\n%s", buf.String())
	}
}

type safeBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *safeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *safeBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
