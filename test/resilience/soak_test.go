//go:build soak

package resilience

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/headless-guard/headless-guard/test/cluster"
	"github.com/headless-guard/headless-guard/test/framework"
	"github.com/headless-guard/headless-guard/test/load"
	"github.com/headless-guard/headless-guard/test/load/reviews"
)

// TestSoak is `make soak`: SOAK_DURATION (default 10m) of mixed load on one
// guard with its audit on. Recorded reviews go straight to the webhook at
// SOAK_RATE per second (default 200), their verdicts checked every 30s;
// two writers create, update and delete Services and StatefulSets through
// the API server (a third of the StatefulSets denied on purpose); a third
// writer sends server-side dry runs. No request may fail, no verdict may
// be wrong, and memory must be flat: the highest RSS of the last quarter
// within 15% (+4 MiB) of the highest of the second quarter.
func TestSoak(t *testing.T) {
	duration := 10 * time.Minute
	if v := os.Getenv("SOAK_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("SOAK_DURATION: %v", err)
		}
		duration = d
	}
	rate := 200.0
	if v := os.Getenv("SOAK_RATE"); v != "" {
		r, err := strconv.ParseFloat(v, 64)
		if err != nil {
			t.Fatalf("SOAK_RATE: %v", err)
		}
		rate = r
	}
	ctx := context.Background()
	c := cluster.Setup(t, cluster.Options{})
	g, err := c.StartGuard(ctx, "--audit=true", "--inject") // every path: validate, mutate, inject, audit
	if err != nil {
		t.Fatal(err)
	}
	cl := c.Client()
	for _, ns := range []string{reviews.Namespace, "soak"} {
		if err := cl.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, stderr, err := c.Kubectl(ctx, reviews.Fixtures(), "apply", "-f", "-"); err != nil {
		t.Fatalf("applying the review fixtures: %v\n%s", err, stderr)
	}
	rs, err := reviews.All()
	if err != nil {
		t.Fatal(err)
	}
	target := load.Target{BaseURL: fmt.Sprintf("https://127.0.0.1:%d", c.WebhookPort()), CA: c.WebhookCA()}
	framework.Eventually(t, 30*time.Second, "the recorded reviews get their recorded verdicts", func() (bool, string) {
		err := load.Verify(ctx, target, rs, true)
		return err == nil, fmt.Sprint(err)
	})

	start := time.Now()
	end := start.Add(duration)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		if len(failures) < 20 {
			failures = append(failures, fmt.Sprintf("%s: ", time.Since(start).Round(time.Second))+fmt.Sprintf(format, args...))
		}
	}

	// Direct reviews, open loop.
	var direct load.Result
	wg.Add(1)
	go func() {
		defer wg.Done()
		var err error
		direct, err = load.Run(ctx, target, load.Options{Reviews: rs, Concurrency: 8, Rate: rate, Duration: duration})
		if err != nil {
			fail("direct load: %v", err)
		}
	}()
	// Verdicts, every 30s.
	var verified atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		for time.Now().Before(end) {
			time.Sleep(30 * time.Second)
			if err := load.Verify(ctx, target, rs, true); err != nil {
				fail("verdicts: %v", err)
			}
			verified.Add(1)
		}
	}()
	// Writers through the API server.
	var writes, denied atomic.Int64
	var writeLat sync.Map // writer -> []time.Duration
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lat []time.Duration
			defer func() { writeLat.Store(w, lat) }()
			do := func(what string, f func() error, wantDenied bool) {
				t0 := time.Now()
				err := f()
				lat = append(lat, time.Since(t0))
				switch {
				case wantDenied && apierrors.IsInvalid(err):
					denied.Add(1)
				case err == nil && !wantDenied:
					writes.Add(1)
				default:
					fail("writer %d: %s: %v", w, what, err)
				}
			}
			for i := 0; time.Now().Before(end); i++ {
				name := fmt.Sprintf("w%d-%d", w, i)
				svc := soakService(name)
				sts := soakStatefulSet(name, name)
				if w == 2 { // dry runs only
					do("dry-run StatefulSet", func() error { return cl.Create(ctx, sts, client.DryRunAll) }, false)
					do("dry-run Service", func() error { return cl.Create(ctx, svc, client.DryRunAll) }, false)
					continue
				}
				do("create Service", func() error { return cl.Create(ctx, svc) }, false)
				do("create StatefulSet", func() error { return cl.Create(ctx, sts) }, false)
				do("label StatefulSet", func() error {
					return cl.Patch(ctx, sts, client.RawPatch("application/merge-patch+json", []byte(`{"metadata":{"labels":{"soak":"`+strconv.Itoa(i)+`"}}}`)))
				}, false)
				if i%3 == 0 { // denied: its template does not carry the Service's selector
					bad := soakStatefulSet(name+"-bad", name)
					bad.Spec.Template.Labels = map[string]string{"app": "other"}
					bad.Spec.Selector.MatchLabels = bad.Spec.Template.Labels
					do("create mismatched StatefulSet", func() error { return cl.Create(ctx, bad) }, true)
				}
				do("delete StatefulSet", func() error { return cl.Delete(ctx, sts) }, false)
				do("delete Service", func() error { return cl.Delete(ctx, svc) }, false)
			}
		}()
	}
	// Memory, every 10s, from the guard's own metrics.
	type sample struct {
		at        time.Duration
		rss, heap float64
	}
	var samples []sample
	wg.Add(1)
	go func() {
		defer wg.Done()
		for time.Now().Before(end) {
			m, err := scrape(g.MetricsURL())
			if err != nil {
				fail("metrics: %v", err)
			} else {
				samples = append(samples, sample{time.Since(start), m["process_resident_memory_bytes"], m["go_memstats_heap_inuse_bytes"]})
			}
			time.Sleep(10 * time.Second)
		}
	}()
	wg.Wait()

	var lat []time.Duration
	writeLat.Range(func(_, v any) bool { lat = append(lat, v.([]time.Duration)...); return true })
	slices.Sort(lat)
	wp50, wp99, _ := load.Quantiles(lat)
	t.Logf("soak: %v on %d cores, load average %s", duration, runtime.NumCPU(), loadavg())
	t.Logf("direct reviews: %d answered at %.0f/s, %d errors, p50 %v p99 %v p99.9 %v max %v; verdicts checked %d times",
		direct.Requests, direct.Throughput, direct.Errors, direct.P50, direct.P99, direct.P999, direct.Max, verified.Load())
	t.Logf("API server writes: %d admitted, %d denied as expected; p50 %v p99 %v", writes.Load(), denied.Load(), wp50, wp99)
	var q2, q4 float64
	for _, s := range samples {
		t.Logf("  %6s  RSS %6.1f MiB  heap in use %6.1f MiB", s.at.Round(time.Second), s.rss/(1<<20), s.heap/(1<<20))
		switch {
		case s.at >= duration/4 && s.at < duration/2:
			q2 = max(q2, s.rss)
		case s.at >= duration*3/4:
			q4 = max(q4, s.rss)
		}
	}
	t.Logf("highest RSS: second quarter %.1f MiB, last quarter %.1f MiB", q2/(1<<20), q4/(1<<20))
	if direct.Errors != 0 {
		fail("%d direct reviews failed; first: %v", direct.Errors, direct.FirstError)
	}
	if q2 == 0 || q4 == 0 {
		fail("too few memory samples")
	} else if q4 > q2*1.15+4<<20 {
		fail("memory grew: highest RSS %.1f MiB in the second quarter, %.1f MiB in the last", q2/(1<<20), q4/(1<<20))
	}
	for _, f := range failures {
		t.Error(f)
	}
}

func soakService(name string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "soak"},
		Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Selector: map[string]string{"app": name},
			Ports: []corev1.ServicePort{{Name: "web", Port: 80}}},
	}
}

func soakStatefulSet(name, serviceName string) *appsv1.StatefulSet {
	labels := map[string]string{"app": serviceName}
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "soak"},
		Spec: appsv1.StatefulSetSpec{
			ServiceName: serviceName,
			Selector:    &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx:alpine",
					Ports: []corev1.ContainerPort{{Name: "web", ContainerPort: 80}}}}},
			},
		},
	}
}

// scrape reads the unlabelled gauges of a Prometheus text endpoint.
func scrape(url string) (map[string]float64, error) {
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok || strings.HasPrefix(name, "#") || strings.Contains(name, "{") {
			continue
		}
		if v, err := strconv.ParseFloat(value, 64); err == nil {
			out[name] = v
		}
	}
	return out, sc.Err()
}

func loadavg() string {
	data, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
