package integration

import (
	"context"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// reconnectTimeout allows for client-go's reflector backoff, which grows
// while a member's kube-apiserver is down, before coredns-fed's watches
// reach it again.
const reconnectTimeout = 90 * time.Second

// memberAPIServerRestart: one member's kube-apiserver stops. coredns-fed
// keeps serving the other members and keeps following their changes; when
// the kube-apiserver is back it reconnects and follows that member again.
func memberAPIServerRestart(t *testing.T) {
	healthy(t)
	const down = "gce-asia-east1"
	asia := cluster(t, down)
	eu := cluster(t, europe)

	if err := fed.StopAPIServer(down); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		do(t, "starting "+down, func(ctx context.Context) error { return fed.StartAPIServer(ctx, down) })
	})

	// The others are still served, and still followed.
	for _, c := range except(down) {
		expect(t, regionName(c.Region), dns.TypeA, positive(as(regionName(c.Region), c)...))
	}
	setReady(t, europe, false)
	eventually(t, regionName(eu.Region), dns.TypeA, positive(append(
		[]string{cname(regionName(eu.Region), globalName())},
		as(globalName(), except(europe)...)...)...))
	setReady(t, europe, true)
	eventually(t, regionName(eu.Region), dns.TypeA, positive(as(regionName(eu.Region), eu)...))
	if r, err := exchange(regionName(asia.Region), dns.TypeA); err == nil {
		t.Logf("while %s's kube-apiserver is down, %s answers:\n%s", down, regionName(asia.Region), r)
	}

	do(t, "starting "+down, func(ctx context.Context) error { return fed.StartAPIServer(ctx, down) })

	// A change made after the restart shows up: the watch reconnected.
	setReady(t, down, false)
	t.Cleanup(func() { setReady(t, down, true) })
	eventuallyWithin(t, reconnectTimeout, regionName(asia.Region), dns.TypeA, positive(append(
		[]string{cname(regionName(asia.Region), globalName())},
		as(globalName(), except(down)...)...)...))
	setReady(t, down, true)
	eventually(t, regionName(asia.Region), dns.TypeA, positive(as(regionName(asia.Region), asia)...))
	healthy(t)
}
