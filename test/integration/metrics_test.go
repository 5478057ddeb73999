package integration

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coredns-fed/coredns-fed/internal/lab"
)

// sample is one line of the Prometheus text format.
type sample struct {
	labels map[string]string
	value  float64
}

var labelRE = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)

// scrape returns the samples of the metric name that the server d exports.
func scrape(d *lab.CoreDNS, name string) ([]sample, error) {
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(d.MetricsURL)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", d.MetricsURL, resp.Status)
	}
	return parseSamples(resp.Body, name)
}

func parseSamples(r io.Reader, name string) ([]sample, error) {
	var out []sample
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) {
			continue
		}
		rest := line[len(name):]
		s := sample{labels: map[string]string{}}
		switch {
		case strings.HasPrefix(rest, "{"):
			end := strings.LastIndexByte(rest, '}')
			if end < 0 {
				return nil, fmt.Errorf("malformed sample %q", line)
			}
			for _, m := range labelRE.FindAllStringSubmatch(rest[1:end], -1) {
				s.labels[m[1]] = m[2]
			}
			rest = rest[end+1:]
		case strings.HasPrefix(rest, " "):
		default:
			continue // a longer metric name with this prefix
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
		if err != nil {
			return nil, fmt.Errorf("malformed sample %q: %v", line, err)
		}
		s.value = v
		out = append(out, s)
	}
	return out, sc.Err()
}

// metricValue returns the value of the sample of name whose labels include
// want, and whether there is one.
func metricValue(d *lab.CoreDNS, name string, want map[string]string) (float64, bool, error) {
	samples, err := scrape(d, name)
	if err != nil {
		return 0, false, err
	}
next:
	for _, s := range samples {
		for k, v := range want {
			if s.labels[k] != v {
				continue next
			}
		}
		return s.value, true, nil
	}
	return 0, false, nil
}

// eventuallyMetric polls the server d until the sample of name with the
// labels want has the value value, or timeout passes.
func eventuallyMetric(t testing.TB, d *lab.CoreDNS, timeout time.Duration, name string, want map[string]string, value float64) {
	t.Helper()
	waitFor(t, d, timeout, fmt.Sprintf("%s%v = %v", name, want, value), func() error {
		got, ok, err := metricValue(d, name, want)
		switch {
		case err != nil:
			return err
		case !ok:
			return errors.New("no such sample")
		case got != value:
			return fmt.Errorf("got %v", got)
		}
		return nil
	})
}

func TestParseSamples(t *testing.T) {
	text := `# HELP coredns_shardhealth_address_up 1 when up.
# TYPE coredns_shardhealth_address_up gauge
coredns_shardhealth_address_up{server="dns://127.0.0.1:1053",target="http://127.9.1.2:80/"} 0
coredns_shardhealth_address_up{server="dns://127.0.0.1:1053",target="http://127.9.1.1:80/"} 1
coredns_shardhealth_address_up_other 7
coredns_federation_member_stale 2
`
	got, err := parseSamples(strings.NewReader(text), "coredns_shardhealth_address_up")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].labels["target"] != "http://127.9.1.2:80/" || got[0].value != 0 || got[1].value != 1 {
		t.Errorf("parsed %+v", got)
	}
	got, err = parseSamples(strings.NewReader(text), "coredns_federation_member_stale")
	if err != nil || len(got) != 1 || got[0].value != 2 {
		t.Errorf("parsed %+v, %v", got, err)
	}
}
