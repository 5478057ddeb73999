package lab

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
)

// Loopback is the only address the lab, the benchmark and the tests bind
// their servers to, apart from the backends' own 127.B.C.D addresses.
const Loopback = "127.0.0.1"

// FreePort returns a TCP port on 127.0.0.1 that is free right now. The small
// race between closing the probe listener and the server binding the port is
// acceptable on loopback.
//
// The port lies below the kernel's ephemeral range, never in it: a client's
// socket takes its port from that range, and one that got a port a server
// holds (CoreDNS listens with SO_REUSEPORT, and dig's sockets set it too)
// would be connected to itself and receive its own query as the reply (dig:
// "query response not set"); 1 query in a few thousand did in the tests.
func FreePort() (int, error) {
	lo := ephemeralLow()
	if lo-minPort < 1000 {
		return anyPort()
	}
	for range 200 {
		port := minPort + rand.IntN(lo-minPort)
		l, err := net.Listen("tcp", HostPort(Loopback, port))
		if err != nil {
			continue
		}
		l.Close()
		return port, nil
	}
	return 0, fmt.Errorf("no free TCP port on %s from %d to %d", Loopback, minPort, lo-1)
}

// minPort is the lowest port FreePort returns.
const minPort = 10000

// ephemeralLow returns the first port of the kernel's ephemeral range, or
// 32768 (Linux's default) when it cannot be read.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 32768
	}
	lo, err := strconv.Atoi(f[0])
	if err != nil || lo <= 0 {
		return 32768
	}
	return lo
}

// anyPort returns a port the kernel picks (in its ephemeral range).
func anyPort() (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(Loopback, "0"))
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// FreeDNSPort returns a port free for both TCP and UDP on 127.0.0.1.
func FreeDNSPort() (int, error) {
	for range 20 {
		port, err := FreePort()
		if err != nil {
			return 0, err
		}
		u, err := net.ListenPacket("udp", net.JoinHostPort(Loopback, strconv.Itoa(port)))
		if err != nil {
			continue
		}
		u.Close()
		return port, nil
	}
	return 0, fmt.Errorf("no port free for both TCP and UDP on %s", Loopback)
}

// backendAddrs returns n backend addresses 127.B.1.1 … 127.B.1.n for a random
// B in 16..239, so that two labs on one machine (a test and a demo) are very
// unlikely to pick the same ones; the caller retries on a bind conflict.
// All of 127.0.0.0/8 is routed to the loopback interface on Linux, so these
// need no configuration.
func backendAddrs(n int) []string {
	b := 16 + rand.IntN(224)
	addrs := make([]string, n)
	for i := range addrs {
		addrs[i] = fmt.Sprintf("127.%d.1.%d", b, i+1)
	}
	return addrs
}

// HostPort joins host and port into host:port.
func HostPort(host string, port int) string {
	return net.JoinHostPort(host, strconv.Itoa(port))
}
