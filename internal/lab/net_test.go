package lab

import (
	"net"
	"testing"
)

// Servers' ports lie below the ephemeral range, where no client's socket can
// be given the same port, and are free for TCP and UDP.
func TestFreeDNSPortBelowEphemeral(t *testing.T) {
	lo := ephemeralLow()
	for range 20 {
		port, err := FreeDNSPort()
		if err != nil {
			t.Fatal(err)
		}
		if port < minPort || port >= lo {
			t.Fatalf("port %d outside %d..%d", port, minPort, lo-1)
		}
		u, err := net.ListenPacket("udp", HostPort(Loopback, port))
		if err != nil {
			t.Fatalf("port %d: %v", port, err)
		}
		u.Close()
	}
}
