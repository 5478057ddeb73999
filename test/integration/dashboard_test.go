package integration

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// metricName matches the names of the project's metrics in PromQL or in the
// Prometheus text format.
var metricName = regexp.MustCompile(`coredns_(federation|shardhealth)_[a-z0-9_]+`)

// TestDashboardMetrics: every metric the Grafana dashboard in deploy/ queries
// is exported by the running coredns-fed, and every metric the plugins
// export has a panel.
func TestDashboardMetrics(t *testing.T) {
	healthy(t) // queries: the answer counters have series
	data, err := os.ReadFile(filepath.Join(repoRoot, "deploy", "grafana", "coredns-fed.json"))
	if err != nil {
		t.Fatal(err)
	}
	used := slices.Compact(slices.Sorted(slices.Values(metricName.FindAllString(string(data), -1))))
	if len(used) == 0 {
		t.Fatal("the dashboard queries no coredns_federation_ or coredns_shardhealth_ metric")
	}

	d := fed.DNS()
	var exported []string
	waitFor(t, d, convergeTimeout, "every metric the dashboard uses exported", func() error {
		client := &http.Client{Timeout: 5 * time.Second}
		resp, err := client.Get(d.MetricsURL)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		exported = nil
		for _, line := range strings.Split(string(body), "\n") {
			if strings.HasPrefix(line, "#") {
				continue
			}
			if name := metricName.FindString(line); name != "" && strings.HasPrefix(line, name) {
				exported = append(exported, name)
			}
		}
		exported = slices.Compact(slices.Sorted(slices.Values(exported)))
		var missing []string
		for _, name := range used {
			if !slices.Contains(exported, name) {
				missing = append(missing, name)
			}
		}
		if len(missing) > 0 {
			return &missingMetrics{missing}
		}
		return nil
	})
	for _, name := range exported {
		base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")
		if !slices.ContainsFunc(used, func(u string) bool { return strings.HasPrefix(u, base) }) {
			t.Errorf("metric %s has no panel in the dashboard", name)
		}
	}
}

type missingMetrics struct{ names []string }

func (m *missingMetrics) Error() string {
	return "the dashboard queries metrics the server does not export: " + strings.Join(m.names, ", ")
}
