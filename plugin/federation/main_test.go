package federation

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests when a goroutine outlives them: Stop must
// wait for every goroutine Start began (informers, member runs, build loops).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
