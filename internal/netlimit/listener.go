package netlimit

import (
	"crypto/tls"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Listener bounds the connections a server holds, so that no peer can take
// the slots the API server needs. golang.org/x/net/netutil.LimitListener
// counts a connection from accept to close and, once full, stops
// accepting: a peer that opens connections and sends nothing keeps every
// later caller, the API server included, waiting in the kernel's queue.
// Listener instead always accepts, and then:
//
//   - refuses a connection from a source address that already holds
//     PerSource connections;
//   - at Max connections, makes room by closing one of the source holding
//     the most: a connection that has not sent a request yet (its TLS
//     handshake or first headers pending) or sits idle between requests,
//     the oldest first; only when that source has none does it close its
//     oldest busy one. When the newcomer's own source is the biggest
//     holder, the newcomer is the one refused.
//
// An honest client (the API server sends each review at once) is never
// the biggest holder unless the attack is spread over more source
// addresses than it has connections; docs/reliability.md says what that
// leaves possible.
//
// The server must report state changes through ConnState (Server wires
// it), so that idle and busy connections are told apart.
type Listener struct {
	net.Listener
	// Max bounds the connections held at once.
	Max int
	// PerSource bounds the connections of one source IP address.
	PerSource int

	mu       sync.Mutex
	bySource map[string]map[*conn]struct{}
	total    int

	refused atomic.Int64
	evicted atomic.Int64

	// Counted, when set, receives each connection refused or evicted,
	// with ReasonPerSource, ReasonFull or ReasonEvicted.
	Counted func(reason string)
}

// Reasons a connection is closed by the limits.
const (
	ReasonPerSource = "per-source"
	ReasonFull      = "full"
	ReasonEvicted   = "evicted"
)

// NewListener wraps l with the limits total and perSource (each at least 1).
func NewListener(l net.Listener, total, perSource int) *Listener {
	return &Listener{Listener: l, Max: max(total, 1), PerSource: max(perSource, 1), bySource: map[string]map[*conn]struct{}{}}
}

// conn is an accepted connection and what the limits need to know of it.
type conn struct {
	net.Conn
	l        *Listener
	source   string
	accepted time.Time
	busy     atomic.Bool
	once     sync.Once
}

// Close releases the connection's slot once.
func (c *conn) Close() error {
	c.once.Do(c.l.forget(c))
	return c.Conn.Close()
}

// Accept returns the next connection within the limits; connections over
// them are closed here and never reach the server.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		nc, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		c := &conn{Conn: nc, l: l, source: sourceOf(nc.RemoteAddr()), accepted: time.Now()}
		victim, ok, reason := l.admit(c)
		if victim != nil {
			l.evicted.Add(1)
			l.count(ReasonEvicted)
			_ = victim.Close()
		}
		if !ok {
			l.refused.Add(1)
			l.count(reason)
			_ = nc.Close()
			continue
		}
		return c, nil
	}
}

func (l *Listener) count(reason string) {
	if l.Counted != nil {
		l.Counted(reason)
	}
}

// admit takes a slot for c, and returns the connection to close to make
// room, if any; false: c is refused, for reason.
func (l *Listener) admit(c *conn) (victim *conn, ok bool, reason string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	mine := l.bySource[c.source]
	if len(mine) >= l.PerSource {
		return nil, false, ReasonPerSource
	}
	if l.total >= l.Max {
		victim = l.victim(c.source)
		if victim == nil {
			return nil, false, ReasonFull
		}
		// Its slot is taken over now, so that a victim slow to close
		// cannot let the listener run over Max.
		l.drop(victim)
	}
	if mine == nil {
		mine = map[*conn]struct{}{}
		l.bySource[c.source] = mine
	}
	mine[c] = struct{}{}
	l.total++
	return victim, true, ""
}

// victim is the connection to close for a newcomer from source: from the
// source holding the most, not busy and oldest first; nil when that is
// source itself.
func (l *Listener) victim(source string) *conn {
	// On a tie the newcomer's own source loses: it is refused rather
	// than evict an equal.
	top, most := source, len(l.bySource[source])
	for s, cs := range l.bySource {
		if len(cs) > most {
			top, most = s, len(cs)
		}
	}
	if top == source {
		return nil
	}
	var best *conn
	for c := range l.bySource[top] {
		switch {
		case best == nil:
			best = c
		case best.busy.Load() != c.busy.Load():
			if !c.busy.Load() {
				best = c
			}
		case c.accepted.Before(best.accepted):
			best = c
		}
	}
	return best
}

// forget returns the function that releases c's slot, if it still has one.
func (l *Listener) forget(c *conn) func() {
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.drop(c)
	}
}

// drop releases c's slot; the caller holds l.mu.
func (l *Listener) drop(c *conn) {
	mine := l.bySource[c.source]
	if _, ok := mine[c]; !ok {
		return
	}
	delete(mine, c)
	l.total--
	if len(mine) == 0 {
		delete(l.bySource, c.source)
	}
}

// ConnState is the http.Server.ConnState hook that tells the listener
// which connections are serving a request.
func (l *Listener) ConnState(nc net.Conn, state http.ConnState) {
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	c, ok := nc.(*conn)
	if !ok {
		return
	}
	switch state {
	case http.StateActive:
		c.busy.Store(true)
	case http.StateIdle, http.StateNew:
		c.busy.Store(false)
	}
}

// Stats are the listener's counts since it started.
type Stats struct {
	// Open is the connections held now.
	Open int
	// Sources is the source addresses holding them.
	Sources int
	// Refused is the connections closed at accept (over PerSource, or
	// over Max with nothing to make room).
	Refused int64
	// Evicted is the connections closed to make room for another.
	Evicted int64
}

// Stats returns the listener's counts.
func (l *Listener) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return Stats{Open: l.total, Sources: len(l.bySource), Refused: l.refused.Load(), Evicted: l.evicted.Load()}
}

// sourceOf is the IP address of a peer, without its port.
func sourceOf(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}
