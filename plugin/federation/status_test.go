package federation

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coredns/caddy"
)

// statusFederation starts a Federation that keeps a change log, with members a
// (region r-a, 192.0.2.1) and b (region r-b, zone z-b, 192.0.2.2).
func statusFederation(t *testing.T) (*Federation, map[string]*MemorySource) {
	t.Helper()
	f := New()
	f.Zone, f.Fed = "example.com.", "myfederation"
	f.ns = []nameServer{{name: "ns1.example.com."}}
	f.soa = soaConfig{mname: "ns1.example.com.", rname: "hostmaster.example.com.", minttl: 30}
	f.changes = &changeLog{}
	srcs := map[string]*MemorySource{}
	for _, m := range []struct{ name, zone, addr string }{{"a", "", "192.0.2.1"}, {"b", "z-b", "192.0.2.2"}} {
		src := NewMemorySource()
		src.SetNode(m.name+"-node", Place{"r-" + m.name, m.zone})
		src.SetService(nginxState(m.addr, true))
		srcs[m.name] = src
		// A kubeconfig path stands for every secret of a member: it must not show.
		f.Members = append(f.Members, &Member{Name: m.name, Source: src, Kubeconfig: "/secret/" + m.name + ".kubeconfig"})
	}
	f.Start()
	t.Cleanup(f.Stop)
	waitFor(t, "first snapshot", f.Ready)
	return f, srcs
}

func nginxState(addr string, ready bool) (ServiceState, bool) {
	return ServiceState{Namespace: "mynamespace", Name: "nginx", LoadBalancer: true,
		Ingress: []netip.Addr{netip.MustParseAddr(addr)}}, ready
}

func levelOf(t *testing.T, r StatusReport, name string) LevelReport {
	t.Helper()
	for _, s := range r.Services {
		for _, l := range s.Levels {
			if l.Name == name {
				return l
			}
		}
	}
	t.Fatalf("no level %s in %+v", name, r.Services)
	return LevelReport{}
}

func shardOf(r StatusReport, member string) ShardReport {
	for _, s := range r.Services {
		for _, sh := range s.Shards {
			if sh.Member == member {
				return sh
			}
		}
	}
	return ShardReport{}
}

// The report shows every member, every level of a Service with its answer or
// fallback, every shard with why it is or is not used, and the changes.
func TestStatusReport(t *testing.T) {
	f, srcs := statusFederation(t)
	r := f.Status()
	if !r.Ready || r.Federation != "myfederation" || len(r.Members) != 2 || len(r.Services) != 1 {
		t.Fatalf("report: %+v", r)
	}
	for _, m := range r.Members {
		if !m.Synced || !m.Connected || m.Stale || m.LastContact == nil || len(m.Places) != 1 || m.Shards.Used != 1 {
			t.Errorf("member %+v", m)
		}
	}
	if l := levelOf(t, r, nginx("")); l.Answer != "addresses" || !slices.Equal(l.Addresses, []string{"192.0.2.1", "192.0.2.2"}) || !slices.Equal(l.Used, []string{"a", "b"}) {
		t.Errorf("global: %+v", l)
	}
	if l := levelOf(t, r, nginx("z-b.r-b.")); l.Level != "zone" || !slices.Equal(l.Addresses, []string{"192.0.2.2"}) {
		t.Errorf("zone: %+v", l)
	}
	if sh := shardOf(r, "b"); !sh.Used || !slices.Equal(sh.Usable, []string{"192.0.2.2"}) {
		t.Errorf("shard b: %+v", sh)
	}

	srcs["b"].SetService(nginxState("192.0.2.2", false))
	waitFor(t, "b's shard unused", func() bool { return !shardOf(f.Status(), "b").Used })
	r = f.Status()
	if sh := shardOf(r, "b"); sh.Reason != "no ready endpoint" {
		t.Errorf("shard b: %+v", sh)
	}
	if l := levelOf(t, r, nginx("z-b.r-b.")); l.Answer != "cname" || l.CNAME != nginx("r-b.") {
		t.Errorf("zone after b went unready: %+v", l)
	}
	if l := levelOf(t, r, nginx("r-b.")); l.Answer != "cname" || l.CNAME != nginx("") {
		t.Errorf("region after b went unready: %+v", l)
	}
	var shardChange, answerChange bool
	for _, c := range r.Changes {
		if c.Service == "mynamespace/nginx" && c.What == "shard" && c.Subject == "b" && c.From == "used 192.0.2.2" && c.To == "not used: no ready endpoint" {
			shardChange = true
		}
		if c.What == "answer" && c.Subject == nginx("r-b.") && c.From == "192.0.2.2" && c.To == "CNAME "+nginx("") {
			answerChange = true
		}
	}
	if !shardChange || !answerChange {
		t.Errorf("changes do not show b going down (shard %v, answer %v): %+v", shardChange, answerChange, r.Changes)
	}

	srcs["b"].Contact(errors.New(`Get "https://admin:s3cret@10.0.0.1/version": connection refused`))
	data, _ := json.Marshal(f.Status())
	for _, secret := range []string{"s3cret", "admin:", "/secret/"} {
		if strings.Contains(string(data), secret) {
			t.Errorf("the report shows %q: %s", secret, data)
		}
	}
}

func TestChangeLogBounded(t *testing.T) {
	var c changeLog
	for i := range changeLogSize + 5 {
		c.add(Change{Subject: string(rune('a' + i%26)), From: time.Duration(i).String()})
	}
	last := c.last()
	if len(last) != changeLogSize || last[0].From != time.Duration(changeLogSize+4).String() || last[changeLogSize-1].From != time.Duration(5).String() {
		t.Errorf("ring: %d entries, newest %+v, oldest %+v", len(last), last[0], last[len(last)-1])
	}
}

func TestExplain(t *testing.T) {
	f, srcs := statusFederation(t)
	srcs["b"].SetService(nginxState("192.0.2.2", false))
	waitFor(t, "b's shard unused", func() bool { return !shardOf(f.Status(), "b").Used })

	for _, tc := range []struct {
		name, client string
		want         []string
	}{
		{nginx("z-b."), "198.51.100.7", []string{
			"Service nginx in namespace mynamespace, zone level z-b",
			"shard b: not used (no ready endpoint)",
			"no usable shard here: CNAME to " + nginx("r-b."),
			"no usable shard here: CNAME to " + nginx(""),
			"shard a: used 192.0.2.1",
			"answer for client 198.51.100.7: 192.0.2.1",
		}},
		{nginx("r-a."), "", []string{"region level r-a", "answer for every client: 192.0.2.1"}},
		{"NGINX.mynamespace.myfederation.svc.example.com", "10.0.0.0/8", []string{"global level", "answer for client 10.0.0.0/8: 192.0.2.1"}},
		{"other.mynamespace.myfederation.svc.example.com.", "", []string{"NXDOMAIN"}},
		{"svc.example.com.", "", []string{"NODATA"}},
		{"example.com.", "", []string{"apex"}},
		{"example.org.", "", []string{"not inside the zone"}},
	} {
		text, err := f.Explain(tc.name, tc.client)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(text, w) {
				t.Errorf("%s: explanation lacks %q:\n%s", tc.name, w, text)
			}
		}
	}
	if _, err := f.Explain(nginx(""), "not-an-ip"); err == nil || !strings.Contains(err.Error(), `client "not-an-ip"`) {
		t.Errorf("bad client: %v", err)
	}
}

// The listener serves the page, the JSON, the explanation and an event stream
// that pushes a new report after a change.
func TestStatusListener(t *testing.T) {
	f, srcs := statusFederation(t)
	const addr = "127.0.0.1:0"
	if err := startStatus(addr, f); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			stopStatus(addr)
		}
	}
	t.Cleanup(stop)
	statusServers.Lock()
	base := "http://" + statusServers.byAddr[addr].ln.Addr().String()
	statusServers.Unlock()

	get := func(path string) (string, string) {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.Header.Get("Content-Type"), string(body)
	}
	if ct, body := get("/"); !strings.HasPrefix(ct, "text/html") || !strings.Contains(body, "EventSource") {
		t.Errorf("page: %s %.100s", ct, body)
	}
	ct, body := get("/status.json")
	var r StatusReport
	if err := json.Unmarshal([]byte(body), &r); err != nil || ct != "application/json" || len(r.Services) != 1 {
		t.Errorf("status.json: %s %v %.200s", ct, err, body)
	}
	if _, body := get("/explain?name=" + nginx("r-b.") + "&client=192.0.2.99"); !strings.Contains(body, "answer for client 192.0.2.99: 192.0.2.2") {
		t.Errorf("explain: %s", body)
	}

	resp, err := http.Get(base + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	events := make(chan StatusReport, 16)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var r StatusReport
				if json.Unmarshal([]byte(data), &r) == nil {
					events <- r
				}
			}
		}
	}()
	if r := <-events; !shardOf(r, "b").Used {
		t.Fatalf("first event: b not used: %+v", r)
	}
	srcs["b"].SetService(nginxState("192.0.2.2", false))
	deadline := time.After(10 * time.Second)
	for done := false; !done; {
		select {
		case r, ok := <-events:
			if !ok {
				t.Fatal("event stream ended")
			}
			done = !shardOf(r, "b").Used
		case <-deadline:
			t.Fatal("no event showed b's shard unused")
		}
	}
	stop() // ends the stream
	for range events {
	}
}

func TestParseStatus(t *testing.T) {
	for _, tc := range []struct {
		line, want, err string
	}{
		{"status", DefaultStatusAddr, ""},
		{"status 127.0.0.1:9999", "127.0.0.1:9999", ""},
		{"status [::1]:9999", "[::1]:9999", ""},
		{"status :9999", ":9999", ""},
		{"status 127.0.0.1", "", `status "127.0.0.1": ADDRESS must be HOST:PORT`},
		{"status 127.0.0.1:http2", "", `port "http2" is not a number`},
		{"status a:1 b:2", "", "status takes at most one ADDRESS, got 2 arguments"},
	} {
		c := caddy.NewTestController("dns", "federation myfederation {\n member a {\n kubeconfig "+kc+"\n }\n ns ns1.example.com. 192.0.2.53\n "+tc.line+"\n}")
		c.ServerBlockKeys = []string{"example.com"}
		f, err := parse(c)
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want %q", tc.line, err, tc.err)
			}
		case err != nil:
			t.Errorf("%s: %v", tc.line, err)
		case f.status != tc.want || f.changes == nil:
			t.Errorf("%s: status %q, want %q", tc.line, f.status, tc.want)
		}
	}
}
