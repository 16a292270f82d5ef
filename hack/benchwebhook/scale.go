package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/headless-guard/headless-guard/test/load"
	"github.com/headless-guard/headless-guard/test/load/reviews"
)

// scaleRow is what the scale phase measures at one cache size.
type scaleRow struct {
	what                    string
	services, statefulSets  int
	rss, anon, file         int64
	heap, heapAlloc, nextGC int64
	rssAfterLoad, hwm       int64
	p50, p99, p999          time.Duration
	// p99Min and p99Max are the range of the latency runs' p99; p50,
	// p99 and p999 are the medians of the runs' quantiles.
	p99Min, p99Max time.Duration
	// ready is the time from the start of the process to ready (its
	// informers synced, the API server reaching its webhook, every
	// recorded review answered as recorded), on a restart; idle is the
	// time until it is also idle, the audit's first pass over every object
	// done.
	ready, idle               time.Duration
	throughput, cpuPerRequest float64
	load                      string
}

// scalePhase fills the namespace of the recorded reviews with Services and
// StatefulSets through the API server, and at each size measures the
// guard's RSS and Go heap, and latency (one request at a time) and
// throughput (concurrency 16) on the recorded reviews, whose lookups now
// run against the big namespace. At the largest size the guard is
// restarted, to see the memory of a cache filled by one LIST instead of
// thousands of watch events.
func (b *bench) scalePhase() error {
	if err := b.use(b.guard); err != nil {
		return err
	}
	var rows []scaleRow
	measure := func(what string, services int) error {
		if err := b.settle(); err != nil {
			return err
		}
		row := scaleRow{what: what, services: services, statefulSets: services / 5}
		st, err := readProc(b.guard.PID())
		if err != nil {
			return err
		}
		row.rss, row.anon, row.file = st.rss, st.anon, st.file
		for _, m := range []struct {
			name string
			v    *int64
		}{{"go_memstats_heap_inuse_bytes", &row.heap}, {"go_memstats_heap_alloc_bytes", &row.heapAlloc}, {"go_memstats_next_gc_bytes", &row.nextGC}} {
			if *m.v, err = b.guardMetric(m.name); err != nil {
				return err
			}
		}
		// Several latency runs: one run's p99 moves with the collections
		// that fall into it and with the shared machine; their median is
		// what the rows compare.
		var p50s, p99s, p999s []time.Duration
		for range max(1, b.o.scaleRepeats) {
			var lat cell
			if err := b.measure(&lat, load.Options{Reviews: b.rs, Concurrency: 1, Warmup: b.o.warmup, Duration: b.o.scaleLoad}); err != nil {
				return err
			}
			if lat.errors > 0 {
				return fmt.Errorf("%d errors under load at %d Services: %v", lat.errors, services, lat.firstErr)
			}
			p50, p99, p999 := lat.quantiles()
			p50s, p99s, p999s = append(p50s, p50), append(p99s, p99), append(p999s, p999)
		}
		var thr cell
		if err := b.measure(&thr, load.Options{Reviews: b.rs, Concurrency: 16, Warmup: b.o.warmup, Duration: b.o.scaleLoad}); err != nil {
			return err
		}
		row.p50, row.p99, row.p999 = median(p50s), median(p99s), median(p999s)
		row.p99Min, row.p99Max = slices.Min(p99s), slices.Max(p99s)
		row.throughput = thr.throughput()
		row.cpuPerRequest = float64(thr.cpuPerRequest()) / float64(time.Microsecond)
		if thr.errors > 0 {
			return fmt.Errorf("%d errors under load at %d Services: %v", thr.errors, services, thr.firstErr)
		}
		st, err = readProc(b.guard.PID())
		if err != nil {
			return err
		}
		row.rssAfterLoad, row.hwm = st.rss, st.hwm
		row.load = loadAvg()
		if err := b.guardHeapProfile(what, services); err != nil {
			return err
		}
		rows = append(rows, row)
		return nil
	}
	if err := measure("fixtures only", 0); err != nil {
		return err
	}
	have := 0
	populate := time.Duration(0)
	// Spread over namespaces, the objects of every scaleNS-th index stay
	// in the reviews' namespace, so that their lookups still meet some.
	namespace := func(i int) string {
		if b.o.scaleNS <= 1 || i%b.o.scaleNS == 0 {
			return reviews.Namespace
		}
		return fmt.Sprintf("scale-%04d", i%b.o.scaleNS)
	}
	if b.o.scaleNS > 1 {
		var nss []client.Object
		for i := 1; i < b.o.scaleNS; i++ {
			nss = append(nss, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace(i)}})
		}
		if err := createAll(b.ctx, b.c.Client(), nss, b.o.createWorkers); err != nil {
			return err
		}
	}
	workers := max(1, b.o.createWorkers)
	for _, n := range b.o.scale {
		start := time.Now()
		var objs []client.Object
		for i := have; i < n; i++ {
			objs = append(objs, load.ScaleService(namespace(i), i))
		}
		if err := createAll(b.ctx, b.c.Client(), objs, workers); err != nil {
			return err
		}
		objs = nil
		for i := have / 5; i < n/5; i++ {
			objs = append(objs, load.ScaleStatefulSet(namespace(i), i))
		}
		if err := createAll(b.ctx, b.c.Client(), objs, workers); err != nil {
			return err
		}
		took := time.Since(start)
		populate += took
		fmt.Printf("scale: %d Services and %d StatefulSets more created in %s (%.0f objects/s, %d workers, load %s)\n",
			n-have, n/5-have/5, took.Round(time.Second), float64(n-have+n/5-have/5)/took.Seconds(), workers, loadAvg())
		have = n
		if err := measure("after creating them", n); err != nil {
			return err
		}
	}
	// The cache alone, built in this process as the guard builds it.
	cacheBytes, err := b.cacheHeap(b.o.heapProfile)
	if err != nil {
		return err
	}
	// A fresh process: the cache filled by one sync, not by thousands of
	// watch events. Then the same with a soft memory limit, and without
	// the audit, to tell what the memory is made of.
	// A restart that fails is reported with the rows measured before it.
	var restartErr error
	type restart struct {
		what      string
		env, args []string
	}
	restarts := []restart{
		{"guard restarted", nil, nil},
		{"GOMEMLIMIT=" + b.o.memLimit, []string{"GOMEMLIMIT=" + b.o.memLimit}, nil},
		{"--audit=false", nil, []string{"--audit=false"}},
	}
	for _, env := range strings.Split(b.o.restartEnv, ";") {
		if env != "" {
			restarts = append(restarts, restart{env, []string{env}, nil})
		}
	}
	for _, v := range restarts {
		if err := b.guard.Stop(); err != nil {
			return err
		}
		b.active, b.guard.env, b.guard.args = nil, v.env, v.args
		start := time.Now()
		if err := b.use(b.guard); err != nil {
			restartErr = fmt.Errorf("%s: %w", v.what, err)
			break
		}
		ready, idle := b.ready.Sub(start), time.Since(start)
		if err := measure(v.what, have); err != nil {
			restartErr = fmt.Errorf("%s: %w (guard log: %s)", v.what, err, tail(b.guard.g.Logs(), 3))
			break
		}
		rows[len(rows)-1].ready, rows[len(rows)-1].idle = ready, idle
	}
	b.guard.env, b.guard.args = nil, nil

	if b.o.scaleNS > 1 {
		fmt.Printf("== Scale: Services and StatefulSets (1 per 5 Services) spread over %d namespaces (1 in %d in %q, with the\n", b.o.scaleNS, b.o.scaleNS, reviews.Namespace)
		fmt.Printf("   recorded reviews' lookups); created through the API server (%d concurrent creates) in %s\n", b.o.createWorkers, populate.Round(time.Second))
	} else {
		fmt.Printf("== Scale: Services and StatefulSets (1 per 5 Services) in namespace %q, with the recorded\n", reviews.Namespace)
		fmt.Printf("   reviews' lookups against it; created through the API server (%d concurrent creates) in %s\n", b.o.createWorkers, populate.Round(time.Second))
	}
	fmt.Printf("%-20s %8s %6s %9s %9s %9s %9s %9s %9s %9s %9s  %s\n", "memory", "Services", "STS", "RSS", "anon", "file", "heap use", "heap obj", "next GC", "RSS load", "RSS peak", "load avg")
	for _, r := range rows {
		fmt.Printf("%-20s %8d %6d %9s %9s %9s %9s %9s %9s %9s %9s  %s\n", r.what, r.services, r.statefulSets, mib(r.rss), mib(r.anon), mib(r.file),
			mib(r.heap), mib(r.heapAlloc), mib(r.nextGC), mib(r.rssAfterLoad), mib(r.hwm), r.load)
	}
	fmt.Println("(RSS when idle; RSS load right after the load runs; RSS peak the process's high-water mark (VmHWM) since it started)")
	fmt.Printf("(latency: the median of %d runs of %s at concurrency 1, and the range of their p99)\n", max(1, b.o.scaleRepeats), b.o.scaleLoad)
	fmt.Printf("%-20s %8s %6s %9s %9s %15s %9s %9s %10s\n", "latency", "Services", "STS", "p50 c=1", "p99 c=1", "p99 runs", "p99.9", "req/s c=16", "CPU/req")
	for _, r := range rows {
		fmt.Printf("%-20s %8d %6d %9s %9s %15s %9s %9.0f %8.0fµs\n", r.what, r.services, r.statefulSets, ms(r.p50), ms(r.p99),
			fmt.Sprintf("%.2f-%.2f", float64(r.p99Min)/float64(time.Millisecond), float64(r.p99Max)/float64(time.Millisecond)), ms(r.p999), r.throughput, r.cpuPerRequest)
	}
	var small, big scaleRow
	for _, r := range rows {
		if r.services == b.o.scale[0] && small.what == "" {
			small = r
		}
		if r.services == have && big.what == "" {
			big = r
		}
	}
	objs := float64((big.services + big.statefulSets) - (small.services + small.statefulSets))
	fmt.Printf("growth %d -> %d Services: RSS %+.0f bytes/object, heap %+.0f bytes/object, p50 x%.2f, p99 x%.2f\n",
		small.services, big.services, float64(big.rss-small.rss)/objs, float64(big.heap-small.heap)/objs,
		float64(big.p50)/float64(small.p50), float64(big.p99)/float64(small.p99))
	fmt.Printf("the cache alone (in-process, after GC): %s live heap for %d objects, %.0f bytes/object\n",
		mib(cacheBytes), big.services+big.statefulSets, float64(cacheBytes)/float64(big.services+big.statefulSets))
	// The targets: 100 MiB at 10,000 Services, 200 MiB at 100,000.
	target := int64(100)
	if have > 10000 {
		target = 200
	}
	for _, r := range rows {
		if r.services == have {
			worst := max(r.rss, r.rssAfterLoad)
			fmt.Printf("target RSS <= %d MiB with %d Services and %d StatefulSets, %-20s %s (anon %s) %s\n",
				target, r.services, r.statefulSets, r.what+":", mib(worst), mib(r.anon), verdict(worst <= target<<20))
		}
	}
	for _, r := range rows {
		if r.services == have && have != small.services && small.p99 > 0 {
			ratio := float64(r.p99) / float64(small.p99)
			fmt.Printf("target lookups p99 at %d Services at most 20%% above %d, %-20s x%.2f %s\n",
				r.services, small.services, r.what+":", ratio, verdict(ratio <= 1.2))
		}
	}
	for _, r := range rows {
		if r.ready > 0 {
			fmt.Printf("target restart to ready <= 30s with %d Services and %d StatefulSets, %-20s %s %s (idle, the audit's first pass done, after %s)\n",
				r.services, r.statefulSets, r.what+":", r.ready.Round(100*time.Millisecond), verdict(r.ready <= 30*time.Second), r.idle.Round(100*time.Millisecond))
		}
	}
	fmt.Println()
	if restartErr != nil {
		b.active = nil
		return fmt.Errorf("restarting the guard at %d Services: %w", have, restartErr)
	}
	return nil
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// settle waits until the guard is idle (its informers and the audit have
// caught up with what was created): under 5% of a core over a second; and
// then, for at most quietWait, until the machine is quiet (quiet): after
// 100,000 creates etcd and the API server compact and collect for a minute
// or more, and latency measured meanwhile compares a busy machine with the
// quiet one of the rows before. It says so when the machine stays busy.
func (b *bench) settle() error {
	if err := idle(b.guard.PID()); err != nil {
		return err
	}
	start := time.Now()
	if !quiet(quietWait) {
		fmt.Printf("scale: the machine is still busy after %s (load %s); measuring anyway\n", quietWait, loadAvg())
	} else if waited := time.Since(start); waited > 3*time.Second {
		fmt.Printf("scale: waited %s for the machine to be quiet (load %s)\n", waited.Round(time.Second), loadAvg())
	}
	return nil
}

// quietWait is how long settle waits for a quiet machine.
const quietWait = 3 * time.Minute

// quiet waits until the machine's CPUs are busy under a sixth of the time
// over a second, twice in a row (/proc/stat), for at most wait; false when
// they are not.
func quiet(wait time.Duration) bool {
	deadline := time.Now().Add(wait)
	prevBusy, prevTotal, err := cpuTimes()
	if err != nil {
		return true
	}
	for calm := 0; calm < 2; {
		time.Sleep(time.Second)
		busy, total, err := cpuTimes()
		if err != nil {
			return true
		}
		if total > prevTotal && (busy-prevBusy)*6 < total-prevTotal {
			calm++
		} else {
			calm = 0
		}
		prevBusy, prevTotal = busy, total
		if calm < 2 && time.Now().After(deadline) {
			return false
		}
	}
	return true
}

// cpuTimes are the busy and total jiffies of all CPUs (/proc/stat).
func cpuTimes() (busy, total uint64, err error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	line, _, _ := strings.Cut(string(data), "\n")
	fields := strings.Fields(line)
	if len(fields) < 5 || fields[0] != "cpu" {
		return 0, 0, fmt.Errorf("/proc/stat: unexpected first line %q", line)
	}
	// user nice system idle iowait irq softirq steal; guest time is in
	// user's already.
	for i, f := range fields[1:min(len(fields), 9)] {
		v, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return 0, 0, err
		}
		total += v
		if i != 3 && i != 4 {
			busy += v
		}
	}
	return busy, total, nil
}

// idle waits until process pid uses under 5% of a core over a second,
// twice in a row.
func idle(pid int) error {
	deadline := time.Now().Add(2 * time.Minute)
	prev, err := readProc(pid)
	if err != nil {
		return err
	}
	for quiet := 0; quiet < 2; {
		time.Sleep(time.Second)
		cur, err := readProc(pid)
		if err != nil {
			return err
		}
		if cur.cpu-prev.cpu < 50*time.Millisecond {
			quiet++
		} else {
			quiet = 0
		}
		prev = cur
		if time.Now().After(deadline) {
			return fmt.Errorf("process %d is still busy after 2 minutes", pid)
		}
	}
	return nil
}

// guardMetric reads one gauge from the guard's metrics endpoint.
func (b *bench) guardMetric(name string) (int64, error) {
	resp, err := http.Get(b.guard.g.MetricsURL())
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			return int64(f), err
		}
	}
	return 0, fmt.Errorf("metric %s not found at %s", name, b.guard.g.MetricsURL())
}

func mib(b int64) string { return fmt.Sprintf("%.1fMiB", float64(b)/(1<<20)) }

// guardHeapProfile writes the guard's heap profile (its /debug/pprof,
// from --pprof-bind-address in -guard-args) into -guard-heap-profiles.
func (b *bench) guardHeapProfile(what string, services int) error {
	if b.o.heapProfiles == "" {
		return nil
	}
	var addr string
	for _, a := range strings.Fields(b.o.guardArgs) {
		if v, ok := strings.CutPrefix(a, "--pprof-bind-address="); ok {
			addr = v
		}
	}
	if addr == "" {
		return fmt.Errorf("-guard-heap-profiles needs -guard-args=--pprof-bind-address=ADDR")
	}
	resp, err := http.Get("http://" + addr + "/debug/pprof/heap")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := os.MkdirAll(b.o.heapProfiles, 0o755); err != nil {
		return err
	}
	name := fmt.Sprintf("%d-%s.pprof", services, strings.NewReplacer(" ", "-", "=", "-", "/", "-").Replace(what))
	f, err := os.Create(filepath.Join(b.o.heapProfiles, name))
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err = io.Copy(f, resp.Body); err != nil {
		return err
	}
	// The runtime's MemStats (the text profile's trailer) after a forced
	// collection (gc=1, once the row's RSS is read): HeapAlloc is the live
	// heap exactly, which the sampled profile only estimates, and the rest
	// what the RSS beyond it is made of.
	txt, err := http.Get("http://" + addr + "/debug/pprof/heap?debug=1&gc=1")
	if err != nil {
		return err
	}
	defer txt.Body.Close()
	body, err := io.ReadAll(txt.Body)
	if err != nil {
		return err
	}
	if i := strings.Index(string(body), "# runtime.MemStats"); i >= 0 {
		body = body[i:]
	}
	return os.WriteFile(filepath.Join(b.o.heapProfiles, strings.TrimSuffix(name, ".pprof")+".memstats"), body, 0o644)
}

// median is the median of ds (the lower of the two middle ones).
func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[(len(s)-1)/2]
}
