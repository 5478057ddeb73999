package bench

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/coredns-fed/coredns-fed/internal/lab"
)

// process is a child the benchmark started: its own process group, killed by
// the kernel if the benchmark dies (Pdeathsig), output appended to a log file.
type process struct {
	name    string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{}
	err     error
}

// startProcess runs argv, pinned to the CPU list cpus when not empty (taskset
// execs the program, so the pid is the program's own).
func startProcess(name, logPath, cpus string, argv ...string) (*process, error) {
	if cpus != "" {
		argv = append([]string{"taskset", "-c", cpus}, argv...)
	}
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &process{name: name, logPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		log.Close()
		close(p.done)
	}()
	return p, nil
}

func (p *process) pid() int { return p.cmd.Process.Pid }

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// exitErr describes how the process ended, with the end of its log.
func (p *process) exitErr() error {
	err := p.err
	if err == nil {
		err = errors.New("exited")
	}
	return fmt.Errorf("%s %w; end of %s:\n%s", p.name, err, p.logPath, lab.Tail(p.logPath, 15))
}

// stop sends SIGTERM to the process group, SIGKILL after ten seconds, and waits.
func (p *process) stop() {
	pgid := p.pid()
	syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.done
	}
	syscall.Kill(-pgid, syscall.SIGKILL)
}

// Memory is a process's resident memory from /proc/PID/status.
type Memory struct {
	RSS  int64 `json:"rss_bytes"`  // VmRSS
	Peak int64 `json:"peak_bytes"` // VmHWM, the largest RSS so far
}

// readMemory reads VmRSS and VmHWM of pid ("self" for this process).
func readMemory(pid string) (Memory, error) {
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return Memory{}, err
	}
	var m Memory
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" {
			continue
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		switch k {
		case "VmRSS":
			m.RSS = n << 10
		case "VmHWM":
			m.Peak = n << 10
		}
	}
	return m, nil
}

// clockTick is USER_HZ, the unit of /proc CPU times on Linux.
const clockTick = 100

// processCPU returns the user+system CPU time pid has used.
func processCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / clockTick, nil
}

// machineCPU returns the busy CPU time of all CPUs from /proc/stat, and
// the part of it spent in softirq, where the kernel moves loopback packets;
// that time is charged to no process.
func machineCPU() (busy, softirq time.Duration, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0, 0, errors.New("malformed /proc/stat")
	}
	// user nice system idle iowait irq softirq steal; guest time is already
	// counted in user.
	var sum, idle, soft int64
	for k, v := range f[1:min(len(f), 9)] {
		n, _ := strconv.ParseInt(v, 10, 64)
		sum += n
		switch k {
		case 3, 4:
			idle += n
		case 6:
			soft = n
		}
	}
	tick := time.Second / clockTick
	return time.Duration(sum-idle) * tick, time.Duration(soft) * tick, nil
}
