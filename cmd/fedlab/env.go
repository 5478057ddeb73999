package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// labInfo is what a user or script needs to reach a running lab. It is
// written to the env file as shell variables and read back from it.
type labInfo struct {
	Dir                             string
	DNS                             string
	Domain, Federation, Namespace   string
	Service                         string
	Kubeconfig                      string
	Corefile, CorednsLog            string
	HealthURL, ReadyURL, MetricsURL string
	StatusURL                       string
	Clusters                        []clusterInfo
}

type clusterInfo struct {
	Name, Region                      string
	Zones                             []string
	Addr                              string
	AdminKubeconfig, ReaderKubeconfig string
}

func (s *session) info() labInfo {
	cfg := s.lab.Config()
	info := labInfo{
		Dir:        s.dir,
		DNS:        s.dns.Addr,
		Domain:     cfg.Domain,
		Federation: cfg.Federation,
		Namespace:  cfg.Namespace,
		Service:    cfg.Services[0],
		Kubeconfig: s.lab.Kubeconfig(),
		Corefile:   s.dns.Corefile,
		CorednsLog: s.dns.Log(),
		HealthURL:  s.dns.HealthURL,
		ReadyURL:   s.dns.ReadyURL,
		MetricsURL: s.dns.MetricsURL,
		StatusURL:  s.dns.StatusURL,
	}
	for _, c := range s.lab.Clusters() {
		info.Clusters = append(info.Clusters, clusterInfo{
			Name:             c.Name,
			Region:           c.Region,
			Zones:            c.Zones,
			Addr:             c.Addr,
			AdminKubeconfig:  c.AdminKubeconfig,
			ReaderKubeconfig: c.ReaderKubeconfig,
		})
	}
	return info
}

// envName turns a cluster name into a shell variable suffix:
// gce-us-east1 → GCE_US_EAST1.
func envName(cluster string) string {
	return strings.ToUpper(strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, cluster))
}

// writeEnvInfo writes the env file atomically, as the process that owns
// the lab; its last line is readyMarker.
func writeEnvInfo(path string, info labInfo) error {
	host, port, _ := strings.Cut(info.DNS, ":")
	var b strings.Builder
	fmt.Fprintf(&b, "# fedlab lab started %s. Load it with: . %s\n", time.Now().Format(time.RFC3339), path)
	vars := [][2]string{
		{"FEDLAB_DIR", info.Dir},
		{"FEDLAB_PID", fmt.Sprint(os.Getpid())},
		{"FEDLAB_DNS", info.DNS},
		{"FEDLAB_DNS_HOST", host},
		{"FEDLAB_DNS_PORT", port},
		{"FEDLAB_DOMAIN", info.Domain},
		{"FEDLAB_FEDERATION", info.Federation},
		{"FEDLAB_NAMESPACE", info.Namespace},
		{"FEDLAB_SERVICE", info.Service},
		{"FEDLAB_KUBECONFIG", info.Kubeconfig},
		{"FEDLAB_COREFILE", info.Corefile},
		{"FEDLAB_COREDNS_LOG", info.CorednsLog},
		{"FEDLAB_HEALTH_URL", info.HealthURL},
		{"FEDLAB_READY_URL", info.ReadyURL},
		{"FEDLAB_METRICS_URL", info.MetricsURL},
		{"FEDLAB_STATUS_URL", info.StatusURL},
	}
	var names []string
	for _, c := range info.Clusters {
		names = append(names, c.Name)
		n := envName(c.Name)
		vars = append(vars,
			[2]string{"FEDLAB_REGION_" + n, c.Region},
			[2]string{"FEDLAB_ZONES_" + n, strings.Join(c.Zones, " ")},
			[2]string{"FEDLAB_LB_" + n, c.Addr},
			[2]string{"FEDLAB_KUBECONFIG_" + n, c.AdminKubeconfig},
			[2]string{"FEDLAB_READER_KUBECONFIG_" + n, c.ReaderKubeconfig},
		)
	}
	vars = append(vars, [2]string{"FEDLAB_CLUSTERS", strings.Join(names, " ")})
	for _, v := range vars {
		fmt.Fprintf(&b, "%s=%s\n", v[0], shellQuote(v[1]))
	}
	b.WriteString(readyMarker + "\n")
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// loadEnv reads a lab's env file back.
func loadEnv(dir string) (labInfo, error) {
	f, err := os.Open(filepath.Join(dir, envFile))
	if err != nil {
		return labInfo{}, fmt.Errorf("no running lab in %s (%v); start one with `fedlab up`", dir, err)
	}
	defer f.Close()
	vars := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok || strings.HasPrefix(k, "#") {
			continue
		}
		vars[k] = shellUnquote(v)
	}
	if err := sc.Err(); err != nil {
		return labInfo{}, err
	}
	info := labInfo{
		Dir:        vars["FEDLAB_DIR"],
		DNS:        vars["FEDLAB_DNS"],
		Domain:     vars["FEDLAB_DOMAIN"],
		Federation: vars["FEDLAB_FEDERATION"],
		Namespace:  vars["FEDLAB_NAMESPACE"],
		Service:    vars["FEDLAB_SERVICE"],
		Kubeconfig: vars["FEDLAB_KUBECONFIG"],
		Corefile:   vars["FEDLAB_COREFILE"],
		CorednsLog: vars["FEDLAB_COREDNS_LOG"],
		HealthURL:  vars["FEDLAB_HEALTH_URL"],
		ReadyURL:   vars["FEDLAB_READY_URL"],
		MetricsURL: vars["FEDLAB_METRICS_URL"],
		StatusURL:  vars["FEDLAB_STATUS_URL"],
	}
	for _, name := range strings.Fields(vars["FEDLAB_CLUSTERS"]) {
		n := envName(name)
		info.Clusters = append(info.Clusters, clusterInfo{
			Name:             name,
			Region:           vars["FEDLAB_REGION_"+n],
			Zones:            strings.Fields(vars["FEDLAB_ZONES_"+n]),
			Addr:             vars["FEDLAB_LB_"+n],
			AdminKubeconfig:  vars["FEDLAB_KUBECONFIG_"+n],
			ReaderKubeconfig: vars["FEDLAB_READER_KUBECONFIG_"+n],
		})
	}
	return info, nil
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func shellUnquote(s string) string {
	if len(s) >= 2 && s[0] == '\'' && s[len(s)-1] == '\'' {
		return strings.ReplaceAll(s[1:len(s)-1], `'\''`, "'")
	}
	return s
}
