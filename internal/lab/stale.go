package lab

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ownerFile in a lab's temporary directory records the process that made
// it, so a later lab can remove what a killed one left behind.
const ownerFile = "owner"

// tempPrefix starts the name of every temporary lab directory.
const tempPrefix = "fedlab-"

// makeTempDir creates the lab's temporary directory, first removing those
// of labs whose process is gone (a test binary killed by its timeout never
// runs Close; its children die with it, its directory does not).
func makeTempDir() (string, error) {
	removeStaleTempDirs()
	dir, err := os.MkdirTemp("", tempPrefix)
	if err != nil {
		return "", err
	}
	start, err := ProcessStartTime(os.Getpid())
	if err == nil {
		owner := fmt.Sprintf("%d %s\n", os.Getpid(), start)
		err = os.WriteFile(filepath.Join(dir, ownerFile), []byte(owner), 0o644)
	}
	if err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	return dir, nil
}

func removeStaleTempDirs() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), tempPrefix+"*"))
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, ownerFile))
		if err != nil {
			continue
		}
		f := strings.Fields(string(b))
		if len(f) != 2 {
			continue
		}
		pid, err := strconv.Atoi(f[0])
		if err != nil {
			continue
		}
		if start, err := ProcessStartTime(pid); err == nil && start == f[1] {
			continue // its lab is still running
		}
		os.RemoveAll(dir)
	}
}

// ProcessStartTime returns field 22 of /proc/PID/stat, the process's start
// time in clock ticks since boot: with the pid, it names a process even
// after the pid is reused. A zombie counts as gone.
func ProcessStartTime(pid int) (string, error) {
	fields, err := ProcStat(pid)
	if err != nil {
		return "", err
	}
	if fields[0] == "Z" {
		return "", fmt.Errorf("process %d is a zombie", pid)
	}
	return fields[19], nil
}

// ProcStat returns the fields of /proc/PID/stat that follow the command
// name: field N of proc(5) is element N-3 (state, ppid, … utime, stime, …
// starttime).
func ProcStat(pid int) ([]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	// The command name (field 2) may contain spaces; the fields after it
	// start at the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	fields := strings.Fields(s[i+1:])
	if len(fields) < 20 {
		return nil, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	return fields, nil
}

// ClockTick is USER_HZ, the unit of /proc CPU times on Linux.
const ClockTick = 100

// ProcessCPU returns the CPU time process pid has used, user and system.
func ProcessCPU(pid int) (time.Duration, error) {
	f, err := ProcStat(pid)
	if err != nil {
		return 0, err
	}
	// utime and stime, fields 14 and 15 of proc(5).
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / ClockTick, nil
}

// LoadAvg returns the machine's 1, 5 and 15 minute load averages as
// /proc/loadavg gives them, "" when it cannot be read.
func LoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}
