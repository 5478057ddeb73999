package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/coredns-fed/coredns-fed/internal/lab"
	"github.com/coredns-fed/coredns-fed/plugin/federation"
)

// statusOf reads the lab's coredns-fed status JSON.
func statusOf(d *lab.CoreDNS) (federation.StatusReport, error) {
	var r federation.StatusReport
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(d.StatusURL + "status.json")
	if err != nil {
		return r, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return r, fmt.Errorf("%sstatus.json: %s", d.StatusURL, resp.Status)
	}
	return r, json.NewDecoder(resp.Body).Decode(&r)
}

func shardIn(r federation.StatusReport, member string) (federation.ShardReport, bool) {
	for _, s := range r.Services {
		if s.Namespace != lab.SeedNamespace || s.Name != lab.SeedService {
			continue
		}
		for _, sh := range s.Shards {
			if sh.Member == member {
				return sh, true
			}
		}
	}
	return federation.ShardReport{}, false
}

func levelIn(r federation.StatusReport, name string) (federation.LevelReport, bool) {
	for _, s := range r.Services {
		for _, l := range s.Levels {
			if l.Name == name {
				return l, true
			}
		}
	}
	return federation.LevelReport{}, false
}

// TestStatusJSON: the status JSON shows every member and every shard used;
// when europe's endpoints turn unready, it shows its shard unused for that
// reason, its region falling back to global, and the change; explain says so.
func TestStatusJSON(t *testing.T) {
	healthy(t)
	d := fed.DNS()
	const europe = "gce-europe-west1"
	c := cluster(t, europe)
	waitFor(t, d, convergeTimeout, "every shard used in the status JSON", func() error {
		r, err := statusOf(d)
		if err != nil {
			return err
		}
		if len(r.Members) != len(fed.Clusters()) {
			return fmt.Errorf("%d members, want %d", len(r.Members), len(fed.Clusters()))
		}
		for _, m := range r.Members {
			if !m.Synced || !m.Connected || m.Stale || len(m.Places) == 0 {
				return fmt.Errorf("member %+v", m)
			}
			if sh, ok := shardIn(r, m.Name); !ok || !sh.Used {
				return fmt.Errorf("shard of %s: %+v", m.Name, sh)
			}
		}
		return nil
	})

	setReady(t, europe, false)
	t.Cleanup(func() {
		setReady(t, europe, true)
		healthy(t)
	})
	waitFor(t, d, convergeTimeout, "europe's shard unused in the status JSON", func() error {
		r, err := statusOf(d)
		if err != nil {
			return err
		}
		if sh, _ := shardIn(r, europe); sh.Used || sh.Reason != "no ready endpoint" {
			return fmt.Errorf("shard of %s: %+v", europe, sh)
		}
		if l, _ := levelIn(r, regionName(c.Region)); l.Answer != "cname" || l.CNAME != globalName() {
			return fmt.Errorf("region level: %+v", l)
		}
		for _, ch := range r.Changes {
			if ch.What == "shard" && ch.Subject == europe && ch.To == "not used: no ready endpoint" {
				return nil
			}
		}
		return fmt.Errorf("no change records europe's shard going unused: %+v", r.Changes)
	})

	out, err := exec.Command(filepath.Join(repoRoot, "bin", "coredns-fed"), "explain",
		"-status", strings.TrimSuffix(strings.TrimPrefix(d.StatusURL, "http://"), "/"),
		zoneName(c.Zones[0]), "192.0.2.1").CombinedOutput()
	if err != nil {
		t.Fatalf("coredns-fed explain: %v\n%s", err, out)
	}
	for _, want := range []string{
		"shard " + europe + ": not used (no ready endpoint)",
		"no usable shard here: CNAME to " + regionName(c.Region),
		"no usable shard here: CNAME to " + globalName(),
		"answer for client 192.0.2.1:",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("coredns-fed explain lacks %q:\n%s", want, out)
		}
	}
}

// TestStatusPageInBrowser: a headless Chromium shows the status page; when
// europe's endpoints turn unready, the page changes without a reload,
// pushed by the server.
func TestStatusPageInBrowser(t *testing.T) {
	healthy(t)
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium not found (%v): install Debian's chromium package (make apt does)", err)
	}
	d := fed.DNS()
	const europe = "gce-europe-west1"
	c := cluster(t, europe)

	// Only loopback: no background requests, and every name but the lab's
	// address resolves to nothing.
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		// Chromium's own scratch directories go under the test's, which the
		// test removes, not under /tmp.
		chromedp.Env("TMPDIR=" + t.TempDir()),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-proxy-server", true),
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE "+lab.Loopback),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser() // stops the browser
	ctx, cancel := context.WithTimeout(bctx, 2*time.Minute)
	defer cancel()

	shard := fmt.Sprintf(`tr[data-shard="%s/%s/%s"]`, lab.SeedNamespace, lab.SeedService, europe)
	region := fmt.Sprintf(`tr[data-level="%s"]`, regionName(c.Region))
	if err := chromedp.Do(ctx,
		chromedp.Navigate(d.StatusURL),
		chromedp.WaitVisible(chromedp.CSS(shard+`[data-used="true"]`)),
		chromedp.WaitVisible(chromedp.CSS(region+`[data-answer="addresses"]`)),
		chromedp.Evaluate[chromedp.Void](`window.notReloaded = true; undefined`),
	); err != nil {
		t.Fatalf("page at %s: %v", d.StatusURL, err)
	}

	setReady(t, europe, false)
	t.Cleanup(func() {
		setReady(t, europe, true)
		healthy(t)
	})
	if err := chromedp.Do(ctx,
		chromedp.WaitVisible(chromedp.CSS(shard+`[data-used="false"]`)),
		chromedp.WaitVisible(chromedp.CSS(region+`[data-answer="cname"]`)),
	); err != nil {
		t.Fatalf("page after europe's endpoints went unready: %v", err)
	}
	reason, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(shard+` td:nth-child(3)`)))
	if err != nil {
		t.Fatal(err)
	}
	notReloaded, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.notReloaded === true`))
	if err != nil {
		t.Fatal(err)
	}
	navigations, err := chromedp.Run(ctx, chromedp.Evaluate[int](`performance.getEntriesByType("navigation").length`))
	if err != nil {
		t.Fatal(err)
	}
	if reason != "no ready endpoint" {
		t.Errorf("page gives europe's shard the reason %q", reason)
	}
	if !notReloaded || navigations != 1 {
		t.Errorf("the page was reloaded (marker kept %v, navigations %d)", notReloaded, navigations)
	}

	setReady(t, europe, true)
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(shard+`[data-used="true"]`))); err != nil {
		t.Fatalf("page after europe's endpoints came back: %v", err)
	}
}
