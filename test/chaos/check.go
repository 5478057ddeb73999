package chaos

import (
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/miekg/dns"
)

// Timeline is what a scenario set for one shard (a member's copy of a
// Service): whether its address should be answered, over time. A change
// takes effect somewhere in a window: before its start the old value holds,
// after its end the new one, and within it either is right.
type Timeline struct {
	initial bool
	events  []change
	widest  time.Duration
}

type change struct {
	from, to time.Duration // the window, as offsets from the load's start
	value    bool
}

// Set records that the value becomes v somewhere in [from, to]. Changes are
// recorded in the order of their from.
func (t *Timeline) Set(v bool, from, to time.Duration) {
	t.events = append(t.events, change{from: from, to: to, value: v})
	t.widest = max(t.widest, to-from)
}

// allowed returns which values are right at some moment of [t1, t2].
func (t *Timeline) allowed(t1, t2 time.Duration) (canTrue, canFalse bool) {
	add := func(v bool) {
		if v {
			canTrue = true
		} else {
			canFalse = true
		}
	}
	// j: the last change that started by t2; its value holds within [t1, t2].
	j := sort.Search(len(t.events), func(i int) bool { return t.events[i].from > t2 }) - 1
	if j < 0 {
		add(t.initial)
		return
	}
	add(t.events[j].value)
	// Earlier values hold until the window of the change after them ends.
	for k := j; k >= 0; k-- {
		if t.events[k].to < t1 {
			if t.events[k].from+t.widest < t1 {
				break
			}
			continue
		}
		if k == 0 {
			add(t.initial)
		} else {
			add(t.events[k-1].value)
		}
	}
	return
}

// Expect holds a Timeline for every shard, by member and Service.
type Expect struct {
	shards [][]*Timeline
}

// NewExpect returns timelines for members × services shards, every one
// starting at initial.
func NewExpect(members, services int, initial bool) *Expect {
	e := &Expect{shards: make([][]*Timeline, members)}
	for m := range e.shards {
		for range services {
			e.shards[m] = append(e.shards[m], &Timeline{initial: initial})
		}
	}
	return e
}

// Shard returns the timeline of member m's copy of Service s.
func (e *Expect) Shard(m, s int) *Timeline { return e.shards[m][s] }

// Tally counts the answers of a load in a span of time.
type Tally struct {
	Queries    int     `json:"queries"`
	Seconds    float64 `json:"seconds"`
	QPS        float64 `json:"qps"`
	Right      int     `json:"right"`
	ServFail   int     `json:"servfail"`
	Timeouts   int     `json:"timeouts"`
	Refused    int     `json:"unreachable"` // the server's port refused (it was down)
	Wrong      int     `json:"contradicting"`
	SerialBack int     `json:"soa_serial_back"`
	// MaxLateMs is, over the contradicting answers, the most by which the
	// propagation bound would have to grow for them to be right (-1: one
	// would still be wrong with 10 s more).
	MaxLateMs float64 `json:"max_late_ms,omitempty"`
	// Examples describe the first few answers that were not right.
	Examples []string `json:"examples,omitempty"`
}

// Failed is every answer that was not right.
func (t Tally) Failed() int { return t.ServFail + t.Timeouts + t.Refused + t.Wrong + t.SerialBack }

func (t Tally) String() string {
	s := fmt.Sprintf("%d queries in %.1fs (%.0f QPS): %d right, %d SERVFAIL, %d timeouts, %d unreachable, %d contradicting, %d SOA serials back",
		t.Queries, t.Seconds, t.QPS, t.Right, t.ServFail, t.Timeouts, t.Refused, t.Wrong, t.SerialBack)
	if t.Wrong > 0 {
		s += fmt.Sprintf(" (late by up to %.0f ms beyond the bound)", t.MaxLateMs)
	}
	return s
}

const maxExamples = 5

// Check tallies the answers sent in [from, to) whose target keep accepts
// (nil: every target) against exp.
func (l *Load) Check(answers []Answer, exp *Expect, from, to time.Duration, keep func(Target) bool) Tally {
	var t Tally
	sorted := slices.Clone(answers)
	slices.SortFunc(sorted, func(a, b Answer) int { return int(a.Sent - b.Sent) })
	var serial uint32
	for _, a := range sorted {
		tg := l.targets[a.Target]
		if a.Sent < from || a.Sent >= to || (keep != nil && !keep(tg)) {
			continue
		}
		t.Queries++
		wrong := ""
		switch {
		case a.Rcode == rcodeTimeout:
			t.Timeouts++
			t.example(fmt.Sprintf("%s asked at %s: no reply within %s", tg.Name, a.Sent.Round(time.Millisecond), clientTimeout))
			continue
		case a.Rcode == rcodeError:
			t.Refused++
			t.example(fmt.Sprintf("%s asked at %s: the port refused", tg.Name, a.Sent.Round(time.Millisecond)))
			continue
		case a.Rcode == dns.RcodeServerFailure:
			t.ServFail++
			t.example(fmt.Sprintf("%s asked at %s, answered at %s: SERVFAIL", tg.Name, a.Sent.Round(time.Millisecond), a.Recv.Round(time.Millisecond)))
			continue
		case a.Rcode != dns.RcodeSuccess:
			wrong = "rcode " + dns.RcodeToString[int(a.Rcode)]
		case tg.SOA():
			if a.Serial < serial {
				t.SerialBack++
				t.example(fmt.Sprintf("SOA serial %d after %d at %s", a.Serial, serial, a.Sent))
				continue
			}
			serial = a.Serial
		default:
			wrong = exp.judge(tg, a)
		}
		if wrong != "" {
			t.Wrong++
			if late := exp.lateness(tg, a); late < 0 || t.MaxLateMs < 0 {
				t.MaxLateMs = -1
			} else {
				t.MaxLateMs = max(t.MaxLateMs, ms(late))
			}
			t.example(fmt.Sprintf("%s asked at %s, answered at %s: %s", tg.Name, a.Sent.Round(time.Millisecond), a.Recv.Round(time.Millisecond), wrong))
			continue
		}
		t.Right++
	}
	t.Seconds = (to - from).Seconds()
	if t.Seconds > 0 {
		t.QPS = float64(t.Queries) / t.Seconds
	}
	return t
}

func (t *Tally) example(s string) {
	if len(t.Examples) < maxExamples {
		t.Examples = append(t.Examples, s)
	}
}

// lateness returns how much longer than its window the old state of a shard
// would have to be allowed to hold for the answer a to be right: the answer's
// staleness beyond the bound. -1 when even 10 s more would not do.
func (e *Expect) lateness(tg Target, a Answer) time.Duration {
	for _, d := range []time.Duration{10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000} {
		early := a
		early.Sent -= d * time.Millisecond
		if e.judge(tg, early) == "" {
			return d * time.Millisecond
		}
	}
	return -1
}

// judge returns why the answer a contradicts every state the scenario set
// while the question was open, or "".
func (e *Expect) judge(tg Target, a Answer) string {
	if a.Foreign {
		return "an address no member has"
	}
	if tg.Member >= 0 {
		canTrue, canFalse := e.shards[tg.Member][tg.Service].allowed(a.Sent, a.Recv)
		if a.Direct {
			if a.Mask != 1<<tg.Member {
				return fmt.Sprintf("answered its own level with members %b", a.Mask)
			}
			if !canTrue {
				return fmt.Sprintf("member %d answered, but its shard was down", tg.Member)
			}
			return ""
		}
		if !canFalse {
			return fmt.Sprintf("member %d's shard was up, but its level fell back", tg.Member)
		}
	}
	for m := range e.shards {
		canTrue, canFalse := e.shards[m][tg.Service].allowed(a.Sent, a.Recv)
		present := a.Mask&(1<<m) != 0
		if present && !canTrue {
			return fmt.Sprintf("member %d answered, but its shard was down", m)
		}
		if !present && !canFalse {
			return fmt.Sprintf("member %d missing, but its shard was up", m)
		}
	}
	return ""
}
