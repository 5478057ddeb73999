package shardhealth

import (
	"strings"
	"testing"
	"time"

	"github.com/coredns/caddy"
)

func TestParse(t *testing.T) {
	def := New()
	tests := []struct {
		name   string
		input  string
		err    string // substring of the error; empty for none
		expect func(*ShardHealth) bool
	}{
		{"defaults", `shardhealth`, "", func(h *ShardHealth) bool {
			return h.Probe == def.Probe && h.Interval == 5*time.Second && h.Timeout == 2*time.Second &&
				h.Rise == 2 && h.Fall == 2 && h.Jitter == 0.1 && h.MaxConcurrent == 64
		}},
		{"empty block", "shardhealth {\n}", "", func(h *ShardHealth) bool { return h.Probe == def.Probe }},
		{"everything", `shardhealth {
			probe https 8443
			path /healthz
			expect 200-299
			host web.example.org
			interval 2s
			timeout 1s
			rise 3
			fall 4
			jitter 20%
			max_concurrent 16
		}`, "", func(h *ShardHealth) bool {
			return h.Probe == Probe{Kind: kindHTTPS, Port: 8443, Path: "/healthz", ExpectMin: 200, ExpectMax: 299, Host: "web.example.org"} &&
				h.Interval == 2*time.Second && h.Timeout == time.Second && h.Rise == 3 && h.Fall == 4 &&
				h.Jitter == 0.2 && h.MaxConcurrent == 16
		}},
		{"tcp", "shardhealth {\nprobe tcp 443\n}", "", func(h *ShardHealth) bool { return h.Probe.Kind == kindTCP && h.Probe.Port == 443 }},
		{"off", "shardhealth {\nprobe off\n}", "", func(h *ShardHealth) bool { return h.Probe.Kind == kindOff }},
		{"kind case", "shardhealth {\nprobe HTTP\n}", "", func(h *ShardHealth) bool { return h.Probe.Kind == kindHTTP && h.Probe.Port == 0 }},
		{"one status", "shardhealth {\nexpect 204\n}", "", func(h *ShardHealth) bool { return h.Probe.ExpectMin == 204 && h.Probe.ExpectMax == 204 }},
		{"no jitter", "shardhealth {\njitter 0%\n}", "", func(h *ShardHealth) bool { return h.Jitter == 0 }},
		{"short interval shrinks the default timeout", "shardhealth {\ninterval 500ms\n}", "", func(h *ShardHealth) bool {
			return h.Interval == 500*time.Millisecond && h.Timeout == 500*time.Millisecond
		}},

		{"arguments", `shardhealth example.com`, `shardhealth takes no arguments, got ["example.com"]`, nil},
		{"twice", "shardhealth\nshardhealth", "only one shardhealth block", nil},
		{"unknown option", "shardhealth {\nretries 3\n}", `unknown option "retries"`, nil},
		{"probe without kind", "shardhealth {\nprobe\n}", "probe needs http, https, tcp or off", nil},
		{"probe kind", "shardhealth {\nprobe icmp\n}", `probe "icmp": must be http, https, tcp or off`, nil},
		{"probe port", "shardhealth {\nprobe http eighty\n}", `probe http "eighty": PORT must be an integer in [1, 65535]`, nil},
		{"probe port zero", "shardhealth {\nprobe http 0\n}", `probe http "0"`, nil},
		{"probe too many", "shardhealth {\nprobe http 80 81\n}", "got 3 arguments", nil},
		{"tcp without port", "shardhealth {\nprobe tcp\n}", "probe tcp needs a PORT", nil},
		{"off with port", "shardhealth {\nprobe off 80\n}", `probe off "80": off takes no PORT`, nil},
		{"path", "shardhealth {\npath healthz\n}", `path "healthz": must be an absolute path`, nil},
		{"path missing", "shardhealth {\npath\n}", "path needs exactly one PATH, got 0 arguments", nil},
		{"expect", "shardhealth {\nexpect 2xx\n}", `expect "2xx": must be a status code or a range`, nil},
		{"expect reversed", "shardhealth {\nexpect 399-200\n}", `expect "399-200"`, nil},
		{"host", "shardhealth {\nhost web_example\n}", `host "web_example": must be a DNS name or an IP address`, nil},
		{"interval", "shardhealth {\ninterval soon\n}", `interval "soon": must be a positive duration`, nil},
		{"interval negative", "shardhealth {\ninterval -1s\n}", `interval "-1s"`, nil},
		{"timeout zero", "shardhealth {\ntimeout 0s\n}", `timeout "0s": must be a positive duration`, nil},
		{"grace", "shardhealth {\ngrace 1m\n}", `grace moved to the federation plugin`, nil},
		{"rise", "shardhealth {\nrise 0\n}", `rise "0": must be an integer in [1, 100]`, nil},
		{"fall", "shardhealth {\nfall many\n}", `fall "many": must be an integer in [1, 100]`, nil},
		{"jitter without percent", "shardhealth {\njitter 20\n}", `jitter "20": must be a percentage in [0%, 50%]`, nil},
		{"jitter too large", "shardhealth {\njitter 80%\n}", `jitter "80%"`, nil},
		{"max_concurrent", "shardhealth {\nmax_concurrent 0\n}", `max_concurrent "0": must be an integer in [1, 10000]`, nil},
		{"timeout over interval", "shardhealth {\ninterval 1s\ntimeout 2s\n}", "timeout 2s is longer than interval 1s", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := caddy.NewTestController("dns", tc.input)
			h, err := parse(c)
			if tc.err != "" {
				if err == nil {
					t.Fatalf("no error, want one containing %q", tc.err)
				}
				if !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %q, want it to contain %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("error %q, want none", err)
			}
			if !tc.expect(h) {
				t.Errorf("parsed %+v", h)
			}
		})
	}
}
