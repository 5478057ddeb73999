package federation

import (
	"context"
	"errors"
	"fmt"
	golog "log"
	"os"
	goruntime "runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	meta "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/coredns-fed/coredns-fed/internal/fixture"
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

// The first snapshot is whole: a member counts as synced once its event
// handlers have seen every object of the first lists, so that no Service is
// answered as not ready for want of its EndpointSlice's event; and the objects
// of the first lists are not reported one by one, which would rebuild them all
// a second time.
func TestFirstSnapshotWhole(t *testing.T) {
	const n = 3000
	var objs []runtime.Object
	for i := range n {
		name := fmt.Sprintf("svc-%04d", i)
		objs = append(objs, fixture.Service("ns", name, "myfederation", fmt.Sprintf("10.0.%d.%d", i/256, i%256)),
			slice("ns", name, fixture.Ready))
	}
	before := testutil.ToFloat64(snapshotBuilds.WithLabelValues(""))
	f, _ := newTestFederation(t, []cluster{{name: "a", nodes: []Place{{"r", "z"}}, objs: objs}})
	s := f.snapshot.Load()
	missing := 0
	for i := range n {
		n := s.lookup(fmt.Sprintf("svc-%04d.ns.myfederation.svc.", i))
		if n == nil || len(n.all.rrs) != 1 {
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("the first snapshot answers %d of %d Services without their address", missing, n)
	}
	waitFor(t, "idle", f.Idle)
	if got := testutil.ToFloat64(snapshotBuilds.WithLabelValues("")) - before; got != 1 {
		t.Errorf("%.0f snapshots built after the first lists, want 1", got)
	}
}

// changes counts what a source reports changed.
type changes struct {
	contacts
	n atomic.Int64
}

func (c *changes) Changed(string) { c.n.Add(1) }

// A source is synced once its handlers have counted every EndpointSlice of
// the first list, and it reports none of the first lists' objects one by one.
func TestSourceSyncedWithHandlers(t *testing.T) {
	const n = 5000
	var objs []runtime.Object
	for i := range n {
		name := fmt.Sprintf("svc-%04d", i)
		objs = append(objs, fixture.Service("ns", name, "myfederation", "192.0.2.1"), slice("ns", name, fixture.Ready))
	}
	k := newKubeSource("a", fake.NewClientset(objs...), nil, labels.Everything(), false)
	ev := &changes{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { k.Run(ctx, ev); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	for !k.HasSynced() { // as tight as it gets: the first moment it is synced
		goruntime.Gosched()
	}
	k.mu.Lock()
	counted := len(k.ready)
	k.mu.Unlock()
	if counted != n {
		t.Errorf("synced with %d of %d Services' ready EndpointSlices counted", counted, n)
	}
	if got := ev.n.Load(); got != 0 {
		t.Errorf("%d changes reported for the first lists' objects, want 0", got)
	}
}
