package federation

import (
	"context"
	"errors"
	"sync"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	meta "k8s.io/apimachinery/pkg/apis/meta/v1"
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
