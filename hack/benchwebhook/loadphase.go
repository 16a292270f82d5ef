package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/headless-guard/headless-guard/test/load"
)

// cell pools the runs of one server at one load.
type cell struct {
	requests, errors int
	measured         time.Duration
	samples          []time.Duration
	cpu              time.Duration
	firstErr         error
	loads            []string
}

func (c *cell) add(r load.Result, d, cpu time.Duration) {
	c.requests += r.Requests
	c.errors += r.Errors
	c.measured += d
	c.samples = append(c.samples, r.Samples...)
	c.cpu += cpu
	if c.firstErr == nil {
		c.firstErr = r.FirstError
	}
	c.loads = append(c.loads, loadAvg())
}

func (c *cell) throughput() float64 { return float64(c.requests) / c.measured.Seconds() }

func (c *cell) quantiles() (p50, p99, p999 time.Duration) {
	slices.Sort(c.samples)
	return load.Quantiles(c.samples)
}

func (c *cell) cpuPerRequest() time.Duration {
	if c.requests == 0 {
		return 0
	}
	return c.cpu / time.Duration(c.requests)
}

// measure runs one load run against the active server and adds it to c.
func (b *bench) measure(c *cell, o load.Options) error {
	before, err := readProc(b.active.PID())
	if err != nil {
		return err
	}
	res, err := load.Run(b.ctx, b.target, o)
	if err != nil {
		return err
	}
	after, err := readProc(b.active.PID())
	if err != nil {
		return err
	}
	c.add(res, o.Duration, after.cpu-before.cpu)
	return nil
}

// loadPhase posts the recorded reviews at each concurrency level against
// the guard and the do-nothing webhook (rounds alternate the order: guard,
// nop, nop, guard, ...), then at half the guard's saturating rate.
func (b *bench) loadPhase() error {
	o := b.o
	servers := []server{b.guard, b.nop}
	cells := map[server]map[int]*cell{b.guard: {}, b.nop: {}}
	for _, s := range servers {
		for _, l := range o.levels {
			cells[s][l] = &cell{}
		}
	}
	for round := 0; round < o.rounds; round++ {
		order := servers
		if round%2 == 1 {
			order = []server{b.nop, b.guard}
		}
		for _, s := range order {
			if err := b.use(s); err != nil {
				return err
			}
			for _, l := range o.levels {
				if err := b.measure(cells[s][l], load.Options{Reviews: b.rs, Concurrency: l, Warmup: o.warmup, Duration: o.duration}); err != nil {
					return err
				}
			}
		}
	}

	fmt.Printf("== Webhook load: %d recorded AdmissionReviews round robin, %s keep-alive, closed loop,\n", len(b.rs), b.tlsVersion())
	fmt.Printf("   %d x %s per cell (servers alternated ABBA), load generator on the same 2 cores\n", o.rounds, o.duration)
	fmt.Printf("%-5s %-15s %9s %9s %9s %9s %12s %7s  %s\n", "conc", "server", "req/s", "p50", "p99", "p99.9", "server CPU", "errors", "load avg")
	saturated := 0.0
	for _, l := range o.levels {
		for _, s := range servers {
			c := cells[s][l]
			p50, p99, p999 := c.quantiles()
			fmt.Printf("%-5d %-15s %9.0f %9s %9s %9s %10s/r %7d  %s\n", l, s.Name(), c.throughput(), ms(p50), ms(p99), ms(p999), us(c.cpuPerRequest()), c.errors, strings.Join(c.loads, " "))
			if c.firstErr != nil {
				fmt.Printf("      first error: %v\n", c.firstErr)
			}
		}
		g, n := cells[b.guard][l], cells[b.nop][l]
		fmt.Printf("%-5d %-15s %9.2f %31s %12.2f\n", l, "guard/nop", g.throughput()/n.throughput(), "", float64(g.cpuPerRequest())/float64(n.cpuPerRequest()))
		saturated = max(saturated, g.throughput())
	}

	// Half the saturating load, the same arrival rate for both servers.
	rate := saturated / 2
	half := map[server]*cell{b.guard: {}, b.nop: {}}
	for _, s := range []server{b.guard, b.nop} {
		if err := b.use(s); err != nil {
			return err
		}
		if err := b.measure(half[s], load.Options{Reviews: b.rs, Concurrency: 64, Rate: rate, Warmup: o.warmup, Duration: o.halfDuration}); err != nil {
			return err
		}
	}
	fmt.Printf("\n== Half the saturating load: %.0f req/s open loop (latency from the intended send time), %s\n", rate, o.halfDuration)
	fmt.Printf("%-15s %9s %9s %9s %9s %12s %7s  %s\n", "server", "req/s", "p50", "p99", "p99.9", "server CPU", "errors", "load avg")
	for _, s := range []server{b.guard, b.nop} {
		c := half[s]
		p50, p99, p999 := c.quantiles()
		fmt.Printf("%-15s %9.0f %9s %9s %9s %10s/r %7d  %s\n", s.Name(), c.throughput(), ms(p50), ms(p99), ms(p999), us(c.cpuPerRequest()), c.errors, strings.Join(c.loads, " "))
	}
	best := 0.0
	for _, l := range o.levels {
		best = max(best, cells[b.guard][l].throughput()/cells[b.nop][l].throughput())
	}
	_, gp99, _ := half[b.guard].quantiles()
	g1, n1 := cells[b.guard][o.levels[len(o.levels)-1]], cells[b.nop][o.levels[len(o.levels)-1]]
	fmt.Printf("\ntarget throughput >= 90%% of do-nothing: %.0f%% at concurrency %d (server CPU per request %.0f%% of do-nothing) %s\n",
		100*g1.throughput()/n1.throughput(), o.levels[len(o.levels)-1], 100*float64(g1.cpuPerRequest())/float64(n1.cpuPerRequest()), verdict(g1.throughput()/n1.throughput() >= 0.9))
	fmt.Printf("target p99 <= 2ms at half the saturating load: %s %s\n\n", ms(gp99), verdict(gp99 <= 2*time.Millisecond))
	return nil
}

// tlsVersion is what a client like the API server's negotiates.
func (b *bench) tlsVersion() string {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(b.target.CA)
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", strings.TrimPrefix(b.target.BaseURL, "https://"), &tls.Config{RootCAs: pool})
	if err != nil {
		return "TLS"
	}
	defer conn.Close()
	st := conn.ConnectionState()
	return tls.VersionName(st.Version) + " " + tls.CipherSuiteName(st.CipherSuite)
}

func verdict(ok bool) string {
	if ok {
		return "[holds]"
	}
	return "[MISSED]"
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond)) }
func us(d time.Duration) string { return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond)) }
