package main

import (
	"bufio"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/coredns-fed/coredns-fed/internal/lab"
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
	start, err := lab.ProcessStartTime(r.pid)
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
		start, err := lab.ProcessStartTime(pids[role])
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
