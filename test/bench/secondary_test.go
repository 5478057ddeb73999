package bench

import "testing"

// TestFlipTargetKeepsServicesHealthySomewhere: no flip picks a Service that a
// degraded member has not ready, and every pick is a Service of the topology.
func TestFlipTargetKeepsServicesHealthySomewhere(t *testing.T) {
	for _, services := range []int{9, 17, 300, 10000} {
		top := Topology{Services: services}
		for k := range 2000 {
			m, i, _ := flipTarget(top, 2, k)
			if i < 1 || i >= services {
				t.Fatalf("%d Services, flip %d: Service %d out of range", services, k, i)
			}
			for other := range 4 {
				if !Ready(other, i) {
					t.Fatalf("%d Services, flip %d (member %d): Service %d is not ready in member %d", services, k, m, i, other)
				}
			}
		}
	}
}
