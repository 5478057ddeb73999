package federation

import (
	"context"
	"net/netip"
)

// Source is one member cluster as the snapshot builder reads it: its federated
// Services with their readiness, and where its Nodes are. The client-go
// implementation watches a real API server (kubeSource); MemorySource holds
// objects set by a program or a test. A Source only reports; what its contact
// means for the answers (synced, stale) is decided by the federation.
type Source interface {
	// Run watches until ctx is done and reports to ev. It returns once every
	// goroutine it started has ended.
	Run(ctx context.Context, ev Events)
	// HasSynced reports whether the first list of every watched kind is in.
	HasSynced() bool
	// ServiceKeys lists namespace/name of every federated Service.
	ServiceKeys() []string
	// Service returns the member's copy of a federated Service, or ok false,
	// and whether some EndpointSlice of it has a ready endpoint. The state is
	// the source's own and is shared by every shard built from it: a source
	// replaces it when the Service changes and never modifies it, and callers
	// must not modify it either.
	Service(key string) (svc *ServiceState, ready, ok bool)
	// Nodes returns the topology labels of the member's Nodes (deduplicated),
	// and the place of the Node named name when name is not empty.
	Nodes(name string) (all []Place, node Place)
}

// Events is what a Source reports to while it runs. The calls must not block.
type Events interface {
	// Changed says the inputs of the Service namespace/name changed; "" means
	// every Service (the topology changed).
	Changed(key string)
	// Contact reports a request to the API server that succeeded (err nil) or
	// failed.
	Contact(err error)
}

// ServiceState is what a Source knows of one federated Service.
type ServiceState struct {
	Namespace    string
	Name         string
	Federation   string            // value of the federation label
	LoadBalancer bool              // type LoadBalancer
	Ingress      []netip.Addr      // load-balancer ingress IPs
	Hostnames    []string          // load-balancer ingress hostnames without an IP
	Annotations  map[string]string // those under AnnotationPrefix
	Ports        []Port            // the Service's ports, names and protocols lower case
}

// Place is a (region, zone) pair a member occupies; Zone may be empty.
type Place struct{ Region, Zone string }

func comparePlace(a, b Place) int {
	switch {
	case a.Region < b.Region:
		return -1
	case a.Region > b.Region:
		return 1
	case a.Zone < b.Zone:
		return -1
	case a.Zone > b.Zone:
		return 1
	}
	return 0
}
