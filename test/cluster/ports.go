package cluster

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
)

// The kernel picks the local port of every outgoing connection from its
// ephemeral range; a port a test picked with "127.0.0.1:0" (from that same
// range), closed and bound again seconds later may meanwhile be the source
// port of a connection from kube-apiserver to etcd, and the bind fails with
// "address already in use". Ports below the range are never taken that way.
const lowestPort = 10000

// ephemeralLow is the first port of the kernel's ephemeral range (Linux's
// default when it cannot be read).
func ephemeralLow() int {
	data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		var lo, hi int
		if _, err := fmt.Sscan(string(data), &lo, &hi); err == nil && lo > 0 {
			return lo
		}
	}
	return 32768
}

// FreePorts returns n distinct loopback ports that were free a moment ago
// for TCP (and, with udp, for UDP too), below the ephemeral range when
// there is room there, else anywhere.
func FreePorts(n int, udp bool) ([]int, error) {
	hi := ephemeralLow()
	var ports []int
	var held []func()
	defer func() {
		for _, release := range held {
			release()
		}
	}()
	try := func(port int) bool {
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			return false
		}
		release := func() { l.Close() }
		if udp {
			u, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(l.Addr().(*net.TCPAddr).Port)))
			if err != nil {
				l.Close()
				return false
			}
			release = func() { l.Close(); u.Close() }
		}
		// Held open until all are picked, so that they differ.
		held = append(held, release)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
		return true
	}
	for len(ports) < n {
		found := false
		for attempt := 0; attempt < 200 && hi-lowestPort > 1000 && !found; attempt++ {
			found = try(lowestPort + rand.IntN(hi-lowestPort))
		}
		if !found && !try(0) {
			return nil, fmt.Errorf("no free loopback port")
		}
	}
	return ports, nil
}
