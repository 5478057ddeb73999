package federation

import (
	"encoding/binary"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"unique"

	"github.com/coredns/coredns/plugin/kubernetes/object"
	core "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// AnnotationPrefix marks the Service annotations that are kept in the slim copy
// (for example the shardhealth probe overrides); all others are dropped.
const AnnotationPrefix = "coredns-fed.io/"

// service is the slim copy of a federated core/v1 Service: only what DNS needs.
// The builder's shards point at its ServiceState, so it is replaced on an
// update, never modified.
type service struct {
	ServiceState
	Version string

	*object.Empty
}

// toService is the informer transform for Services.
func toService(obj any) (any, error) {
	s, ok := obj.(*core.Service)
	if !ok {
		return obj, nil // cache.DeletedFinalStateUnknown and already-slim objects pass through.
	}
	out := &service{
		ServiceState: ServiceState{
			Name:         intern(s.Name),
			Namespace:    intern(s.Namespace),
			LoadBalancer: s.Spec.Type == core.ServiceTypeLoadBalancer,
		},
		Version: s.ResourceVersion,
		Empty:   &object.Empty{},
	}
	for _, in := range s.Status.LoadBalancer.Ingress {
		if a, err := netip.ParseAddr(in.IP); err == nil {
			out.Ingress = append(out.Ingress, a.Unmap())
		} else if in.Hostname != "" {
			// Some cloud load balancers (AWS) publish a hostname only.
			out.Hostnames = append(out.Hostnames, strings.ToLower(in.Hostname))
		}
	}
	out.Ports = ports.of(s.Spec.Ports)
	for k, v := range s.Annotations {
		if strings.HasPrefix(k, AnnotationPrefix) {
			if out.Annotations == nil {
				out.Annotations = map[string]string{}
			}
			out.Annotations[k] = v
		}
	}
	return out, nil
}

// ports holds the port lists of the Services seen, so that the copies of a
// Service in every member, and Services with the same ports, share one list.
var ports = portLists{lists: map[string][]Port{}}

// maxPortLists bounds the lists ports holds; a list seen after that is kept
// by its Service alone.
const maxPortLists = 4096

// portLists maps the encoding of a port list to its one shared copy. Lists
// are read only; entries stay (at most maxPortLists of them).
type portLists struct {
	mu    sync.Mutex
	lists map[string][]Port
	key   []byte // scratch, under mu
}

// of returns the shared list of the Service ports ps (names and protocols
// lower case), or nil when there are none.
func (l *portLists) of(ps []core.ServicePort) []Port {
	if len(ps) == 0 {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	key := l.key[:0]
	for _, p := range ps {
		key = append(key, p.Name...)
		key = append(key, 0)
		key = append(key, p.Protocol...)
		key = binary.BigEndian.AppendUint32(append(key, 0), uint32(p.Port))
	}
	l.key = key
	if out, ok := l.lists[string(key)]; ok {
		return out
	}
	out := make([]Port, len(ps))
	for i, p := range ps {
		out[i] = Port{Name: intern(strings.ToLower(p.Name)), Protocol: intern(strings.ToLower(string(p.Protocol))), Port: p.Port}
	}
	if len(l.lists) < maxPortLists {
		l.lists[string(key)] = out
	}
	return out
}

// intern returns the canonical copy of s: namespaces, Service names (the same
// in every member), regions and zones repeat across objects and members, and
// each decoded object would otherwise hold its own copy.
func intern(s string) string { return unique.Make(s).Value() }

// toServiceLabelled is toService that also keeps the value of the federation
// label key: member mode selects the Services of several federations at once.
func toServiceLabelled(key string) func(any) (any, error) {
	return func(obj any) (any, error) {
		out, err := toService(obj)
		if s, ok := obj.(*core.Service); ok && err == nil {
			out.(*service).Federation = intern(s.Labels[key])
		}
		return out, err
	}
}

// serviceModified reports whether an update changes anything DNS (or a probe) sees.
func serviceModified(a, b *service) bool {
	if a.Federation != b.Federation || a.LoadBalancer != b.LoadBalancer || !slices.Equal(a.Ingress, b.Ingress) || !slices.Equal(a.Hostnames, b.Hostnames) || !slices.Equal(a.Ports, b.Ports) || len(a.Annotations) != len(b.Annotations) {
		return true
	}
	for k, v := range a.Annotations {
		if b.Annotations[k] != v {
			return true
		}
	}
	return false
}

// endpointSlice is the slim copy of a discovery/v1 EndpointSlice.
type endpointSlice struct {
	Name      string
	Namespace string
	Version   string
	Service   string // value of the kubernetes.io/service-name label
	Ready     bool   // some endpoint's ready condition is true or unset

	*object.Empty
}

func toEndpointSlice(obj any) (any, error) {
	s, ok := obj.(*discovery.EndpointSlice)
	if !ok {
		return obj, nil
	}
	out := &endpointSlice{
		Name:      s.Name,
		Namespace: intern(s.Namespace),
		Version:   s.ResourceVersion,
		Service:   intern(s.Labels[discovery.LabelServiceName]),
		Empty:     &object.Empty{},
	}
	for _, e := range s.Endpoints {
		// An unset ready condition means ready (discovery/v1 API documentation).
		if e.Conditions.Ready == nil || *e.Conditions.Ready {
			out.Ready = true
			break
		}
	}
	return out, nil
}

// kubeNode is the slim copy of a core/v1 Node: its topology labels.
type kubeNode struct {
	Name    string
	Version string
	Region  string
	Zone    string

	*object.Empty
}

func toNode(obj any) (any, error) {
	n, ok := obj.(*core.Node)
	if !ok {
		return obj, nil
	}
	return &kubeNode{
		Name:    n.Name,
		Version: n.ResourceVersion,
		Region:  intern(n.Labels[core.LabelTopologyRegion]),
		Zone:    intern(n.Labels[core.LabelTopologyZone]),
		Empty:   &object.Empty{},
	}, nil
}

// The informer store needs metav1.Object and runtime.Object; object.Empty provides
// the no-op rest.

func (s *service) GetName() string            { return s.Name }
func (s *service) GetNamespace() string       { return s.Namespace }
func (s *service) GetResourceVersion() string { return s.Version }
func (s *service) SetResourceVersion(string)  {}
func (s *service) SetName(string)             {}
func (s *service) SetNamespace(string)        {}
func (s *service) DeepCopyObject() runtime.Object {
	c := *s
	c.Ingress = slices.Clone(s.Ingress)
	c.Hostnames = slices.Clone(s.Hostnames)
	c.Annotations = maps.Clone(s.Annotations)
	c.Ports = slices.Clone(s.Ports)
	return &c
}

func (s *endpointSlice) GetName() string            { return s.Name }
func (s *endpointSlice) GetNamespace() string       { return s.Namespace }
func (s *endpointSlice) GetResourceVersion() string { return s.Version }
func (s *endpointSlice) SetResourceVersion(string)  {}
func (s *endpointSlice) SetName(string)             {}
func (s *endpointSlice) SetNamespace(string)        {}
func (s *endpointSlice) DeepCopyObject() runtime.Object {
	c := *s
	return &c
}

func (n *kubeNode) GetName() string            { return n.Name }
func (n *kubeNode) GetNamespace() string       { return "" }
func (n *kubeNode) GetResourceVersion() string { return n.Version }
func (n *kubeNode) SetResourceVersion(string)  {}
func (n *kubeNode) SetName(string)             {}
func (n *kubeNode) SetNamespace(string)        {}
func (n *kubeNode) DeepCopyObject() runtime.Object {
	c := *n
	return &c
}
