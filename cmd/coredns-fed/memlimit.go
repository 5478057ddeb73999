package main

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
)

// memoryLimitShare is the part of the container's memory limit given to the Go
// heap as its soft limit (GOMEMLIMIT): the rest is for what the Go runtime does
// not count (the binary's text, thread stacks, cgo) and for the moment it takes
// the collector to catch up.
const memoryLimitShare = 0.9

// cgroupMemoryFiles are the files that hold the memory limit of the cgroup the
// process runs in, as a container sees its own cgroup: cgroup v2 first, then v1.
var cgroupMemoryFiles = []string{
	"sys/fs/cgroup/memory.max",
	"sys/fs/cgroup/memory/memory.limit_in_bytes",
}

// cgroupUnlimited is the smallest cgroup v1 limit read as "no limit": v1 writes
// the largest page-aligned int64 (9223372036854771712) when none is set.
const cgroupUnlimited = math.MaxInt64 / 2

// setMemoryLimit sets the Go runtime's soft memory limit to memoryLimitShare of
// the cgroup's memory limit, read below root ("/" in the binary), unless
// GOMEMLIMIT is set (the runtime has then applied it) or there is no limit. It
// returns what it did, for the log.
func setMemoryLimit(root string, getenv func(string) string) (string, error) {
	if v := getenv("GOMEMLIMIT"); v != "" {
		return "GOMEMLIMIT=" + v + " from the environment", nil
	}
	limit, file, err := cgroupMemoryLimit(root)
	if err != nil {
		return "", err
	}
	if limit <= 0 {
		return "", nil
	}
	soft := int64(float64(limit) * memoryLimitShare)
	debug.SetMemoryLimit(soft)
	return fmt.Sprintf("GOMEMLIMIT=%d (%.0f%% of %d bytes in %s)", soft, memoryLimitShare*100, limit, file), nil
}

// cgroupMemoryLimit returns the memory limit of the process's cgroup in bytes
// and the file it was read from; 0 when there is none (no file, "max", or the
// v1 "unlimited" value).
func cgroupMemoryLimit(root string) (int64, string, error) {
	for _, name := range cgroupMemoryFiles {
		path := filepath.Join(root, name)
		b, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return 0, path, err
		}
		v := strings.TrimSpace(string(b))
		if v == "max" {
			return 0, path, nil
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return 0, path, fmt.Errorf("%s: not a memory limit: %q", path, v)
		}
		if n >= cgroupUnlimited {
			return 0, path, nil
		}
		return n, path, nil
	}
	return 0, "", nil
}
