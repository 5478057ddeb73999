package shardhealth

import (
	"slices"
	"strings"
	"testing"
)

func TestOverride(t *testing.T) {
	def := Probe{Kind: kindHTTP, Port: 8080, Path: "/", ExpectMin: 200, ExpectMax: 399}
	tests := []struct {
		name     string
		ann      map[string]string
		want     Probe
		problems []string // keys reported
	}{
		{"none", nil, def, nil},
		{"other annotations", map[string]string{"coredns-fed.io/owner": "team-a"}, def, nil},
		{"port", map[string]string{AnnotationPort: "9090"}, Probe{Kind: kindHTTP, Port: 9090, Path: "/", ExpectMin: 200, ExpectMax: 399}, nil},
		{"path", map[string]string{AnnotationPath: "/healthz?full=1"}, Probe{Kind: kindHTTP, Port: 8080, Path: "/healthz?full=1", ExpectMin: 200, ExpectMax: 399}, nil},
		{"expect one code", map[string]string{AnnotationExpect: "204"}, Probe{Kind: kindHTTP, Port: 8080, Path: "/", ExpectMin: 204, ExpectMax: 204}, nil},
		{"expect a range", map[string]string{AnnotationExpect: "200-499"}, Probe{Kind: kindHTTP, Port: 8080, Path: "/", ExpectMin: 200, ExpectMax: 499}, nil},
		{"host", map[string]string{AnnotationHost: "web.example.org"}, Probe{Kind: kindHTTP, Port: 8080, Path: "/", ExpectMin: 200, ExpectMax: 399, Host: "web.example.org"}, nil},
		{"same kind keeps the Corefile port", map[string]string{AnnotationProbe: "HTTP"}, def, nil},
		{"another kind takes its own port", map[string]string{AnnotationProbe: "https"}, Probe{Kind: kindHTTPS, Path: "/", ExpectMin: 200, ExpectMax: 399}, nil},
		{"tcp with a port", map[string]string{AnnotationProbe: "tcp", AnnotationPort: "5432"}, Probe{Kind: kindTCP, Port: 5432, Path: "/", ExpectMin: 200, ExpectMax: 399}, nil},
		{"off", map[string]string{AnnotationProbe: "off"}, Probe{Kind: kindOff, Path: "/", ExpectMin: 200, ExpectMax: 399}, nil},

		{"bad kind", map[string]string{AnnotationProbe: "icmp"}, def, []string{AnnotationProbe}},
		{"bad port", map[string]string{AnnotationPort: "http"}, def, []string{AnnotationPort}},
		{"port zero", map[string]string{AnnotationPort: "0"}, def, []string{AnnotationPort}},
		{"port too large", map[string]string{AnnotationPort: "65536"}, def, []string{AnnotationPort}},
		{"relative path", map[string]string{AnnotationPath: "healthz"}, def, []string{AnnotationPath}},
		{"path with a space", map[string]string{AnnotationPath: "/health z"}, def, []string{AnnotationPath}},
		{"bad expect", map[string]string{AnnotationExpect: "2xx"}, def, []string{AnnotationExpect}},
		{"reversed expect", map[string]string{AnnotationExpect: "399-200"}, def, []string{AnnotationExpect}},
		{"expect out of range", map[string]string{AnnotationExpect: "200-600"}, def, []string{AnnotationExpect}},
		{"bad host", map[string]string{AnnotationHost: "web example"}, def, []string{AnnotationHost}},
		{"tcp without a port", map[string]string{AnnotationProbe: "tcp"}, def, []string{AnnotationProbe}},
		{"misspelt key", map[string]string{federation_prefix + "probe-paht": "/x"}, def, []string{federation_prefix + "probe-paht"}},
		{"good and bad together", map[string]string{AnnotationPort: "x", AnnotationPath: "/ok"}, Probe{Kind: kindHTTP, Port: 8080, Path: "/ok", ExpectMin: 200, ExpectMax: 399}, []string{AnnotationPort}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, problems := override(def, tc.ann)
			if got != tc.want {
				t.Errorf("probe %+v, want %+v", got, tc.want)
			}
			var keys []string
			for _, p := range problems {
				keys = append(keys, p.key)
				if !strings.Contains(p.msg, tc.ann[p.key]) {
					t.Errorf("problem %q does not quote the value %q", p.msg, tc.ann[p.key])
				}
			}
			if !slices.Equal(keys, tc.problems) {
				t.Errorf("problems with %v, want %v", keys, tc.problems)
			}
		})
	}
}

const federation_prefix = "coredns-fed.io/"

func TestAnnotationOverridesReachTheProber(t *testing.T) {
	h, clk, prober, sink := newTestHealth(t)
	sink.snapshot(
		shard("a", "ns/plain", nil, "192.0.2.1"),
		shard("a", "ns/custom", map[string]string{
			AnnotationProbe: "https", AnnotationPort: "8443", AnnotationPath: "/ready",
			AnnotationExpect: "204", AnnotationHost: "custom.example.org",
		}, "192.0.2.2"),
		shard("a", "ns/tcp", map[string]string{AnnotationProbe: "tcp", AnnotationPort: "5432"}, "192.0.2.3"),
		shard("a", "ns/off", map[string]string{AnnotationProbe: "off"}, "192.0.2.4"),
	)
	settle(t, h, clk)

	want := map[string]Probe{
		"192.0.2.1": {Kind: kindHTTP, Port: 80, Path: "/", ExpectMin: 200, ExpectMax: 399},
		"192.0.2.2": {Kind: kindHTTPS, Port: 8443, Path: "/ready", ExpectMin: 204, ExpectMax: 204, Host: "custom.example.org"},
		"192.0.2.3": {Kind: kindTCP, Port: 5432},
	}
	for addr, p := range want {
		calls := prober.callsOf(addr)
		if len(calls) != 1 || calls[0].probe != p {
			t.Errorf("%s probed as %+v, want once as %+v", addr, calls, p)
		}
	}
	if calls := prober.callsOf("192.0.2.4"); len(calls) != 0 {
		t.Errorf("192.0.2.4 probed %d times with probe off, want 0", len(calls))
	}

	// probe off: readiness alone, whatever a probe would say.
	prober.set("192.0.2.4", Refused)
	tick(t, h, clk, h.Interval)
	off := shard("a", "ns/off", map[string]string{AnnotationProbe: "off"}, "192.0.2.4")
	if got := usable(h, off); !slices.Equal(got, []string{"192.0.2.4"}) {
		t.Errorf("probe off: usable %v, want [192.0.2.4]", got)
	}
}

func TestProbeOffGloballyAnnotationTurnsItOn(t *testing.T) {
	h, clk, prober, sink := newTestHealth(t, func(h *ShardHealth) { h.Probe.Kind = kindOff })
	sink.snapshot(
		shard("a", "ns/plain", nil, "192.0.2.1"),
		shard("a", "ns/probed", map[string]string{AnnotationProbe: "http"}, "192.0.2.2"),
	)
	settle(t, h, clk)
	if n := len(prober.callsOf("192.0.2.1")); n != 0 {
		t.Errorf("192.0.2.1 probed %d times with probing off, want 0", n)
	}
	if calls := prober.callsOf("192.0.2.2"); len(calls) != 1 || calls[0].probe.Port != 80 {
		t.Errorf("192.0.2.2 probed as %+v, want once on port 80", calls)
	}
}

func TestBadAnnotationLoggedOnce(t *testing.T) {
	logs := captureLog(t)
	h, clk, prober, sink := newTestHealth(t)
	bad := shard("gce-us-east1", "mynamespace/nginx", map[string]string{AnnotationPort: "eighty", AnnotationPath: "/healthz"}, "192.0.2.1")

	// Every build asks again; the value is parsed and reported once.
	for range 3 {
		usable(h, bad)
		sink.snapshot(bad)
		settle(t, h, clk)
	}
	lines := logs.lines("mynamespace/nginx", AnnotationPort)
	if len(lines) != 1 {
		t.Fatalf("%d log lines about the bad annotation, want 1: %q", len(lines), lines)
	}
	for _, w := range []string{"[WARNING]", "gce-us-east1", `"eighty"`, "default"} {
		if !strings.Contains(lines[0], w) {
			t.Errorf("log line %q does not mention %s", lines[0], w)
		}
	}
	// The default port applies; the good path annotation is kept.
	if calls := prober.callsOf("192.0.2.1"); len(calls) == 0 || calls[0].probe.Port != 80 || calls[0].probe.Path != "/healthz" {
		t.Errorf("probed as %+v, want port 80 path /healthz", calls)
	}

	// A new bad value is reported again.
	bad.Annotations = map[string]string{AnnotationPort: "ninety"}
	usable(h, bad)
	usable(h, bad)
	if lines := logs.lines("mynamespace/nginx", AnnotationPort); len(lines) != 2 {
		t.Errorf("%d log lines after the value changed, want 2: %q", len(lines), lines)
	}
}
