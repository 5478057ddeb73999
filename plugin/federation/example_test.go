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
	const path = "../../Corefile.example"
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	blocks, err := caddyfile.Parse(path, f, append(dnsserver.Directives, pluginName))
	if err != nil {
		t.Fatalf("Corefile.example: %v", err)
	}
	found := 0
	for _, b := range blocks {
		tokens, ok := b.Tokens[pluginName]
		if !ok {
			continue
		}
		found++
		c := caddy.NewTestController("dns", "")
		c.Dispenser = caddyfile.NewDispenserTokens(path, tokens)
		c.ServerBlockKeys = b.Keys
		fed, err := parse(c)
		if err != nil {
			t.Fatalf("Corefile.example: %v", err)
		}
		if len(fed.Members) != 4 || fed.Zone != "example.com." {
			t.Errorf("Corefile.example: %d members in %s, want the seed's 4 in example.com.", len(fed.Members), fed.Zone)
		}
	}
	if found == 0 {
		t.Fatal("Corefile.example has no federation block")
	}
}
