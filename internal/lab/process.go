package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// stopTimeout is how long a process gets to exit after SIGTERM before its
// process group is killed.
const stopTimeout = 15 * time.Second

// Process is one child process of the lab, the benchmark or a test. Every
// child runs in its own process group, so stopping it also stops anything it
// forked, and gets SIGKILL from the kernel if its parent dies without
// cleaning up (Pdeathsig). Its stdout and stderr are appended to a log file.
// A stopped Process may be started again.
type Process struct {
	name    string
	argv    []string
	logPath string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// NewProcess returns a Process, not yet started, that runs argv with its
// output appended to logPath; name tells it apart in errors.
func NewProcess(name, logPath string, argv ...string) *Process {
	return &Process{name: name, argv: argv, logPath: logPath}
}

// StartProcess is NewProcess followed by Start.
func StartProcess(name, logPath string, argv ...string) (*Process, error) {
	p := NewProcess(name, logPath, argv...)
	if err := p.Start(); err != nil {
		return nil, err
	}
	return p, nil
}

// Pinned returns argv run through taskset, pinned to the CPU list cpus
// ("1", "0-3"); with cpus empty it returns argv. taskset execs the program,
// so the pid of the process is the program's own.
func Pinned(cpus string, argv ...string) []string {
	if cpus == "" {
		return argv
	}
	return append([]string{"taskset", "-c", cpus}, argv...)
}

// Start runs the process.
func (p *Process) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		return fmt.Errorf("%s already running (pid %d)", p.name, p.cmd.Process.Pid)
	}
	if len(p.argv) == 0 {
		return fmt.Errorf("%s: no command", p.name)
	}
	log, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(p.argv[0], p.argv[1:]...)
	cmd.Stdout = log
	cmd.Stderr = log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		log.Close()
		return fmt.Errorf("starting %s: %w", p.name, err)
	}
	done := make(chan struct{})
	p.cmd, p.done, p.err = cmd, done, nil
	go func() {
		err := cmd.Wait()
		log.Close()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(done)
	}()
	return nil
}

// PID returns the process id, or 0 when the process is not running.
func (p *Process) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return 0
	}
	select {
	case <-p.done:
		return 0
	default:
		return p.cmd.Process.Pid
	}
}

// Exited is closed when the current run of the process ends. It is nil when
// the process was never started.
func (p *Process) Exited() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.done
}

// ExitErr describes how the last run ended, with the tail of the log.
func (p *Process) ExitErr() error {
	p.mu.Lock()
	err := p.err
	p.mu.Unlock()
	if err == nil {
		err = errors.New("exited")
	}
	return fmt.Errorf("%s %w; last lines of %s:\n%s", p.name, err, p.logPath, Tail(p.logPath, 20))
}

// Log returns the path of the process's log file.
func (p *Process) Log() string { return p.logPath }

// Stop sends SIGTERM to the process group, then SIGKILL after stopTimeout,
// and waits for the process to be reaped. It does nothing when the process
// is not running.
func (p *Process) Stop() {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	pgid := cmd.Process.Pid
	syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(stopTimeout):
		syscall.Kill(-pgid, syscall.SIGKILL)
		<-done
	}
	// Children that ignored SIGTERM may still hold the group.
	syscall.Kill(-pgid, syscall.SIGKILL)
	p.mu.Lock()
	p.cmd = nil
	p.mu.Unlock()
}

// Kill sends SIGKILL to the process group at once, as a crash or the OOM
// killer would end it, and waits for the process to be reaped. It does
// nothing when the process is not running. The process may be started again.
func (p *Process) Kill() {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-done
	p.mu.Lock()
	p.cmd = nil
	p.mu.Unlock()
}

// Exiter is something Poll watches while it waits: a Process, or a server
// the lab runs.
type Exiter interface {
	// Exited is closed when the process ends; nil when it never started.
	Exited() <-chan struct{}
	// ExitErr describes how it ended.
	ExitErr() error
}

// pollInterval is how often the lab checks whether what it started is
// ready.
const pollInterval = 200 * time.Millisecond

// Poll calls check every interval until it returns nil or ctx ends. When
// proc is not nil, Poll also gives up as soon as proc exits, with proc's
// ExitErr: nothing it waits for will come.
func Poll(ctx context.Context, interval time.Duration, proc Exiter, check func() error) error {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	var exited <-chan struct{}
	if proc != nil {
		exited = proc.Exited()
	}
	for {
		err := check()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-exited:
			return proc.ExitErr()
		case <-tick.C:
		}
	}
}

// Tail returns the last n lines of a file, for error messages.
func Tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
