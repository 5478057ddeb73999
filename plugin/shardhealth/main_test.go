package shardhealth

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests when a goroutine outlives them: Stop must
// wait for every goroutine Start began (the scheduler and the probe workers).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
