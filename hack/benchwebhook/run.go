package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/headless-guard/headless-guard/test/cluster"
	"github.com/headless-guard/headless-guard/test/load"
	"github.com/headless-guard/headless-guard/test/load/reviews"
)

// options are the knobs of a run; the defaults keep `make bench` within a
// few minutes on two cores.
type options struct {
	phases         string
	levels         intList
	duration       time.Duration
	warmup         time.Duration
	rounds         int
	halfDuration   time.Duration
	blocks         int
	blockSize      int
	scale          intList
	scaleLoad      time.Duration
	scaleRepeats   int
	scaleNS        int
	createWorkers  int
	heapProfile    string
	memLimit       string
	restartEnv     string
	minConcurrency int
	guardArgs      string
	logDir         string
	heapProfiles   string
}

type intList []int

func (l *intList) String() string {
	var s []string
	for _, i := range *l {
		s = append(s, strconv.Itoa(i))
	}
	return strings.Join(s, ",")
}

func (l *intList) Set(v string) error {
	*l = nil
	for _, f := range strings.Split(v, ",") {
		i, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return err
		}
		*l = append(*l, i)
	}
	return nil
}

func (o *options) addFlags(fs *flag.FlagSet) {
	o.levels = intList{1, 4, 16, 64}
	o.scale = intList{1000, 10000}
	fs.StringVar(&o.phases, "phases", "load,minimal,pinned,apiserver,scale", "phases to run: load, minimal, pinned, apiserver, scale")
	fs.IntVar(&o.minConcurrency, "min-concurrency", 8, "minimal phase: closed-loop concurrency")
	fs.Var(&o.levels, "concurrency", "closed-loop concurrency levels of the load phase")
	fs.DurationVar(&o.duration, "duration", 2500*time.Millisecond, "measured time per load run")
	fs.DurationVar(&o.warmup, "warmup", 500*time.Millisecond, "unmeasured warm-up before each load run")
	fs.IntVar(&o.rounds, "rounds", 2, "load rounds per server, alternated guard/do-nothing (ABBA)")
	fs.DurationVar(&o.halfDuration, "half-duration", 4*time.Second, "measured time of each run at half the saturating rate")
	fs.IntVar(&o.blocks, "blocks", 4, "apiserver phase: blocks per configuration, alternated with blocks without webhooks")
	fs.IntVar(&o.blockSize, "block-size", 100, "apiserver phase: StatefulSet creates per block")
	fs.Var(&o.scale, "scale", "scale phase: Service counts to reach (a fifth as many StatefulSets)")
	fs.IntVar(&o.scaleNS, "scale-namespaces", 1, "scale phase: spread the Services and StatefulSets over this many namespaces (1: all in the recorded reviews' namespace)")
	fs.IntVar(&o.createWorkers, "create-workers", 32, "scale phase: concurrent creates through the API server")
	fs.DurationVar(&o.scaleLoad, "scale-load", 3*time.Second, "scale phase: measured time of each load run")
	fs.IntVar(&o.scaleRepeats, "scale-repeats", 5, "scale phase: latency runs (concurrency 1) per row; the row shows the median of their quantiles and the range of their p99")
	fs.StringVar(&o.memLimit, "memlimit", "512MiB", "scale phase: the GOMEMLIMIT of one restart of the guard (the chart sets the memory limit, 512Mi by default)")
	fs.StringVar(&o.restartEnv, "restart-env", "", "scale phase: one more restart of the guard with this environment variable (e.g. GOGC=50, to compare GC settings at the largest size); several, separated by ';', one restart each")
	fs.StringVar(&o.heapProfile, "heap-profile", "", "scale phase: write a heap profile of the guard's cache, built in this process, to this file")
	fs.StringVar(&o.logDir, "log-dir", "", "keep the control plane's and the guard's logs in this directory (default: removed at the end)")
	fs.StringVar(&o.guardArgs, "guard-args", "", "extra `headless-guard serve` arguments for every start of the guard, space-separated")
	fs.StringVar(&o.heapProfiles, "guard-heap-profiles", "", "scale phase: with -guard-args=--pprof-bind-address=ADDR, write the guard's heap profile at each row into this directory, and its runtime.MemStats after a forced collection (HeapAlloc: the live heap exactly)")
}

func (o *options) has(phase string) bool {
	for _, p := range strings.Split(o.phases, ",") {
		if strings.TrimSpace(p) == phase {
			return true
		}
	}
	return false
}

// bench is one run: the cluster, the two servers and what they share.
type bench struct {
	o      options
	c      *cluster.Cluster
	guard  *guardServer
	nop    *nopServer
	active server
	target load.Target
	// rs are the recorded reviews, min the minimal ones (reviews.Minimal),
	// all both.
	rs, min, all []reviews.Review
	ctx          context.Context
	// fixtures is set once the objects the reviews refer to exist; from
	// then on every server start is checked against the recorded decisions.
	fixtures bool
	// ready is when the active server last became ready: started, and
	// (with the fixtures) answering every recorded review as recorded.
	ready time.Time
}

func run(ctx context.Context, o options) error {
	start := time.Now()
	root, err := cluster.RepoRoot()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "benchwebhook-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	nopBin, err := buildNop(root, tmp)
	if err != nil {
		return err
	}
	all, err := reviews.All()
	if err != nil {
		return err
	}
	rs, minimal := reviews.Split(all)
	c, err := cluster.Start(ctx, cluster.Options{LogDir: o.logDir})
	if err != nil {
		return err
	}
	defer c.Stop()
	b := &bench{
		o: o, c: c, rs: rs, min: minimal, all: all, ctx: ctx,
		// The recorded reviews' decisions are the strict policy's (the
		// default policy warns on some of them since issue 20).
		guard:  &guardServer{c: c, ctx: ctx, base: append([]string{"--policy=strict"}, strings.Fields(o.guardArgs)...)},
		nop:    &nopServer{bin: nopBin, certDir: c.WebhookCertDir(), port: c.WebhookPort(), ctx: ctx},
		target: load.Target{BaseURL: fmt.Sprintf("https://127.0.0.1:%d", c.WebhookPort()), CA: c.WebhookCA()},
	}
	defer func() { _ = b.nop.Stop() }()
	if err := b.use(b.guard); err != nil {
		return err
	}
	if _, _, err := c.Kubectl(ctx, reviews.Fixtures(), "apply", "-f", "-"); err != nil {
		return fmt.Errorf("applying the fixtures: %w", err)
	}
	b.fixtures = true
	if err := b.verify(); err != nil {
		return err
	}
	fmt.Printf("machine: %s; control plane up after %s (load %s)\n\n", machine(), time.Since(start).Round(time.Second), loadAvg())

	if o.has("load") {
		if err := b.loadPhase(); err != nil {
			return fmt.Errorf("load phase: %w", err)
		}
	}
	if o.has("minimal") {
		if err := b.minimalPhase(); err != nil {
			return fmt.Errorf("minimal phase: %w", err)
		}
	}
	if o.has("pinned") {
		if err := b.pinnedPhase(); err != nil {
			return fmt.Errorf("pinned phase: %w", err)
		}
	}
	// The scale phase before the apiserver phase: its baseline is the
	// fixtures alone, not the thousands of StatefulSets the other creates.
	// A failed scale phase is reported at the end: the apiserver phase
	// still runs.
	var scaleErr error
	if o.has("scale") {
		if scaleErr = b.scalePhase(); scaleErr != nil {
			fmt.Printf("scale phase FAILED: %v\n\n", scaleErr)
		}
	}
	if o.has("apiserver") {
		if err := b.apiserverPhase(); err != nil {
			return fmt.Errorf("apiserver phase: %w", err)
		}
	}
	fmt.Printf("benchwebhook done in %s (load %s)\n", time.Since(start).Round(time.Second), loadAvg())
	if scaleErr != nil {
		return fmt.Errorf("scale phase: %w", scaleErr)
	}
	return nil
}

// use makes s the server on the webhook port, stopping the other.
func (b *bench) use(s server) error {
	if b.active == s {
		return nil
	}
	if b.active != nil {
		if err := b.active.Stop(); err != nil {
			return fmt.Errorf("stopping %s: %w", b.active.Name(), err)
		}
	}
	if err := s.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", s.Name(), err)
	}
	b.active, b.ready = s, time.Now()
	if !b.fixtures {
		return nil
	}
	if err := b.verify(); err != nil {
		return err
	}
	b.ready = time.Now()
	// A server just started may still be busy (the guard's informers and
	// audit): the first measurement after a switch must not pay for it.
	return idle(s.PID())
}

// verify checks that the active server answers every review as recorded
// (the guard) or allows it (the do-nothing webhook). The guard's cache may
// lag the fixtures by a moment after they are applied.
func (b *bench) verify() error {
	var err error
	for try := 0; try < 50; try++ {
		if err = load.Verify(b.ctx, b.target, b.all, b.active == server(b.guard)); err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s does not answer the recorded reviews as expected: %w", b.active.Name(), err)
}

// machine describes the CPU and core count.
func machine() string {
	model := "unknown CPU"
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	return fmt.Sprintf("%s, %d cores, %s", model, runtime.NumCPU(), runtime.Version())
}
