package lab

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestProcessStartStop(t *testing.T) {
	p := NewProcess("sleeper", filepath.Join(t.TempDir(), "sleeper.log"), "sleep", "60")
	if p.Exited() != nil || p.PID() != 0 {
		t.Fatal("a process not started has an exit channel or a pid")
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	pid := p.PID()
	if pid == 0 {
		t.Fatal("no pid after Start")
	}
	if err := p.Start(); err == nil {
		t.Error("a second Start while running succeeded")
	}
	if _, err := ProcStat(pid); err != nil {
		t.Errorf("ProcStat(%d): %v", pid, err)
	}
	exited := p.Exited()
	p.Stop()
	select {
	case <-exited:
	default:
		t.Fatal("Stop returned before the process ended")
	}
	if p.PID() != 0 {
		t.Error("pid of a stopped process is not 0")
	}
	p.Stop() // a second Stop does nothing
	// A stopped process starts again.
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	if p.PID() == 0 {
		t.Error("no pid after the second Start")
	}
}

func TestPollStopsWhenTheProcessExits(t *testing.T) {
	log := filepath.Join(t.TempDir(), "fails.log")
	p, err := StartProcess("fails", log, "sh", "-c", "echo giving up; exit 3")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = Poll(ctx, 10*time.Millisecond, p, func() error { return errors.New("not yet") })
	if err == nil || !strings.Contains(err.Error(), "exit status 3") || !strings.Contains(err.Error(), "giving up") {
		t.Errorf("Poll: %v, want the exit status and the log's last lines", err)
	}
	if ctx.Err() != nil {
		t.Error("Poll waited for its deadline, not for the exit")
	}
}

func TestPollDeadline(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	calls := 0
	err := Poll(ctx, 10*time.Millisecond, nil, func() error { calls++; return errors.New("never") })
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "never") {
		t.Errorf("Poll: %v, want the deadline and the last error", err)
	}
	if calls < 2 {
		t.Errorf("check called %d times", calls)
	}
	if err := Poll(context.Background(), time.Hour, nil, func() error { return nil }); err != nil {
		t.Errorf("Poll of a check that holds: %v", err)
	}
}

func TestPinned(t *testing.T) {
	if got := Pinned("", "knotd", "-c", "x"); !slices.Equal(got, []string{"knotd", "-c", "x"}) {
		t.Errorf("unpinned: %q", got)
	}
	if got := Pinned("1", "knotd"); !slices.Equal(got, []string{"taskset", "-c", "1", "knotd"}) {
		t.Errorf("pinned: %q", got)
	}
}

func TestProcStat(t *testing.T) {
	f, err := ProcStat(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if ppid, _ := strconv.Atoi(f[1]); ppid != os.Getppid() {
		t.Errorf("ppid field %q, want %d", f[1], os.Getppid())
	}
	if start, err := ProcessStartTime(os.Getpid()); err != nil || start != f[19] {
		t.Errorf("ProcessStartTime = %q, %v; want %q", start, err, f[19])
	}
}

func TestFreeDNSPort(t *testing.T) {
	port, err := FreeDNSPort()
	if err != nil {
		t.Fatal(err)
	}
	if port <= 0 || port > 65535 {
		t.Errorf("port %d", port)
	}
	if got := HostPort(Loopback, port); got != "127.0.0.1:"+strconv.Itoa(port) {
		t.Errorf("HostPort = %q", got)
	}
}
