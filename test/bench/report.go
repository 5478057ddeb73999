package bench

import "time"

// Report is everything one benchmark run measured; it is written as JSON and
// rendered as Markdown.
type Report struct {
	Started time.Time `json:"started"`
	Seconds float64   `json:"seconds"`
	Smoke   bool      `json:"smoke"`
	Machine Machine   `json:"machine"`
	Setup   Setup     `json:"setup"`

	Throughput     []Pass            `json:"throughput"`
	Answers        *Comparison       `json:"answers"`
	Propagation    *Propagation      `json:"propagation"`
	LabMemory      *LabMemory        `json:"lab_memory"`
	Synthetic      []*Synthetic      `json:"synthetic"`
	Growth         []*Synthetic      `json:"growth"`       // the growth phase, by size
	GrowthPlots    []string          `json:"growth_plots"` // SVG file names in GrowthImg
	GrowthImg      string            `json:"growth_img"`
	QueryPath      *QueryPathProfile `json:"query_path"`
	ServerProfiles []ServerProfile   `json:"server_profiles"`
	Geo            *GeoReport        `json:"geo"`
	Targets        []Target          `json:"targets"`
}

// Machine describes where the run happened; the load average shows how much
// else the machine was doing.
type Machine struct {
	CPUs       int               `json:"cpus"`
	Model      string            `json:"model"`
	Kernel     string            `json:"kernel"`
	MemoryMiB  int64             `json:"memory_mib"`
	LoadBefore string            `json:"load_before"`
	LoadAfter  string            `json:"load_after"`
	Versions   map[string]string `json:"versions"`
}

// Setup is the federation and the questions every server was asked.
type Setup struct {
	Clusters        []string     `json:"clusters"`
	Services        int          `json:"services_per_cluster"`
	Objects         int          `json:"objects_written"` // Services and EndpointSlices
	PopulateSeconds float64      `json:"populate_seconds"`
	ZoneRecords     int          `json:"zone_records"`
	ZoneFile        string       `json:"zone_file"`
	QueryFile       string       `json:"query_file"`
	Queries         int          `json:"queries"`
	Mix             []QueryClass `json:"mix"`
}

// Pass is one round of throughput runs, every server alone in turn, with the
// same placement on the CPUs.
type Pass struct {
	Name       string      `json:"name"`
	ServerCPUs string      `json:"server_cpus"` // taskset list, "" for any
	PerfCPUs   string      `json:"dnsperf_cpus"`
	FixedQPS   int         `json:"fixed_qps"`
	Rounds     int         `json:"rounds"`
	Runs       []ServerRun `json:"runs"` // each server's median round
}

// ServerRun is one server's throughput and latency.
type ServerRun struct {
	Server     string      `json:"server"`
	Config     string      `json:"config"`
	Saturation *PerfResult `json:"saturation"` // as many queries as it answers
	RoundQPS   []float64   `json:"round_qps"`  // the saturation QPS of every round
	Fixed      *PerfResult `json:"fixed"`      // at the pass's fixed rate, first round
	// CPU use during the saturation run, in cores (CPU seconds per second):
	// the server, dnsperf, the kernel's softirq work (loopback packets, charged
	// to no process), and everything else on the machine.
	ServerCores  float64 `json:"server_cores"`
	PerfCores    float64 `json:"dnsperf_cores"`
	SoftirqCores float64 `json:"softirq_cores"`
	OtherCores   float64 `json:"other_cores"`
	RSS          int64   `json:"rss_bytes"` // after the runs
	// SettleSeconds is how long the server took, after it first answered, to
	// become idle (the end of its initial sync and rebuilds) before the
	// measured run; SettleCores is its CPU use in the last second of that wait.
	SettleSeconds float64 `json:"settle_seconds"`
	SettleCores   float64 `json:"settle_cores"`
}

// LabMemory is coredns-fed watching the lab's members.
type LabMemory struct {
	Clusters    int     `json:"clusters"`
	Services    int     `json:"services_per_cluster"`
	SyncSeconds float64 `json:"sync_seconds"` // process start → first NOERROR answer
	Memory      Memory  `json:"memory"`       // 5 s after sync
	HeapInuse   int64   `json:"heap_inuse_bytes"`
	GoSys       int64   `json:"go_sys_bytes"`
	HeapProfile string  `json:"heap_profile"`
	HeapTop     string  `json:"heap_top"`
}

// ServerProfile is a CPU profile of a coredns-fed server under dnsperf load.
type ServerProfile struct {
	Server  string             `json:"server"`
	Seconds int                `json:"seconds"`
	Profile string             `json:"profile"`
	Top     string             `json:"top"`
	Shares  map[string]float64 `json:"cum_percent"` // selected functions' cumulative share
}

// Target is one goal of the issue and whether the run met it.
type Target struct {
	What     string `json:"what"`
	Goal     string `json:"goal"`
	Measured string `json:"measured"`
	Met      bool   `json:"met"`
}

// run returns the pass's run of server, or nil.
func (p *Pass) run(server string) *ServerRun {
	for k := range p.Runs {
		if p.Runs[k].Server == server {
			return &p.Runs[k]
		}
	}
	return nil
}
