package federation

import (
	"context"
	"maps"
	"slices"
	"sync"
)

// MemorySource is a Source held in memory: a program or a test sets its Services
// and Nodes directly and they reach the answers as a watched cluster's would.
// It starts synced; SetSynced(false) holds it back.
type MemorySource struct {
	mu       sync.Mutex
	services map[string]memService
	nodes    map[string]Place
	synced   bool
	ev       Events
}

// NewMemorySource returns an empty, synced MemorySource.
func NewMemorySource() *MemorySource {
	return &MemorySource{services: map[string]memService{}, nodes: map[string]Place{}, synced: true}
}

// Run implements Source.
func (m *MemorySource) Run(ctx context.Context, ev Events) {
	m.mu.Lock()
	m.ev = ev
	m.mu.Unlock()
	<-ctx.Done()
	m.mu.Lock()
	m.ev = nil
	m.mu.Unlock()
}

// events returns the running federation's Events, or nil; they are called
// without m.mu held.
func (m *MemorySource) events() Events {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ev
}

// notify reports key to the running federation, if any.
func (m *MemorySource) notify(key string) {
	if ev := m.events(); ev != nil {
		ev.Changed(key)
	}
}

// memService is a Service of a MemorySource.
type memService struct {
	state *ServiceState // replaced, never modified: shards share it
	ready bool
}

// SetService adds or replaces a Service; ready says whether it has a ready
// endpoint. s.Federation is the value of its federation label, as a watched
// cluster's Service carries it.
func (m *MemorySource) SetService(s ServiceState, ready bool) {
	key := s.Namespace + "/" + s.Name
	m.mu.Lock()
	m.services[key] = memService{state: &s, ready: ready}
	m.mu.Unlock()
	m.notify(key)
}

// DeleteService removes the Service namespace/name.
func (m *MemorySource) DeleteService(key string) {
	m.mu.Lock()
	delete(m.services, key)
	m.mu.Unlock()
	m.notify(key)
}

// SetNode adds or replaces a Node with its topology labels.
func (m *MemorySource) SetNode(name string, p Place) {
	m.mu.Lock()
	m.nodes[name] = p
	m.mu.Unlock()
	m.notify("")
}

// SetSynced sets what HasSynced reports.
func (m *MemorySource) SetSynced(ok bool) {
	m.mu.Lock()
	m.synced = ok
	m.mu.Unlock()
}

// Contact reports a request to the member's API server, as a watch would.
func (m *MemorySource) Contact(err error) {
	if ev := m.events(); ev != nil {
		ev.Contact(err)
	}
}

// HasSynced implements Source.
func (m *MemorySource) HasSynced() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.synced
}

// ServiceKeys implements Source.
func (m *MemorySource) ServiceKeys() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Collect(maps.Keys(m.services))
}

// Service implements Source.
func (m *MemorySource) Service(key string) (svc *ServiceState, ready, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.services[key]
	return s.state, s.ready, ok
}

// Nodes implements Source.
func (m *MemorySource) Nodes(name string) (all []Place, node Place) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for n, p := range m.nodes {
		if n == name {
			node = p
		}
		if (p.Region != "" || p.Zone != "") && !slices.Contains(all, p) {
			all = append(all, p)
		}
	}
	slices.SortFunc(all, comparePlace)
	return all, node
}
