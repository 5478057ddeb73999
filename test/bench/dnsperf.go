package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/coredns-fed/coredns-fed/internal/lab"
)

// PerfRun is one dnsperf run against a server.
type PerfRun struct {
	Addr        string        // host:port
	QueryFile   string        // dnsperf input
	Duration    time.Duration // -l
	Clients     int           // -c
	Outstanding int           // -q
	RateLimit   int           // -Q, 0 for as fast as the server answers
	CPUs        string        // taskset CPU list for dnsperf, "" for none
	EDNSOption  string        // -E CODE:HEX, sent with every query; "" for none
	OutFile     string        // where dnsperf's verbose output goes
}

// PerfResult is what dnsperf reported, with latency percentiles computed from
// its per-response (-v) lines.
type PerfResult struct {
	Command      string           `json:"command"`
	Sent         int64            `json:"sent"`
	Completed    int64            `json:"completed"`
	Lost         int64            `json:"lost"`
	LossPercent  float64          `json:"loss_percent"`
	QPS          float64          `json:"qps"`
	RunSeconds   float64          `json:"run_seconds"`
	Rcodes       map[string]int64 `json:"rcodes"`
	RequestSize  int              `json:"request_bytes"`
	ResponseSize int              `json:"response_bytes"`
	Latency      Latency          `json:"latency_ms"`
}

// Latency holds percentiles in milliseconds.
type Latency struct {
	Mean float64 `json:"mean"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p99_9"`
	Max  float64 `json:"max"`
}

// Args returns dnsperf's command line for the run.
func (r PerfRun) Args() []string {
	host, port, _ := strings.Cut(r.Addr, ":")
	a := []string{"dnsperf", "-s", host, "-p", port, "-d", r.QueryFile,
		"-l", strconv.Itoa(int(r.Duration.Seconds())),
		"-c", strconv.Itoa(r.Clients), "-q", strconv.Itoa(r.Outstanding), "-t", "2", "-v"}
	if r.RateLimit > 0 {
		a = append(a, "-Q", strconv.Itoa(r.RateLimit))
	}
	if r.EDNSOption != "" {
		a = append(a, "-E", r.EDNSOption)
	}
	return lab.Pinned(r.CPUs, a...)
}

// Run runs dnsperf to completion, its verbose output into OutFile, then parses
// it. The output is parsed afterwards so that parsing takes no CPU from the run.
func (r PerfRun) Run(ctx context.Context) (*PerfResult, *exec.Cmd, error) {
	args := r.Args()
	out, err := os.Create(r.OutFile)
	if err != nil {
		return nil, nil, err
	}
	defer out.Close()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Stdout = out
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return nil, cmd, fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	if _, err := out.Seek(0, io.SeekStart); err != nil {
		return nil, cmd, err
	}
	res, err := ParsePerf(out)
	if err != nil {
		return nil, cmd, fmt.Errorf("%s: %w", strings.Join(args, " "), err)
	}
	res.Command = strings.Join(args, " ")
	return res, cmd, nil
}

// ParsePerf reads dnsperf -v output: one "> RCODE NAME TYPE SECONDS" line per
// response ("> T NAME TYPE" for a timeout), then the statistics.
func ParsePerf(r io.Reader) (*PerfResult, error) {
	res := &PerfResult{Rcodes: map[string]int64{}}
	var lat []uint32 // microseconds
	var sum float64
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	stats := false
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "> ") {
			f := strings.Fields(line)
			if len(f) != 5 {
				continue // timeouts, interruptions
			}
			s, err := strconv.ParseFloat(f[4], 64)
			if err != nil {
				continue
			}
			lat = append(lat, uint32(s*1e6+0.5))
			sum += s
			continue
		}
		line = strings.TrimSpace(line)
		if line == "Statistics:" {
			stats = true
			continue
		}
		if !stats {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		first := func() string { f := strings.Fields(v); return f[0] }
		switch k {
		case "Queries sent":
			res.Sent, _ = strconv.ParseInt(first(), 10, 64)
		case "Queries completed":
			res.Completed, _ = strconv.ParseInt(first(), 10, 64)
		case "Queries lost":
			res.Lost, _ = strconv.ParseInt(first(), 10, 64)
		case "Queries per second":
			res.QPS, _ = strconv.ParseFloat(first(), 64)
		case "Run time (s)":
			res.RunSeconds, _ = strconv.ParseFloat(first(), 64)
		case "Response codes":
			for _, part := range strings.Split(v, ",") {
				f := strings.Fields(part)
				if len(f) >= 2 {
					n, _ := strconv.ParseInt(f[1], 10, 64)
					res.Rcodes[f[0]] = n
				}
			}
		case "Average packet size":
			// "request 57, response 176"
			for _, part := range strings.Split(v, ",") {
				f := strings.Fields(part)
				if len(f) == 2 {
					n, _ := strconv.Atoi(f[1])
					if f[0] == "request" {
						res.RequestSize = n
					} else {
						res.ResponseSize = n
					}
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if !stats {
		return nil, fmt.Errorf("no statistics in dnsperf output")
	}
	if res.Sent > 0 {
		res.LossPercent = 100 * float64(res.Lost) / float64(res.Sent)
	}
	if len(lat) > 0 {
		slices.Sort(lat)
		pct := func(p float64) float64 {
			k := int(p*float64(len(lat))+0.5) - 1
			k = max(0, min(k, len(lat)-1))
			return float64(lat[k]) / 1e3
		}
		res.Latency = Latency{
			Mean: sum / float64(len(lat)) * 1e3,
			P50:  pct(0.50), P90: pct(0.90), P99: pct(0.99), P999: pct(0.999),
			Max: float64(lat[len(lat)-1]) / 1e3,
		}
	}
	return res, nil
}
