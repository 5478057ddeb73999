package main

import (
	"bufio"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

// pidRecord is one line of the pids file: a role, a pid and the process's
// start time, which guards against signalling a recycled pid.
type pidRecord struct {
	role  string
	pid   int
	start string
}

// alive reports whether the recorded process still runs: same pid, same
// start time.
func (r pidRecord) alive() bool {
	start, err := startTime(r.pid)
	return err == nil && start == r.start
}

// writePIDs writes "ROLE PID STARTTIME" lines, supervisor first, atomically.
func writePIDs(path string, pids map[string]int) error {
	roles := make([]string, 0, len(pids))
	for role := range pids {
		roles = append(roles, role)
	}
	sort.Slice(roles, func(i, j int) bool {
		if (roles[i] == supervisor) != (roles[j] == supervisor) {
			return roles[i] == supervisor
		}
		return roles[i] < roles[j]
	})
	var b strings.Builder
	for _, role := range roles {
		start, err := startTime(pids[role])
		if err != nil {
			continue
		}
		fmt.Fprintf(&b, "%s %d %s\n", role, pids[role], start)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func readPIDs(path string) ([]pidRecord, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var recs []pidRecord
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 3 {
			continue
		}
		pid, err := strconv.Atoi(fields[1])
		if err != nil || pid <= 1 {
			continue
		}
		recs = append(recs, pidRecord{role: fields[0], pid: pid, start: fields[2]})
	}
	return recs, sc.Err()
}

// startTime returns field 22 of /proc/PID/stat, the process's start time in
// clock ticks since boot.
func startTime(pid int) (string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", err
	}
	// The command name (field 2) may contain spaces; fields after it
	// start at the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return "", fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	fields := strings.Fields(s[i+1:])
	if len(fields) < 20 {
		return "", fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	if fields[0] == "Z" {
		return "", fmt.Errorf("process %d is a zombie", pid)
	}
	return fields[19], nil
}

// kill sends sig to the recorded process's group (every lab child leads its
// own) and to the process itself, if it is still the recorded process.
func (r pidRecord) kill(sig syscall.Signal) {
	if !r.alive() {
		return
	}
	if pgid, err := syscall.Getpgid(r.pid); err == nil && pgid == r.pid {
		syscall.Kill(-r.pid, sig)
		return
	}
	syscall.Kill(r.pid, sig)
}
