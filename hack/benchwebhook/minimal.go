package main

import (
	"cmp"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/headless-guard/headless-guard/test/load"
	"github.com/headless-guard/headless-guard/test/load/reviews"
)

// minimalPhase posts each minimal review (reviews.Minimal: the smallest
// review the API server sends on each path) alone, at one concurrency,
// against the guard and the do-nothing webhook, alternated ABBA. With
// almost nothing to decode, what the guard adds per request beyond
// decoding shows here; the recorded reviews hide it.
func (b *bench) minimalPhase() error {
	o := b.o
	// The headline first: seed 000's StatefulSet CREATE.
	slices.SortStableFunc(b.min, func(x, y reviews.Review) int {
		return cmp.Compare(btoi(x.Name != headline), btoi(y.Name != headline))
	})
	servers := []server{b.guard, b.nop}
	cells := map[server][]*cell{}
	for _, s := range servers {
		for range b.min {
			cells[s] = append(cells[s], &cell{})
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
			for i, r := range b.min {
				if err := b.measure(cells[s][i], load.Options{Reviews: []reviews.Review{r}, Concurrency: o.minConcurrency, Warmup: o.warmup, Duration: o.duration}); err != nil {
					return err
				}
			}
		}
	}
	fmt.Printf("== Minimal reviews: each alone, closed loop at concurrency %d, %s keep-alive,\n", o.minConcurrency, b.tlsVersion())
	fmt.Printf("   %d x %s per cell (servers alternated ABBA), load generator on the same 2 cores\n", o.rounds, o.duration)
	fmt.Printf("%-33s %-15s %9s %9s %9s %9s %12s %7s  %s\n", "review (bytes)", "server", "req/s", "p50", "p99", "p99.9", "server CPU", "errors", "load avg")
	for i, r := range b.min {
		name := fmt.Sprintf("%s (%d)", strings.TrimPrefix(r.Name, reviews.MinimalPrefix), len(r.Body))
		for _, s := range servers {
			c := cells[s][i]
			p50, p99, p999 := c.quantiles()
			fmt.Printf("%-33s %-15s %9.0f %9s %9s %9s %10s/r %7d  %s\n", name, s.Name(), c.throughput(), ms(p50), ms(p99), ms(p999), us(c.cpuPerRequest()), c.errors, strings.Join(c.loads, " "))
			if c.firstErr != nil {
				fmt.Printf("      first error: %v\n", c.firstErr)
			}
		}
		g, n := cells[b.guard][i], cells[b.nop][i]
		_, gp99, _ := g.quantiles()
		_, np99, _ := n.quantiles()
		fmt.Printf("%-33s %-15s %9.2f %19s %9.2f %12.2f\n", "", "guard/nop", g.throughput()/n.throughput(), "", float64(gp99)/float64(np99), float64(g.cpuPerRequest())/float64(n.cpuPerRequest()))
	}
	g, n := cells[b.guard][0], cells[b.nop][0]
	_, gp99, _ := g.quantiles()
	_, np99, _ := n.quantiles()
	ratio, p99ratio := g.throughput()/n.throughput(), float64(gp99)/float64(np99)
	fmt.Printf("\ntarget minimal-review (%s) throughput >= 90%% of do-nothing: %.0f%% %s\n", b.min[0].Name, 100*ratio, verdict(ratio >= 0.9))
	fmt.Printf("target minimal-review p99 <= 1.5 x do-nothing's: %s against %s (x%.2f) %s\n\n", ms(gp99), ms(np99), p99ratio, verdict(p99ratio <= 1.5))
	return nil
}

// pinnedPhase measures p99 at half the saturating load with the server
// on CPU 0 and this process (the load generator) on CPU 1, so that the
// latency is the server's, not a queue behind the generator's own work.
// Saturation is measured pinned too (closed loop, concurrency 16, the
// recorded reviews); both servers then get half the guard's saturating
// rate, open loop, latency from the intended send time.
func (b *bench) pinnedPhase() error {
	o := b.o
	if err := pin(os.Getpid(), "1"); err != nil {
		return err
	}
	defer func() { _ = pin(os.Getpid(), "0-1") }()
	servers := []server{b.guard, b.nop}
	sat := map[server]*cell{}
	for _, s := range servers {
		if err := b.usePinned(s); err != nil {
			return err
		}
		sat[s] = &cell{}
		for round := 0; round < o.rounds; round++ {
			if err := b.measure(sat[s], load.Options{Reviews: b.rs, Concurrency: 16, Warmup: o.warmup, Duration: o.duration}); err != nil {
				return err
			}
		}
	}
	rate := sat[b.guard].throughput() / 2
	half := map[server]*cell{}
	// The other order: the server last measured keeps its place.
	for _, s := range []server{b.nop, b.guard} {
		if err := b.usePinned(s); err != nil {
			return err
		}
		half[s] = &cell{}
		for round := 0; round < o.rounds; round++ {
			if err := b.measure(half[s], load.Options{Reviews: b.rs, Concurrency: 64, Rate: rate, Warmup: o.warmup, Duration: o.halfDuration}); err != nil {
				return err
			}
		}
	}
	// Later phases run unpinned.
	_ = pin(b.active.PID(), "0-1")

	fmt.Printf("== Pinned: server on CPU 0, load generator on CPU 1 (taskset); recorded reviews round robin\n")
	fmt.Printf("%-26s %-15s %9s %9s %9s %9s %12s %7s  %s\n", "load", "server", "req/s", "p50", "p99", "p99.9", "server CPU", "errors", "load avg")
	for _, row := range []struct {
		what  string
		cells map[server]*cell
	}{{"saturated (closed, c=16)", sat}, {fmt.Sprintf("half: %.0f req/s open loop", rate), half}} {
		for _, s := range servers {
			c := row.cells[s]
			p50, p99, p999 := c.quantiles()
			fmt.Printf("%-26s %-15s %9.0f %9s %9s %9s %10s/r %7d  %s\n", row.what, s.Name(), c.throughput(), ms(p50), ms(p99), ms(p999), us(c.cpuPerRequest()), c.errors, strings.Join(c.loads, " "))
			if c.firstErr != nil {
				fmt.Printf("      first error: %v\n", c.firstErr)
			}
		}
	}
	_, gp99, _ := half[b.guard].quantiles()
	_, np99, _ := half[b.nop].quantiles()
	fmt.Printf("\ntarget p99 <= 2ms at half the saturating load, server and load generator on separate cores: %s (do-nothing %s) %s\n\n", ms(gp99), ms(np99), verdict(gp99 <= 2*time.Millisecond))
	return nil
}

// usePinned makes s the active server and pins every thread of it to
// CPU 0. The Go runtime of the server follows its CPU affinity
// (GOMAXPROCS 1 within a second, Go 1.25+); the wait covers that.
func (b *bench) usePinned(s server) error {
	if err := b.use(s); err != nil {
		return err
	}
	if err := pin(s.PID(), "0"); err != nil {
		return err
	}
	time.Sleep(1500 * time.Millisecond)
	return nil
}

// pin sets the CPU affinity of every thread of pid (taskset -a).
func pin(pid int, cpus string) error {
	if out, err := exec.Command("taskset", "-a", "-p", "-c", cpus, strconv.Itoa(pid)).CombinedOutput(); err != nil {
		return fmt.Errorf("taskset -a -p -c %s %d: %v: %s", cpus, pid, err, out)
	}
	return nil
}

// headline is the minimal review the targets are stated for.
const headline = "min-statefulset-create-validate"

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
