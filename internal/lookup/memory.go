package lookup

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	ctrlcache "sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	"github.com/headless-guard/headless-guard/rules"
)

// InMemory returns the lookups production runs (CacheLookup and Namespaces
// over a controller-runtime informer cache with the guard's indexes and
// transform) fed from objs instead of an API server, started and synced.
// It is what tests and offline tools use, so that they exercise the one
// implementation; it stops with ctx. Live reads find the ConfigMaps of objs
// (production reads ConfigMaps live, never from the cache) and nothing else.
func InMemory(ctx context.Context, objs ...client.Object) (*CacheLookup, *Namespaces, error) {
	mapper := meta.NewDefaultRESTMapper(nil)
	for _, k := range rules.Kinds {
		mapper.Add(k.GVK, meta.RESTScopeNamespace)
	}
	mapper.Add(corev1.SchemeGroupVersion.WithKind("Namespace"), meta.RESTScopeRoot)
	c, err := ctrlcache.New(&rest.Config{Host: "https://127.0.0.1:1"}, ctrlcache.Options{
		Scheme:           scheme.Scheme,
		Mapper:           mapper,
		DefaultTransform: StripForCache,
		NewInformer: func(_ toolscache.ListerWatcher, obj runtime.Object, resync time.Duration, idx toolscache.Indexers) toolscache.SharedIndexInformer {
			return toolscache.NewSharedIndexInformer(&MemoryListWatch{Objects: func() []client.Object { return objs }, Example: obj}, obj, resync, Indexers(obj, idx))
		},
	})
	if err != nil {
		return nil, nil, err
	}
	indexes, err := SetupIndexes(ctx, c)
	if err != nil {
		return nil, nil, err
	}
	if _, err := c.GetInformer(ctx, &corev1.Namespace{}); err != nil {
		return nil, nil, err
	}
	go func() { _ = c.Start(ctx) }()
	syncCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if !c.WaitForCacheSync(syncCtx) {
		return nil, nil, errors.New("the in-memory cache did not sync")
	}
	return &CacheLookup{Cache: c, Live: configMapReader(objs), Indexes: indexes}, &Namespaces{Cache: c}, nil
}

// configMapReader is a client.Reader that finds the ConfigMaps of objs
// and nothing else, as InMemory's API server.
type configMapReader []client.Object

func (r configMapReader) Get(_ context.Context, key client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	if cm, ok := obj.(*corev1.ConfigMap); ok {
		for _, o := range r {
			if found, isCM := o.(*corev1.ConfigMap); isCM && found.Namespace == key.Namespace && found.Name == key.Name {
				found.DeepCopyInto(cm)
				return nil
			}
		}
	}
	gvk, _ := apiutil.GVKForObject(obj, scheme.Scheme)
	return apierrors.NewNotFound(schema.GroupResource{Group: gvk.Group, Resource: strings.ToLower(gvk.Kind) + "s"}, key.Name)
}

func (r configMapReader) List(context.Context, client.ObjectList, ...client.ListOption) error {
	return errors.New("the in-memory API server lists nothing")
}

// MemoryListWatch lists copies of the objects of one type from memory and
// never changes them: the ListerWatcher of InMemory's informers, and of
// the benchmarks' informer caches.
type MemoryListWatch struct {
	// Objects returns the objects of every type; List takes those of
	// Example's.
	Objects func() []client.Object
	Example runtime.Object
	// Copy makes the listed copy of o, into a new object of Example's
	// type; DeepCopyObject when nil. A benchmark that measures the cache's
	// memory copies through JSON, as an API server's list is decoded.
	Copy func(o client.Object) (runtime.Object, error)
}

// List implements toolscache.Lister.
func (m *MemoryListWatch) List(metav1.ListOptions) (runtime.Object, error) {
	gvks, _, err := scheme.Scheme.ObjectKinds(m.Example)
	if err != nil {
		return nil, err
	}
	list, err := scheme.Scheme.New(gvks[0].GroupVersion().WithKind(gvks[0].Kind + "List"))
	if err != nil {
		return nil, err
	}
	var items []runtime.Object
	for _, o := range m.Objects() {
		if fmt.Sprintf("%T", o) != fmt.Sprintf("%T", m.Example) {
			continue
		}
		item := o.DeepCopyObject()
		if m.Copy != nil {
			if item, err = m.Copy(o); err != nil {
				return nil, err
			}
		}
		items = append(items, item)
	}
	if err := meta.SetList(list, items); err != nil {
		return nil, err
	}
	list.(metav1.ListInterface).SetResourceVersion("1")
	return list, nil
}

// Watch implements toolscache.Watcher: nothing ever changes.
func (m *MemoryListWatch) Watch(metav1.ListOptions) (watch.Interface, error) {
	return watch.NewFake(), nil
}

// IsWatchListSemanticsUnSupported makes the reflector list, then watch.
func (m *MemoryListWatch) IsWatchListSemanticsUnSupported() bool { return true }
