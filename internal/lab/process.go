package lab

import (
	"bytes"
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

// process is one child the lab started. Every child runs in its own process
// group, so stopping it also stops anything it forked, and gets SIGKILL from
// the kernel if the lab's process dies without cleaning up (Pdeathsig).
type process struct {
	name    string
	path    string
	args    []string
	logPath string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

func newProcess(name, path, logPath string, args ...string) *process {
	return &process{name: name, path: path, args: args, logPath: logPath}
}

// start runs the process with stdout and stderr appended to its log file.
func (p *process) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		return fmt.Errorf("%s already running (pid %d)", p.name, p.cmd.Process.Pid)
	}
	log, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(p.path, p.args...)
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

// pid returns the process id, or 0 when the process is not running.
func (p *process) pid() int {
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

// exited is closed when the current run of the process ends. It is nil when
// the process was never started.
func (p *process) exited() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.done
}

// exitErr describes how the last run ended, with the tail of the log.
func (p *process) exitErr() error {
	p.mu.Lock()
	err := p.err
	p.mu.Unlock()
	if err == nil {
		err = errors.New("exited")
	}
	return fmt.Errorf("%s %w; last lines of %s:\n%s", p.name, err, p.logPath, Tail(p.logPath, 20))
}

// stop sends SIGTERM to the process group, then SIGKILL after stopTimeout,
// and waits for the process to be reaped.
func (p *process) stop() {
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
