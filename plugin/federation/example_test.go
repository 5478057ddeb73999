package federation

import (
	"os"
	"testing"

	"github.com/coredns/caddy"
	"github.com/coredns/caddy/caddyfile"
	"github.com/coredns/coredns/core/dnsserver"
)

// TestCorefileExample parses the repository's Corefile.example: its syntax and
// every federation block must be accepted.
func TestCorefileExample(t *testing.T) {
	feds := parseCorefile(t, "../../Corefile.example")
	if len(feds) == 0 {
		t.Fatal("Corefile.example has no federation block")
	}
	for _, fed := range feds {
		if len(fed.Members) != 4 || fed.Zone != "example.com." {
			t.Errorf("Corefile.example: %d members in %s, want the seed's 4 in example.com.", len(fed.Members), fed.Zone)
		}
	}
}

// TestDeployCorefiles parses the Corefiles the kustomize manifests ship: the
// base's placeholder and the seed overlay must be accepted as they are.
func TestDeployCorefiles(t *testing.T) {
	for _, path := range []string{"../../deploy/base/Corefile", "../../deploy/overlays/seed/Corefile"} {
		if feds := parseCorefile(t, path); len(feds) != 1 {
			t.Errorf("%s: %d federation blocks, want 1", path, len(feds))
		}
	}
}

// parseCorefile parses every federation block of the Corefile at path.
func parseCorefile(t *testing.T, path string) []*Federation {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	blocks, err := caddyfile.Parse(path, f, append(dnsserver.Directives, pluginName))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var feds []*Federation
	for _, b := range blocks {
		tokens, ok := b.Tokens[pluginName]
		if !ok {
			continue
		}
		c := caddy.NewTestController("dns", "")
		c.Dispenser = caddyfile.NewDispenserTokens(path, tokens)
		c.ServerBlockKeys = b.Keys
		fed, err := parse(c)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		feds = append(feds, fed)
	}
	return feds
}
