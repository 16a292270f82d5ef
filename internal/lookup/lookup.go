package lookup

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	toolscache "k8s.io/client-go/tools/cache"
	ctrlcache "sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/headless-guard/headless-guard/rules"
)

// Indexes on the informers, so that no lookup scans a namespace:
// StatefulSets by serviceName, Services by selector pair, pod templates by
// label pair and by subdomain (for the audit). A value is not indexed
// under itself but under its bucket, one of indexBuckets for all
// namespaces, hashed from the namespace and the value (IndexKey): a
// client-go index costs a set per distinct key (about 270 bytes, most
// values being one object's own), and shared buckets cost a set entry per
// object. A bucket holds other values' and other namespaces' objects too,
// so every lookup checks each candidate's namespace and value.
const (
	IndexServiceName    = "headless-guard.io/serviceName"
	IndexSelector       = "headless-guard.io/selector"
	IndexTemplateLabels = "headless-guard.io/templateLabels"
	IndexSubdomain      = "headless-guard.io/subdomain"
)

// indexBuckets is the number of buckets of each index. A lookup reads one
// bucket, about n/indexBuckets objects besides those it looks for, for n
// indexed values in the whole cluster: 10 at 10,000 Services, 100 at
// 100,000, whether in one namespace or spread over 1,000 (a candidate
// costs two string comparisons). Buckets per namespace (1,024 each) kept a
// set per value where namespaces are small: 100,000 Services over 1,000
// namespaces cost 1,281 bytes each against 918 in one. 4,096 buckets cost
// 1,063 bytes per object at 10,000 and 16,384 cost 1,199, against 950
// here (BenchmarkCacheMemory mixed): a set per bucket costs about 270
// bytes, an object in a shared one about 40.
const indexBuckets = 1 << 10

// IndexKey is the key of value in namespace in the informers' indexes:
// its bucket's.
func IndexKey(namespace, value string) string {
	return strconv.Itoa(bucket(namespace, "/", value))
}

// pairKey is IndexKey(namespace, key+"="+value), without building the pair.
func pairKey(namespace, key, value string) string {
	return strconv.Itoa(bucket(namespace, "/", key, "=", value))
}

// bucket hashes the concatenation of parts (FNV-1a) into [0, indexBuckets).
func bucket(parts ...string) int {
	h := uint32(2166136261)
	for _, s := range parts {
		for i := 0; i < len(s); i++ {
			h ^= uint32(s[i])
			h *= 16777619
		}
	}
	return int(h % indexBuckets)
}

// WorkloadObjects are the pod-template owner types (rules.Kinds), for
// indexes and informers.
var WorkloadObjects = func() []client.Object {
	var out []client.Object
	for _, k := range rules.Kinds {
		if k.MetaPath != nil {
			out = append(out, k.New().(client.Object))
		}
	}
	return out
}()

// Indexes are the stores of the informers the rules read, with the
// guard's indexes. Lookups read them directly: the cached objects are
// shared (rules.Lookup promises not to modify them), so a lookup neither
// copies objects nor builds lists and field selectors, as a List through
// the cache reader does.
//
// The indexes are client-go indexers rather than controller-runtime field
// indexes, which key every value twice (per namespace and for all
// namespaces) and so cost twice the memory.
type Indexes struct {
	services     toolscache.Indexer
	statefulSets toolscache.Indexer
	// workloads are in WorkloadObjects order.
	workloads []toolscache.Indexer
}

// SetupIndexes adds the indexes to the informers of the types the rules
// read, creating the informers (so the cache watches them all). It must be
// called before the informers start.
func SetupIndexes(ctx context.Context, informers ctrlcache.Informers) (*Indexes, error) {
	add := func(obj client.Object, name string, values func(client.Object) []string) (toolscache.Indexer, error) {
		inf, err := informers.GetInformer(ctx, obj)
		if err != nil {
			return nil, err
		}
		err = inf.AddIndexers(toolscache.Indexers{name: func(o any) ([]string, error) {
			obj, ok := o.(client.Object)
			if !ok {
				return nil, nil
			}
			vals := values(obj)
			keys := vals[:0]
			for _, v := range vals {
				// Two values of one object may share a bucket.
				if k := IndexKey(obj.GetNamespace(), v); !slices.Contains(keys, k) {
					keys = append(keys, k)
				}
			}
			return keys, nil
		}})
		if err != nil {
			return nil, fmt.Errorf("adding index %s to the %T informer: %w", name, obj, err)
		}
		store, ok := inf.(interface{ GetIndexer() toolscache.Indexer })
		if !ok {
			return nil, fmt.Errorf("the %T informer (%T) has no store to read", obj, inf)
		}
		return store.GetIndexer(), nil
	}
	var x Indexes
	var err error
	if x.statefulSets, err = add(&appsv1.StatefulSet{}, IndexServiceName, func(o client.Object) []string {
		switch o := o.(type) {
		case *CachedStatefulSet:
			return []string{o.ServiceName()}
		case *appsv1.StatefulSet:
			return []string{o.Spec.ServiceName}
		}
		return nil
	}); err != nil {
		return nil, err
	}
	if x.services, err = add(&corev1.Service{}, IndexSelector, func(o client.Object) []string {
		var selector map[string]string
		switch o := o.(type) {
		case *CachedService:
			if p, ok := o.indexedPair(); ok {
				return []string{p}
			}
			return nil
		case *corev1.Service:
			selector = o.Spec.Selector
		}
		if p, ok := indexedPair(selector); ok {
			return []string{p}
		}
		return nil
	}); err != nil {
		return nil, err
	}
	for _, obj := range WorkloadObjects {
		idx, err := add(obj, IndexTemplateLabels, templatePairs)
		if err != nil {
			return nil, err
		}
		if _, err := add(obj, IndexSubdomain, subdomainOf); err != nil {
			return nil, err
		}
		x.workloads = append(x.workloads, idx)
	}
	return &x, nil
}

// NewInformer is the constructor of the cache's informers
// (ctrlcache.Options.NewInformer): client-go's, with Indexers.
func NewInformer(lw toolscache.ListerWatcher, obj runtime.Object, resync time.Duration, idx toolscache.Indexers) toolscache.SharedIndexInformer {
	return toolscache.NewSharedIndexInformer(lw, obj, resync, Indexers(obj, idx))
}

// Indexers are the indexers of obj's informer out of idx,
// controller-runtime's: all but the namespace index of Services. A Service
// is read by its key (boundLookup.Service, CachedService) or through the
// selector index (ServicesSelecting); nothing lists a namespace's Services
// from the cache (a List of Services in a namespace through the cache's
// reader fails), and the index costs a set entry per Service, the objects
// a cluster has most of.
func Indexers(obj runtime.Object, idx toolscache.Indexers) toolscache.Indexers {
	if _, ok := obj.(*corev1.Service); ok {
		idx = maps.Clone(idx)
		delete(idx, toolscache.NamespaceIndex)
	}
	return idx
}

// subdomainOf is the subdomain of a pod-template owner's template; none
// for a controller's copy, and most owners set none, so the index is small.
func subdomainOf(o client.Object) []string {
	if c, r := templateOf(o); c != nil {
		if s := r.str(c.subdomain); s != "" {
			return []string{s}
		}
		return nil
	}
	if rules.Derived(o) {
		return nil
	}
	if w, ok := rules.WorkloadOf(o); ok && w.Template.Spec.Subdomain != "" {
		return []string{w.Template.Spec.Subdomain}
	}
	return nil
}

// WithSubdomain returns the pod-template owners in namespace whose template
// asks for subdomain (not controllers' copies), in WorkloadObjects order
// and by name: the objects HG012 checks against the Service of that name.
// It needs the indexes (SetupIndexes).
func (l *CacheLookup) WithSubdomain(namespace, subdomain string) ([]client.Object, error) {
	if l.Indexes == nil {
		return nil, errors.New("looking up pod templates by subdomain needs the informer indexes")
	}
	var out []client.Object
	for _, idx := range l.Indexes.workloads {
		objs, err := idx.ByIndex(IndexSubdomain, IndexKey(namespace, subdomain))
		if err != nil {
			return nil, err
		}
		start := len(out)
		for _, o := range objs {
			// The bucket holds other subdomains and namespaces too.
			if obj, ok := o.(client.Object); ok && obj.GetNamespace() == namespace && subdomainIs(obj, subdomain) {
				out = append(out, ObjectOf(obj))
			}
		}
		kind := out[start:]
		sort.Slice(kind, func(i, j int) bool { return kind[i].GetName() < kind[j].GetName() })
	}
	return out, nil
}

// subdomainIs reports whether o's template asks for subdomain.
func subdomainIs(o client.Object, subdomain string) bool {
	s := subdomainOf(o)
	return len(s) == 1 && s[0] == subdomain
}

// indexedPair is the one pair of a Service selector the Service is indexed
// under. A Service selects labels only if every pair of its selector is
// among them, this one too, so looking up each pair of the labels finds it;
// one pair instead of all halves the index for the usual two-pair
// selectors. The pair with the longest value is taken: a release or app
// name narrows more than a component or tier.
func indexedPair(selector map[string]string) (string, bool) {
	var key string
	for k, v := range selector {
		if key == "" || len(v) > len(selector[key]) || len(v) == len(selector[key]) && k < key {
			key = k
		}
	}
	return key + "=" + selector[key], key != ""
}

// templatePairs are the label pairs of a pod-template owner's template;
// none for a controller's copy (rules.Derived).
func templatePairs(o client.Object) []string {
	if labels, ok := selectedLabels(o); ok {
		var out []string
		for {
			k, v, ok := labels.Next()
			if !ok {
				return out
			}
			out = append(out, k+"="+v)
		}
	}
	switch c := o.(type) {
	case *CachedCopy:
		// A controller's copy: the indexer runs on every update of every
		// Pod, and nothing need be built to know it has no pairs.
		return nil
	case *CachedWorkload:
		// A Job: selected by the labels rules.Kinds' Template adds too.
		o = c.Object()
	}
	if rules.Derived(o) {
		return nil
	}
	w, ok := rules.WorkloadOf(o)
	if !ok {
		return nil
	}
	return pairs(w.Template.Labels)
}

// selectedLabels are the pairs of the labels a record's pod template is
// selected by (what rules.WorkloadOf reads), when they are its own: a
// CachedStatefulSet's, a CachedWorkload's but a Job's (rules.Kinds'
// Template adds the job-name labels the API server adds to a Job's pods).
func selectedLabels(o client.Object) (rules.PairReader, bool) {
	switch c := o.(type) {
	case *CachedStatefulSet:
		return c.labelPairs(&c.recordMeta), true
	case *CachedWorkload:
		return c.labelPairs(&c.recordMeta), c.kind.Name != rules.KindJob
	}
	return rules.PairReader{}, false
}

// templateOf is the pod template of a record of a pod-template owner
// (CachedStatefulSet, CachedWorkload), and the record's metadata, whose
// blob holds its strings; nil for any other object.
func templateOf(o client.Object) (*cachedTemplate, *recordMeta) {
	switch c := o.(type) {
	case *CachedStatefulSet:
		return &c.cachedTemplate, &c.recordMeta
	case *CachedWorkload:
		return &c.cachedTemplate, &c.recordMeta
	}
	return nil, nil
}

func pairs(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	return out
}

// CacheLookup answers rule lookups from the informer cache. A Service missing
// from the cache is read once from the API server, because an informer lags:
// a Service created a moment before its StatefulSet must not cause a false
// denial. Lists come from the cache, but for one case: once a named Service
// is in neither the cache nor the API server, ServicesSelecting reads that
// namespace's Services from the API server too (liveListLimit), because
// the Service meant instead may be the one created a moment before
// (HG002's typo: `kubectl apply` of `nginx-headless` then a StatefulSet
// naming `nginx`).
type CacheLookup struct {
	Cache client.Reader
	Live  client.Reader
	// Indexes serve every cache read (SetupIndexes). There is no other
	// way: tests build the same from memory (InMemory).
	Indexes *Indexes
}

// For returns a rules.Lookup bound to one request's context. It is for
// one goroutine, as a request's evaluation is.
func (l *CacheLookup) For(ctx context.Context) rules.Lookup {
	return &boundLookup{CacheLookup: l, ctx: ctx}
}

type boundLookup struct {
	*CacheLookup
	ctx context.Context
	// built are the Services built from CachedServices for this request:
	// the rules look the same Service up several times (HG002-HG009).
	built []*corev1.Service
	// builtSets are the StatefulSets built from CachedStatefulSets.
	builtSets []*appsv1.StatefulSet
	// missed are the namespaces in which a named Service was in neither
	// the cache nor the API server during this request, and listed their
	// Services as the API server listed them then (liveServices).
	missed []string
	listed map[string]*corev1.ServiceList
}

// liveListLimit caps the live List of a namespace's Services that
// ServicesSelecting makes after a named Service was missing: a namespace
// of more Services is answered from the cache alone, so a namespace of
// 100,000 costs one page of this many, once per request that names a
// missing Service.
const liveListLimit = 100

// statefulSet returns the StatefulSet of c, built once per request.
func (b *boundLookup) statefulSet(c *CachedStatefulSet) *appsv1.StatefulSet {
	return builtOnce(&b.builtSets, c.GetNamespace(), c.GetName(), c.StatefulSet)
}

// service returns the Service of c, built once per request.
func (b *boundLookup) service(c *CachedService) *corev1.Service {
	return builtOnce(&b.built, c.GetNamespace(), c.GetName(), c.Service)
}

// builtOnce returns the object of built named namespace/name, or builds it
// and adds it to built.
func builtOnce[T interface {
	GetName() string
	GetNamespace() string
}](built *[]T, namespace, name string, build func() T) T {
	for _, o := range *built {
		if o.GetName() == name && o.GetNamespace() == namespace {
			return o
		}
	}
	o := build()
	*built = append(*built, o)
	return o
}

func (b *boundLookup) Service(namespace, name string) (*corev1.Service, error) {
	obj, _, err := b.Indexes.services.GetByKey(namespace + "/" + name)
	if err != nil {
		return nil, err
	}
	switch o := obj.(type) {
	case *CachedService:
		return b.service(o), nil
	case *corev1.Service:
		return o, nil
	}
	return b.live(namespace, name)
}

// live reads a Service the cache does not have (yet) from the API server.
func (b *boundLookup) live(namespace, name string) (*corev1.Service, error) {
	if b.Live == nil {
		return nil, nil
	}
	svc := &corev1.Service{}
	if err := b.Live.Get(b.ctx, client.ObjectKey{Namespace: namespace, Name: name}, svc); err != nil {
		if apierrors.IsNotFound(err) {
			if !slices.Contains(b.missed, namespace) {
				b.missed = append(b.missed, namespace)
			}
			return nil, nil
		}
		return nil, err
	}
	return svc, nil
}

// liveServices returns the Services of namespace as the API server lists
// them, once per request, when a named Service was missing in it and it
// has at most liveListLimit of them; otherwise nil, and the cache answers.
// A List that fails leaves the answer to the cache, as before the miss.
func (b *boundLookup) liveServices(namespace string) *corev1.ServiceList {
	if b.Live == nil || !slices.Contains(b.missed, namespace) {
		return nil
	}
	if list, done := b.listed[namespace]; done {
		return list
	}
	if b.listed == nil {
		b.listed = map[string]*corev1.ServiceList{}
	}
	list := &corev1.ServiceList{}
	if err := b.Live.List(b.ctx, list, client.InNamespace(namespace), client.Limit(liveListLimit)); err != nil || list.Continue != "" {
		list = nil
	}
	b.listed[namespace] = list
	return list
}

// ConfigMap reads a ConfigMap from the API server. ConfigMaps are not
// cached: a cluster's ConfigMaps are many and large, and the rules read
// one only where a denial depends on it (evidence that a StatefulSet's
// configuration uses its per-pod names, at most a few per request), so
// ordinary requests read none. It needs `get` on `configmaps`.
func (b *boundLookup) ConfigMap(namespace, name string) (*corev1.ConfigMap, error) {
	if b.Live == nil {
		return nil, nil
	}
	cm := &corev1.ConfigMap{}
	if err := b.Live.Get(b.ctx, client.ObjectKey{Namespace: namespace, Name: name}, cm); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, err
	}
	return cm, nil
}

func (b *boundLookup) ServicesSelecting(namespace string, labels map[string]string) ([]*corev1.Service, error) {
	var out []*corev1.Service
	if list := b.liveServices(namespace); list != nil {
		for i := range list.Items {
			if svc := &list.Items[i]; rules.Selects(svc.Spec.Selector, labels) {
				out = append(out, svc)
			}
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
		return out, nil
	}
	seen := map[string]bool{}
	for k, v := range labels {
		objs, err := b.Indexes.services.ByIndex(IndexSelector, pairKey(namespace, k, v))
		if err != nil {
			return nil, err
		}
		for _, o := range objs {
			switch o := o.(type) {
			case *CachedService:
				if o.GetNamespace() == namespace && !seen[o.GetName()] && o.selects(labels) {
					seen[o.GetName()] = true
					out = append(out, b.service(o))
				}
			case *corev1.Service:
				if o.Namespace == namespace && !seen[o.Name] && rules.Selects(o.Spec.Selector, labels) {
					seen[o.Name] = true
					out = append(out, o)
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (b *boundLookup) StatefulSetsFor(namespace, serviceName string) ([]*appsv1.StatefulSet, error) {
	objs, err := b.Indexes.statefulSets.ByIndex(IndexServiceName, IndexKey(namespace, serviceName))
	if err != nil {
		return nil, err
	}
	out := make([]*appsv1.StatefulSet, 0, len(objs))
	for _, o := range objs {
		// The bucket holds other serviceNames and namespaces too.
		switch o := o.(type) {
		case *CachedStatefulSet:
			if o.GetNamespace() == namespace && o.ServiceName() == serviceName {
				out = append(out, b.statefulSet(o))
			}
		case *appsv1.StatefulSet:
			if o.Namespace == namespace && o.Spec.ServiceName == serviceName {
				out = append(out, o)
			}
		}
	}
	// The store's order is a map's: sort for stable findings.
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (b *boundLookup) WorkloadsSelectedBy(namespace string, selector map[string]string) ([]rules.Workload, error) {
	if len(selector) == 0 {
		return nil, nil
	}
	// One indexed pair's bucket narrows the candidates; rules.Selects()
	// checks them.
	keys := make([]string, 0, len(selector))
	for k := range selector {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []rules.Workload
	add := func(obj runtime.Object) {
		if rules.Derived(obj) {
			return
		}
		if w, ok := rules.WorkloadOf(obj); ok && rules.Selects(selector, w.Template.Labels) {
			out = append(out, w)
		}
	}
	key := pairKey(namespace, keys[0], selector[keys[0]])
	for _, idx := range b.Indexes.workloads {
		objs, err := idx.ByIndex(IndexTemplateLabels, key)
		if err != nil {
			return nil, err
		}
		start := len(out)
		for _, o := range objs {
			// The bucket holds other namespaces' objects too.
			switch o := o.(type) {
			case *CachedStatefulSet:
				// Built only when it is selected.
				if o.GetNamespace() == namespace && rules.SelectsPairs(selector, o.labelPairs(&o.recordMeta)) {
					add(b.statefulSet(o))
				}
			case *CachedWorkload:
				if o.GetNamespace() != namespace {
					continue
				}
				if labels, ok := selectedLabels(o); !ok || rules.SelectsPairs(selector, labels) {
					add(o.Object())
				}
			case client.Object:
				if o.GetNamespace() == namespace {
					add(o)
				}
			}
		}
		// The store's order is a map's: sort for stable findings, what
		// was selected of the bucket (slices.SortFunc: sort.Slice
		// allocates even for no item).
		if kind := out[start:]; len(kind) > 1 {
			slices.SortFunc(kind, func(a, b rules.Workload) int { return strings.Compare(a.Ref.Name, b.Ref.Name) })
		}
	}
	return out, nil
}

// Namespaces reads a namespace's labels (the opt-in and mode labels), from
// the cache with a live read on a miss.
type Namespaces struct {
	Cache client.Reader
	Live  client.Reader
	// Store, when set, is the Namespace informer's store, read instead of
	// Cache: no object to allocate and no reflection per request.
	Store toolscache.Store
}

// Labels returns the labels of namespace name; nil when it does not exist.
func (n *Namespaces) Labels(ctx context.Context, name string) (map[string]string, error) {
	if n.Store != nil {
		obj, ok, err := n.Store.GetByKey(name)
		if err != nil {
			return nil, err
		}
		if ns, isNS := obj.(*corev1.Namespace); ok && isNS {
			return ns.Labels, nil
		}
		return n.live(ctx, name)
	}
	ns := &corev1.Namespace{}
	// Only the labels are read, and not modified: no copy of the cached one.
	err := n.Cache.Get(ctx, client.ObjectKey{Name: name}, ns, client.UnsafeDisableDeepCopy)
	if apierrors.IsNotFound(err) && n.Live != nil {
		err = n.Live.Get(ctx, client.ObjectKey{Name: name}, ns)
	}
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	return ns.Labels, err
}

// live reads namespace name from the API server after a cache miss.
func (n *Namespaces) live(ctx context.Context, name string) (map[string]string, error) {
	if n.Live == nil {
		return nil, nil
	}
	ns := &corev1.Namespace{}
	err := n.Live.Get(ctx, client.ObjectKey{Name: name}, ns)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	return ns.Labels, err
}

// Object returns the cached pod-template owner of example's type (one of
// WorkloadObjects) named namespace/name as the rules read it (ObjectOf: a
// CachedStatefulSet's StatefulSet), or nil when the cache has none. It is
// the cache's object, or built from it: read only. The controllers read
// pod-template owners this way, not through the cache's client, whose
// reads without a copy (client.UnsafeDisableDeepCopy) hand out the cache's
// records.
func (l *CacheLookup) Object(example client.Object, namespace, name string) (client.Object, error) {
	idx, err := l.workloadIndexer(example)
	if err != nil {
		return nil, err
	}
	o, ok, err := idx.GetByKey(namespace + "/" + name)
	if err != nil || !ok {
		return nil, err
	}
	obj, ok := o.(client.Object)
	if !ok {
		return nil, fmt.Errorf("the %T informer holds a %T", example, o)
	}
	return ObjectOf(obj), nil
}

// Objects returns the cached pod-template owners of example's type in
// namespace, as Object does, in no order.
func (l *CacheLookup) Objects(example client.Object, namespace string) ([]client.Object, error) {
	idx, err := l.workloadIndexer(example)
	if err != nil {
		return nil, err
	}
	objs, err := idx.ByIndex(toolscache.NamespaceIndex, namespace)
	if err != nil {
		return nil, err
	}
	out := make([]client.Object, 0, len(objs))
	for _, o := range objs {
		obj, ok := o.(client.Object)
		if !ok {
			return nil, fmt.Errorf("the %T informer holds a %T", example, o)
		}
		out = append(out, ObjectOf(obj))
	}
	return out, nil
}

// Each calls fn with every cached pod-template owner of example's type,
// in no order, as the cache holds it: a record (CachedStatefulSet,
// CachedWorkload, CachedCopy) as such, which ObjectOf builds the object of. fn must not
// modify what it is given.
func (l *CacheLookup) Each(example client.Object, fn func(client.Object)) error {
	idx, err := l.workloadIndexer(example)
	if err != nil {
		return err
	}
	for _, o := range idx.List() {
		obj, ok := o.(client.Object)
		if !ok {
			return fmt.Errorf("the %T informer holds a %T", example, o)
		}
		fn(obj)
	}
	return nil
}

// workloadIndexer is the store of example's type's informer.
func (l *CacheLookup) workloadIndexer(example client.Object) (toolscache.Indexer, error) {
	if l.Indexes == nil {
		return nil, errors.New("reading pod-template owners needs the informer indexes")
	}
	for i, w := range WorkloadObjects {
		if reflect.TypeOf(w) == reflect.TypeOf(example) {
			return l.Indexes.workloads[i], nil
		}
	}
	return nil, fmt.Errorf("%T is not a pod-template owner the cache holds", example)
}
