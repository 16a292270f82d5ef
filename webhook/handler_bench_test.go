package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/headless-guard/headless-guard/test/load"
	"github.com/headless-guard/headless-guard/test/load/reviews"

	"github.com/headless-guard/headless-guard/internal/admissionhttp"
	"github.com/headless-guard/headless-guard/internal/lookup"
	"github.com/headless-guard/headless-guard/rules"
)

// The handler micro-benchmarks run the production handler chain of Setup
// (the server's mux, admissionhttp.Handler with its body budget,
// the trust checks, Validator/Mutator) in process, without TLS or sockets,
// over a real
// controller-runtime informer cache (field indexes, lookup.StripForCache) fed from
// memory instead of an API server. Each benchmark replays one AdmissionReview
// recorded from kube-apiserver (test/load/reviews). Any read that misses the
// cache and goes to the API reader is counted (live-reads/op must be 0).
//
//	go test -run '^$' -bench . -benchmem ./webhook/

// The do-nothing webhook of the load benchmarks logs nothing; the handlers
// here neither.
func init() { ctrllog.SetLogger(logr.Discard()) }

// BenchmarkHandler measures each webhook path with the fixtures in the cache
// and with 10,000 Services and 2,000 StatefulSets more in the same
// namespace: the lookups are indexed, so both must cost the same.
func BenchmarkHandler(b *testing.B) {
	rs, err := reviews.All()
	if err != nil {
		b.Fatal(err)
	}
	for _, size := range []struct {
		name                   string
		services, statefulSets int
	}{{"fixtures", 0, 0}, {"10k-services", 10000, 2000}} {
		var env *benchEnv
		for _, r := range rs {
			b.Run(fmt.Sprintf("cache=%s/%s", size.name, r.Name), func(sub *testing.B) {
				if env == nil {
					// Built once per size, on first use; stopped with the parent.
					var err error
					if env, err = newBenchEnv(b, func() []client.Object {
						return load.ScaleObjects(reviews.Namespace, size.services, size.statefulSets)
					}); err != nil {
						sub.Fatal(err)
					}
				}
				b := sub
				env.verify(b, r)
				env.live.Store(0)
				b.ReportAllocs()
				b.SetBytes(int64(len(r.Body)))
				b.ResetTimer()
				for b.Loop() {
					env.serve(env.guard, r)
				}
				b.ReportMetric(float64(env.live.Load())/float64(b.N), "live-reads/op")
			})
		}
	}
}

// BenchmarkNopHandler is the baseline: the same controller-runtime webhook
// mux and admission.Webhook (review decoding and response encoding) with a
// handler that allows everything, as the do-nothing webhook of the load
// benchmarks does.
func BenchmarkNopHandler(b *testing.B) {
	rs, err := reviews.All()
	if err != nil {
		b.Fatal(err)
	}
	nop := ctrlwebhook.NewServer(ctrlwebhook.Options{})
	allow := admission.HandlerFunc(func(context.Context, admission.Request) admission.Response { return admission.Allowed("") })
	for _, p := range load.Paths {
		nop.Register(p, &admission.Webhook{Handler: allow})
	}
	env := &benchEnv{}
	for _, r := range rs {
		b.Run(r.Name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(r.Body)))
			for b.Loop() {
				env.serve(nop.WebhookMux(), r)
			}
		})
	}
}

// benchEnv is the guard's handler chain over an in-memory informer cache.
type benchEnv struct {
	guard http.Handler
	cfg   *Config
	live  atomic.Int64
	w     discardWriter
}

// newBenchEnv builds the guard's handlers over a cache holding the fixtures
// and the objects extra returns (called for each informer's list, so that
// nothing but the cache keeps them); the cache stops when owner ends.
func newBenchEnv(owner testing.TB, extra func() []client.Object) (*benchEnv, error) {
	if _, err := fixtureObjects(); err != nil {
		return nil, err
	}
	objs := func() []client.Object {
		fixtures, _ := fixtureObjects()
		return append(fixtures, extra()...)
	}
	env := &benchEnv{}
	ctx, cancel := context.WithCancel(context.Background())
	owner.Cleanup(cancel)
	mapper := meta.NewDefaultRESTMapper(nil)
	for _, gvk := range []schema.GroupVersionKind{
		appsv1.SchemeGroupVersion.WithKind("StatefulSet"), appsv1.SchemeGroupVersion.WithKind("Deployment"),
		appsv1.SchemeGroupVersion.WithKind("ReplicaSet"), appsv1.SchemeGroupVersion.WithKind("DaemonSet"),
		batchv1.SchemeGroupVersion.WithKind("Job"), batchv1.SchemeGroupVersion.WithKind("CronJob"),
		corev1.SchemeGroupVersion.WithKind("Pod"), corev1.SchemeGroupVersion.WithKind("Service"),
	} {
		mapper.Add(gvk, meta.RESTScopeNamespace)
	}
	mapper.Add(corev1.SchemeGroupVersion.WithKind("Namespace"), meta.RESTScopeRoot)

	// No API server: a reader that fails is where live reads would go.
	cfg := &rest.Config{Host: "https://127.0.0.1:1"}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme.Scheme,
		MapperProvider:         func(*rest.Config, *http.Client) (meta.RESTMapper, error) { return mapper, nil },
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		// The server production runs (never started here: its mux is used).
		WebhookServer: admissionhttp.NewServer(admissionhttp.ServerOptions{}),
		Cache: cache.Options{
			DefaultTransform: lookup.StripForCache,
			NewInformer: func(_ toolscache.ListerWatcher, obj runtime.Object, resync time.Duration, idx toolscache.Indexers) toolscache.SharedIndexInformer {
				return toolscache.NewSharedIndexInformer(&lookup.MemoryListWatch{Objects: objs, Example: obj, Copy: viaJSON(obj)}, obj, resync, lookup.Indexers(obj, idx))
			},
		},
	})
	if err != nil {
		return nil, err
	}
	// The strict policy: the recorded reviews' decisions are its (since
	// the default policy admits what nothing proves wrong, the recorded
	// denial of a StatefulSet on a client Service is a warning there), as
	// hack/benchwebhook starts the guard with --policy=strict.
	whCfg := &Config{Metrics: NewMetrics(), Policy: rules.Policy{Level: rules.LevelStrict}}
	if err := Setup(ctx, mgr, whCfg); err != nil {
		return nil, err
	}
	// Reads that miss the cache are counted on their way to the API server.
	lk, namespaces := cacheLookupOf(whCfg), whCfg.Namespaces.(*lookup.Namespaces)
	lk.Live = &countingReader{n: &env.live, Reader: lk.Live}
	namespaces.Live = &countingReader{n: &env.live, Reader: namespaces.Live}
	go func() { _ = mgr.GetCache().Start(ctx) }()
	syncCtx, done := context.WithTimeout(ctx, 30*time.Second)
	defer done()
	if !mgr.GetCache().WaitForCacheSync(syncCtx) {
		return nil, fmt.Errorf("the cache did not sync")
	}
	env.guard = mgr.GetWebhookServer().WebhookMux()
	env.cfg = whCfg
	return env, nil
}

// serve runs one review through h as the HTTP server would.
func (e *benchEnv) serve(h http.Handler, r reviews.Review) {
	req := &http.Request{
		Method: http.MethodPost, URL: &url.URL{Path: r.Path}, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Type": {"application/json"}},
		Body:          io.NopCloser(bytes.NewReader(r.Body)),
		ContentLength: int64(len(r.Body)), Host: "127.0.0.1", RequestURI: r.Path,
	}
	e.w.reset()
	h.ServeHTTP(&e.w, req)
}

// verify checks that the guard answers r as recorded, so that a benchmark
// never measures an error path by mistake.
func (e *benchEnv) verify(b *testing.B, r reviews.Review) {
	b.Helper()
	e.w.keep = true
	defer func() { e.w.keep = false }()
	e.serve(e.guard, r)
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(e.w.body.Bytes(), &out); err != nil || out.Response == nil {
		b.Fatalf("%s: status %d, no review in the response (%v): %s", r.Name, e.w.status, err, e.w.body.Bytes())
	}
	if got := out.Response; got.Allowed != r.Allowed || (len(got.Warnings) > 0) != r.Warned {
		b.Fatalf("%s: allowed=%v warnings=%q, want allowed=%v warned=%v", r.Name, got.Allowed, got.Warnings, r.Allowed, r.Warned)
	}
}

// fixtureObjects decodes the objects the recorded reviews refer to.
func fixtureObjects() ([]client.Object, error) {
	var out []client.Object
	dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(reviews.Fixtures()), 4096)
	for {
		var raw runtime.RawExtension
		if err := dec.Decode(&raw); err == io.EOF {
			return out, nil
		} else if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(raw.Raw)) == 0 {
			continue
		}
		obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(raw.Raw, nil, nil)
		if err != nil {
			return nil, err
		}
		out = append(out, obj.(client.Object))
	}
}

// viaJSON copies o as an API server's list is decoded: every string an
// allocation of its own, not a constant shared by all objects, so that the
// cache's memory is what production holds.
func viaJSON(example runtime.Object) func(client.Object) (runtime.Object, error) {
	return func(o client.Object) (runtime.Object, error) {
		data, err := json.Marshal(o)
		if err != nil {
			return nil, err
		}
		obj := example.DeepCopyObject()
		return obj, json.Unmarshal(data, obj)
	}
}

// countingReader counts the reads that missed the cache.
type countingReader struct {
	client.Reader
	n *atomic.Int64
}

func (c *countingReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	c.n.Add(1)
	return c.Reader.Get(ctx, key, obj, opts...)
}

func (c *countingReader) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	c.n.Add(1)
	return c.Reader.List(ctx, list, opts...)
}

// discardWriter is a reusable http.ResponseWriter; it keeps the body only
// when asked to.
type discardWriter struct {
	header http.Header
	status int
	keep   bool
	body   bytes.Buffer
}

func (w *discardWriter) reset() {
	if w.header == nil {
		w.header = http.Header{}
	}
	clear(w.header)
	w.status = 0
	w.body.Reset()
}

func (w *discardWriter) Header() http.Header { return w.header }

func (w *discardWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *discardWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if w.keep {
		w.body.Write(p)
	}
	return len(p), nil
}
