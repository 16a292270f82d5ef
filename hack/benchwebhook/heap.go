package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"time"

	"k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/headless-guard/headless-guard/internal/lookup"
	"github.com/headless-guard/headless-guard/webhook"
)

// cacheHeap builds, in this process, the guard's cache as `serve` does
// (StripForCache, webhook.Setup's informers and indexes) against the
// cluster, waits for it to sync, and measures the live heap it holds. With
// path it also writes a heap profile. The guard binary offers no pprof
// endpoint; this is its cache without the rest of the process.
func (b *bench) cacheHeap(path string) (int64, error) {
	live := func() int64 {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return int64(ms.HeapAlloc)
	}
	before := live()
	ctx, cancel := context.WithCancel(b.ctx)
	defer cancel()
	mgr, err := ctrl.NewManager(b.c.Config(), ctrl.Options{
		Scheme:                 scheme.Scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  cache.Options{DefaultTransform: lookup.StripForCache, NewInformer: lookup.NewInformer},
	})
	if err != nil {
		return 0, err
	}
	if err := webhook.Setup(ctx, mgr, &webhook.Config{Metrics: webhook.NewMetrics()}); err != nil {
		return 0, err
	}
	go func() { _ = mgr.GetCache().Start(ctx) }()
	syncCtx, done := context.WithTimeout(ctx, 2*time.Minute)
	defer done()
	if !mgr.GetCache().WaitForCacheSync(syncCtx) {
		return 0, fmt.Errorf("the in-process cache did not sync")
	}
	// Let the informers deliver what they listed.
	time.Sleep(2 * time.Second)
	after := live()
	if path != "" {
		f, err := os.Create(path)
		if err != nil {
			return 0, err
		}
		defer f.Close()
		if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
			return 0, err
		}
	}
	runtime.KeepAlive(mgr)
	return after - before, nil
}
