package bench

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/coredns-fed/coredns-fed/internal/lab"
)

// Memory is a process's resident memory from /proc/PID/status.
type Memory struct {
	RSS  int64 `json:"rss_bytes"`  // VmRSS
	Peak int64 `json:"peak_bytes"` // VmHWM, the largest RSS so far
	// Anon and File split RSS: anonymous pages (the Go heap, stacks, the
	// runtime's own) and pages of mapped files (the binary's text and data
	// that have been touched).
	Anon int64 `json:"rss_anon_bytes,omitempty"` // RssAnon
	File int64 `json:"rss_file_bytes,omitempty"` // RssFile
}

// readMemory reads VmRSS, VmHWM, RssAnon and RssFile of pid ("self" for this process).
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
		case "RssAnon":
			m.Anon = n << 10
		case "RssFile":
			m.File = n << 10
		}
	}
	return m, nil
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
	tick := time.Second / lab.ClockTick
	return time.Duration(sum-idle) * tick, time.Duration(soft) * tick, nil
}
