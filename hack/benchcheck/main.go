// Command benchcheck times the real headless-guard binary checking generated
// manifest directories, the way a CI job runs it, and prints documents per
// second, wall time and peak RSS (`make bench-check`).
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/headless-guard/headless-guard/internal/benchmanifests"
)

func main() {
	// units 0 is one directory of plain files, one unit; more is a
	// repository of that many kustomizations, checked one at a time.
	cases := []struct{ docs, units int }{{1000, 0}, {10000, 0}, {100000, 0}, {100000, 100}}
	binary := flag.String("binary", "bin/headless-guard", "headless-guard binary to time")
	runs := flag.Int("runs", 3, "runs per size; the best is reported")
	flag.Parse()
	if _, err := os.Stat(*binary); err != nil {
		fail(fmt.Errorf("%v: run `make build` first", err))
	}
	fmt.Printf("%-8s %6s %10s %10s %12s %10s\n", "docs", "units", "best", "median", "docs/s", "peak RSS")
	for _, c := range cases {
		dir, err := os.MkdirTemp("", "benchcheck")
		if err != nil {
			fail(err)
		}
		units := max(c.units, 1)
		if c.units == 0 {
			err = benchmanifests.WriteDir(dir, c.docs, 100)
		} else {
			err = benchmanifests.WriteUnits(dir, c.docs, 100, c.units)
		}
		if err != nil {
			fail(err)
		}
		var walls []time.Duration
		var rss int64
		for i := 0; i < *runs; i++ {
			cmd := exec.Command(*binary, "check", "-o", "json", dir)
			start := time.Now()
			err := cmd.Run()
			wall := time.Since(start)
			var exit *exec.ExitError
			// Exit 1 is expected: the generated set has broken StatefulSets.
			if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 1) {
				fail(fmt.Errorf("%s check %s: %v", *binary, dir, err))
			}
			walls = append(walls, wall)
			if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok && ru.Maxrss > rss {
				rss = ru.Maxrss
			}
		}
		os.RemoveAll(dir)
		best, median := minMedian(walls)
		fmt.Printf("%-8d %6d %10s %10s %12.0f %7.1f MiB\n", c.docs, units, best.Round(time.Millisecond), median.Round(time.Millisecond), float64(c.docs)/best.Seconds(), float64(rss)/1024)
	}
}

func minMedian(d []time.Duration) (time.Duration, time.Duration) {
	s := append([]time.Duration(nil), d...)
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s[0], s[len(s)/2]
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "benchcheck:", err)
	os.Exit(1)
}
