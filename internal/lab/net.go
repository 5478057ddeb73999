package lab

import (
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
)

// Loopback is the only address the lab, the benchmark and the tests bind
// their servers to, apart from the backends' own 127.B.C.D addresses.
const Loopback = "127.0.0.1"

// FreePort returns a TCP port on 127.0.0.1 that is free right now. The small
// race between closing the probe listener and the server binding the port is
// acceptable on loopback.
func FreePort() (int, error) {
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
