package shardhealth

import (
	"testing"
)

// FuzzAnnotations feeds arbitrary probe annotations to the override parser: a
// bad value is reported and leaves the default for its key, and the resolved
// probe is always one that can run.
func FuzzAnnotations(f *testing.F) {
	f.Add("http", "8080", "/healthz", "200-299", "web.example.org")
	f.Add("tcp", "0", "healthz", "99", "bad host")
	f.Add("off", "65536", "/", "500-100", "")
	f.Add("HTTPS", "-1", "/x?y=z", "abc", "a..b")
	f.Fuzz(func(t *testing.T, kind, port, path, expect, host string) {
		def := New().Probe
		ann := map[string]string{
			AnnotationProbe: kind, AnnotationPort: port, AnnotationPath: path,
			AnnotationExpect: expect, AnnotationHost: host,
		}
		p, _ := override(def, ann)
		r := p.resolved()
		switch r.Kind {
		case kindHTTP, kindHTTPS, kindTCP, kindOff:
		default:
			t.Fatalf("kind %q from %q", r.Kind, kind)
		}
		if r.Kind != kindOff && (r.Port < 1 || r.Port > 65535) {
			t.Fatalf("port %d from %q", r.Port, port)
		}
		if r.Kind != kindHTTP && r.Kind != kindHTTPS {
			return // a TCP probe has no status or path (resolved clears them)
		}
		if r.ExpectMin < 100 || r.ExpectMax > 599 || r.ExpectMin > r.ExpectMax {
			t.Fatalf("expect %d-%d from %q", r.ExpectMin, r.ExpectMax, expect)
		}
		if r.Path == "" || r.Path[0] != '/' {
			t.Fatalf("path %q from %q", r.Path, path)
		}
	})
}
