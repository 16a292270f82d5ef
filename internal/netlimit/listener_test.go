package netlimit

import (
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// dialFrom connects to addr from the loopback address src (Linux routes
// all of 127/8 to lo), so that one machine plays several pods.
func dialFrom(t *testing.T, src, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 2 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Skipf("dialing from %s: %v", src, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedByServer reports whether the server closed c within wait.
func closedByServer(c net.Conn, wait time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(wait))
	_, err := c.Read(make([]byte, 1))
	return err == io.EOF
}

func TestListenerKeepsSlotsForOthers(t *testing.T) {
	lim := Limits{MaxConnections: 4, PerSource: 3, ReadHeaderTimeout: time.Minute, ReadTimeout: time.Minute, WriteTimeout: time.Minute, IdleTimeout: time.Minute, MaxHeaderBytes: 4 << 10}
	ln, limited, err := lim.Listen("test", "127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := lim.Server(t.Context(), http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }), limited, nil)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	addr := ln.Addr().String()

	// One source opens connections and sends nothing.
	var idle []net.Conn
	for range 3 {
		idle = append(idle, dialFrom(t, "127.0.0.2", addr))
	}
	if over := dialFrom(t, "127.0.0.2", addr); !closedByServer(over, 2*time.Second) {
		t.Errorf("a fourth connection from one source was kept, want it closed (PerSource 3)")
	}
	dialFrom(t, "127.0.0.3", addr)
	time.Sleep(100 * time.Millisecond)
	if s := limited.Stats(); s.Open != 4 || s.Refused != 1 {
		t.Fatalf("stats %+v, want 4 open and 1 refused", s)
	}
	// The listener is full: a newcomer is served, in place of an idle
	// connection of the source holding the most.
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.4")}}).DialContext}}
	resp, err := hc.Get("http://" + addr)
	if err != nil {
		t.Fatalf("a newcomer with the listener full of idle connections: %v", err)
	}
	resp.Body.Close()
	evicted := 0
	for _, c := range idle {
		if closedByServer(c, 200*time.Millisecond) {
			evicted++
		}
	}
	if s := limited.Stats(); evicted != 1 || s.Evicted != 1 {
		t.Errorf("%d idle connections closed, stats %+v: want the one evicted for the newcomer", evicted, s)
	}
}
