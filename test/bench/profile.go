package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// GoBench is one line of go test -bench output.
type GoBench struct {
	Name        string  `json:"name"`
	NsPerOp     float64 `json:"ns_per_op"`
	BytesPerOp  int64   `json:"bytes_per_op"`
	AllocsPerOp int64   `json:"allocs_per_op"`
}

// QueryPathProfile is the federation package's own query-path benchmarks with
// their CPU profile.
type QueryPathProfile struct {
	Command    string    `json:"command"`
	Benchmarks []GoBench `json:"benchmarks"`
	CPUProfile string    `json:"cpu_profile"`
	CPUTop     string    `json:"cpu_top"`
}

// ProfileQueryPath builds the federation package's test binary and runs its
// ServeDNS and Lookup benchmarks with -benchmem and a CPU profile.
func ProfileQueryPath(ctx context.Context, goTool, root, out string, benchTime time.Duration) (*QueryPathProfile, error) {
	pkg := filepath.Join(root, "plugin", "federation")
	bin := filepath.Join(out, "federation.test")
	build := exec.CommandContext(ctx, goTool, "test", "-c", "-o", bin, ".")
	build.Dir = pkg
	if b, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go test -c ./plugin/federation: %w: %s", err, b)
	}
	prof := filepath.Join(out, "cpu-federation-bench.pprof")
	args := []string{"-test.run", "^$", "-test.bench", "^Benchmark(ServeDNS|Lookup)$", "-test.benchmem",
		"-test.benchtime", benchTime.String(), "-test.count", "1", "-test.cpuprofile", prof}
	run := exec.CommandContext(ctx, bin, args...)
	run.Dir = pkg // the tests read testdata/
	b, err := run.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %s", bin, err, b)
	}
	p := &QueryPathProfile{
		Command:    fmt.Sprintf("go test -run '^$' -bench '^Benchmark(ServeDNS|Lookup)$' -benchmem -benchtime %s -count 1 -cpuprofile cpu.pprof ./plugin/federation", benchTime),
		Benchmarks: ParseGoBench(string(b)),
		CPUProfile: prof,
	}
	if p.CPUTop, err = PprofTop(ctx, goTool, prof, "-nodecount", "25"); err != nil {
		return nil, err
	}
	return p, nil
}

// ParseGoBench reads the Benchmark lines of go test -bench output.
func ParseGoBench(out string) []GoBench {
	var bs []GoBench
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		b := GoBench{Name: f[0]}
		for k := 2; k+1 < len(f); k += 2 {
			v, _ := strconv.ParseFloat(f[k], 64)
			switch f[k+1] {
			case "ns/op":
				b.NsPerOp = v
			case "B/op":
				b.BytesPerOp = int64(v)
			case "allocs/op":
				b.AllocsPerOp = int64(v)
			}
		}
		bs = append(bs, b)
	}
	return bs
}

// PprofTop runs go tool pprof -top on a profile.
func PprofTop(ctx context.Context, goTool, profile string, args ...string) (string, error) {
	a := append([]string{"tool", "pprof", "-top"}, args...)
	cmd := exec.CommandContext(ctx, goTool, append(a, profile)...)
	b, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go tool pprof %s: %w", profile, err)
	}
	return string(b), nil
}

// fetchProfile saves a pprof endpoint's answer to path.
func fetchProfile(ctx context.Context, url, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// CumShare returns the cum% of the first function in pprof -top -cum output
// whose name ends in fn (so that Write is not WriteMsg), or 0.
func CumShare(top, fn string) float64 {
	sc := bufio.NewScanner(strings.NewReader(top))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 6 || !strings.HasSuffix(f[5], fn) {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSuffix(f[4], "%"), 64)
		if err == nil {
			return v
		}
	}
	return 0
}

// heapStats reads HeapInuse and Sys from the runtime.MemStats comments at the
// end of a pprof heap?debug=1 page.
func heapStats(ctx context.Context, url string) (inuse, sys int64, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "# HeapInuse = "); ok {
			inuse, _ = strconv.ParseInt(v, 10, 64)
		}
		if v, ok := strings.CutPrefix(line, "# Sys = "); ok {
			sys, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	return inuse, sys, sc.Err()
}

// shortTop keeps the summary, the column header and the first n rows of go
// tool pprof -top output, without the file name, build id and time.
func shortTop(out string, n int) string {
	var keep []string
	rows := -1
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		switch {
		case rows >= 0:
			if rows == n {
				return strings.Join(keep, "\n")
			}
			rows++
		case strings.HasPrefix(strings.TrimSpace(l), "flat"):
			rows = 0
		case strings.HasPrefix(l, "File:"), strings.HasPrefix(l, "Build ID:"), strings.HasPrefix(l, "Time:"):
			continue
		}
		keep = append(keep, l)
	}
	return strings.Join(keep, "\n")
}
