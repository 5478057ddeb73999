package chaos

import (
	"testing"
	"time"

	"github.com/miekg/dns"
)

func TestTimelineAllowed(t *testing.T) {
	ms := time.Millisecond
	var tl Timeline
	tl.initial = true
	tl.Set(false, 100*ms, 150*ms)
	tl.Set(true, 300*ms, 400*ms)
	tl.Set(false, 410*ms, 420*ms)
	for _, c := range []struct {
		t1, t2          time.Duration
		canTrue, canFal bool
	}{
		{0, 50 * ms, true, false},
		{0, 100 * ms, true, true},
		{120 * ms, 130 * ms, true, true},
		{160 * ms, 200 * ms, false, true},
		{200 * ms, 299 * ms, false, true},
		{305 * ms, 305 * ms, true, true},
		{330 * ms, 390 * ms, true, true}, // the first flip back is still in its window
		{401 * ms, 405 * ms, true, false},
		{330 * ms, 415 * ms, true, true},
		{421 * ms, 500 * ms, false, true},
	} {
		gotTrue, gotFalse := tl.allowed(c.t1, c.t2)
		if gotTrue != c.canTrue || gotFalse != c.canFal {
			t.Errorf("allowed(%s, %s) = %v, %v; want %v, %v", c.t1, c.t2, gotTrue, gotFalse, c.canTrue, c.canFal)
		}
	}
}

func TestCheckFindsContradictions(t *testing.T) {
	ms := time.Millisecond
	l := &Load{targets: []Target{
		{Name: "s.global.", Service: 0, Member: -1},
		{Name: "s.zone0.", Service: 0, Member: 0},
		{Name: "soa.", Service: -1, Member: -1},
	}}
	exp := NewExpect(2, 1, true)
	exp.Shard(0, 0).Set(false, 100*ms, 200*ms) // member 0 goes down
	answers := []Answer{
		{Target: 0, Sent: 10 * ms, Recv: 11 * ms, Mask: 0b11},                 // right
		{Target: 0, Sent: 10 * ms, Recv: 11 * ms, Mask: 0b10},                 // member 0 missing too early
		{Target: 0, Sent: 150 * ms, Recv: 151 * ms, Mask: 0b10},               // in the window: right
		{Target: 0, Sent: 150 * ms, Recv: 151 * ms, Mask: 0b11},               // in the window: right
		{Target: 0, Sent: 250 * ms, Recv: 251 * ms, Mask: 0b11},               // member 0 too late
		{Target: 1, Sent: 250 * ms, Recv: 251 * ms, Mask: 0b01, Direct: true}, // zone answered by a down shard
		{Target: 1, Sent: 250 * ms, Recv: 251 * ms, Mask: 0b10},               // fell back: right
		{Target: 1, Sent: 20 * ms, Recv: 21 * ms, Mask: 0b10},                 // fell back while up
		{Target: 0, Sent: 30 * ms, Recv: 31 * ms, Mask: 0b11, Foreign: true},  // a stranger's address
		{Target: 0, Sent: 40 * ms, Recv: 41 * ms, Rcode: dns.RcodeServerFailure},
		{Target: 0, Sent: 40 * ms, Recv: 41 * ms, Rcode: dns.RcodeNameError}, // no such name: wrong
		{Target: 2, Sent: 50 * ms, Recv: 51 * ms, Serial: 10},
		{Target: 2, Sent: 60 * ms, Recv: 61 * ms, Serial: 9},
		{Target: 0, Sent: 70 * ms, Recv: 1070 * ms, Rcode: rcodeTimeout},
	}
	got := l.Check(answers, exp, 0, time.Second, nil)
	if got.Queries != len(answers) || got.Right != 5 || got.Wrong != 6 || got.ServFail != 1 || got.SerialBack != 1 || got.Timeouts != 1 {
		t.Errorf("Check = %+v", got)
	}
	if only := l.Check(answers, exp, 0, time.Second, func(t Target) bool { return t.Member == 0 }); only.Queries != 3 {
		t.Errorf("Check of member 0's names counted %d queries, want 3", only.Queries)
	}
	// The answer at 250 ms still had member 0, 50 ms after the window closed.
	if late := l.Check(answers[4:5], exp, 0, time.Second, nil); late.Wrong != 1 || late.MaxLateMs != 50 {
		t.Errorf("a late answer: %+v, want 1 contradicting, 50 ms late", late)
	}
	if got.MaxLateMs != -1 {
		t.Errorf("MaxLateMs = %v with answers no lateness explains, want -1", got.MaxLateMs)
	}
}
