package federation

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/util/validation"
)

// topology places one member: what the Corefile sets wins, what it leaves out
// comes from the topology labels of the member's Nodes. Label values that are
// not DNS labels are skipped, each logged once.
type topology struct {
	member string
	region string   // from the Corefile; empty: from Nodes
	zones  []string // from the Corefile; empty: from Nodes

	mu     sync.Mutex
	places []Place
	known  bool
	warned map[string]bool
}

func newTopology(m *Member) *topology {
	return &topology{member: m.Name, region: m.Region, zones: m.Zones, warned: map[string]bool{}}
}

// update recomputes the places from the Nodes' labels and reports whether they
// changed.
func (t *topology) update(nodes []Place) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.merge(t.clean(nodes))
	if t.known && slices.Equal(p, t.places) {
		return false
	}
	t.places, t.known = p, true
	return true
}

// current returns the member's places as of the last update.
func (t *topology) current() []Place {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.places
}

// clean lower-cases the Nodes' values and drops those that are not DNS labels.
func (t *topology) clean(nodes []Place) []Place {
	out := make([]Place, 0, len(nodes))
	for _, p := range nodes {
		p.Region = t.label("region", p.Region)
		p.Zone = t.label("zone", p.Zone)
		if p.Region != "" || p.Zone != "" {
			out = append(out, p)
		}
	}
	return out
}

// warnOnce logs a problem with the member's topology the first time it is seen.
func (t *topology) warnOnce(key, format string, args ...any) {
	t.mu.Lock()
	seen := t.warned[key]
	t.warned[key] = true
	t.mu.Unlock()
	if !seen {
		log.Warningf(format, args...)
	}
}

// label returns v lower-cased, or "" when it is not a DNS label. t.mu is held.
func (t *topology) label(kind, v string) string {
	if v == "" {
		return ""
	}
	if err := checkLabel(v); err != nil {
		if !t.warned[kind+"/"+v] {
			t.warned[kind+"/"+v] = true
			log.Warningf("Member %s: Node %s label %q is not a DNS label (%v); ignored", t.member, kind, v, err)
		}
		return ""
	}
	return strings.ToLower(v)
}

// merge combines the Corefile's region and zones with the Nodes' places, sorted
// and deduplicated.
func (t *topology) merge(found []Place) []Place {
	var out []Place
	switch {
	case t.region != "" && len(t.zones) > 0:
		for _, z := range t.zones {
			out = append(out, Place{t.region, z})
		}
	case t.region != "":
		out = append(out, Place{t.region, ""})
		for _, p := range found {
			if p.Zone != "" {
				out = append(out, Place{t.region, p.Zone})
			}
		}
	case len(t.zones) > 0:
		region := ""
		for _, p := range found {
			if p.Region != "" && (region == "" || p.Region < region) {
				region = p.Region
			}
		}
		for _, z := range t.zones {
			out = append(out, Place{region, z})
		}
	default:
		out = found
	}
	slices.SortFunc(out, comparePlace)
	return slices.Compact(out)
}

// checkLabel accepts a region or zone name: one DNS label (RFC 1123), any case.
func checkLabel(s string) error {
	if errs := validation.IsDNS1123Label(strings.ToLower(s)); len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}
