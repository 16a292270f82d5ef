package webhook

import (
	"context"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/headless-guard/headless-guard/rules"
)

// Field indexes registered on the manager's cache, so that no lookup scans a
// namespace: StatefulSets by serviceName, Services by selector pair, pod
// templates by label pair.
const (
	IndexServiceName    = "headless-guard.io/serviceName"
	IndexSelector       = "headless-guard.io/selector"
	IndexTemplateLabels = "headless-guard.io/templateLabels"
)

// workloadLists are the pod-template owners the cache serves.
var workloadLists = []func() client.ObjectList{
	func() client.ObjectList { return &appsv1.StatefulSetList{} },
	func() client.ObjectList { return &appsv1.DeploymentList{} },
	func() client.ObjectList { return &appsv1.ReplicaSetList{} },
	func() client.ObjectList { return &appsv1.DaemonSetList{} },
	func() client.ObjectList { return &batchv1.JobList{} },
	func() client.ObjectList { return &batchv1.CronJobList{} },
	func() client.ObjectList { return &corev1.PodList{} },
}

// WorkloadObjects are the pod-template owner types, for indexes and informers.
var WorkloadObjects = []client.Object{
	&appsv1.StatefulSet{}, &appsv1.Deployment{}, &appsv1.ReplicaSet{}, &appsv1.DaemonSet{},
	&batchv1.Job{}, &batchv1.CronJob{}, &corev1.Pod{},
}

// SetupIndexes registers the field indexes; registering an index also
// creates the informer, so the cache watches every type the rules read.
func SetupIndexes(ctx context.Context, indexer client.FieldIndexer) error {
	if err := indexer.IndexField(ctx, &appsv1.StatefulSet{}, IndexServiceName, func(o client.Object) []string {
		return []string{o.(*appsv1.StatefulSet).Spec.ServiceName}
	}); err != nil {
		return err
	}
	if err := indexer.IndexField(ctx, &corev1.Service{}, IndexSelector, func(o client.Object) []string {
		return pairs(o.(*corev1.Service).Spec.Selector)
	}); err != nil {
		return err
	}
	for _, obj := range WorkloadObjects {
		if err := indexer.IndexField(ctx, obj, IndexTemplateLabels, func(o client.Object) []string {
			if rules.Derived(o) {
				return nil
			}
			w, ok := rules.WorkloadOf(o)
			if !ok {
				return nil
			}
			return pairs(w.Template.Labels)
		}); err != nil {
			return err
		}
	}
	return nil
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
// denial. Lists come from the cache only.
type CacheLookup struct {
	Cache client.Reader
	Live  client.Reader
}

// For returns a rules.Lookup bound to one request's context.
func (l *CacheLookup) For(ctx context.Context) rules.Lookup { return &boundLookup{l, ctx} }

type boundLookup struct {
	*CacheLookup
	ctx context.Context
}

func (b *boundLookup) Service(namespace, name string) (*corev1.Service, error) {
	key := client.ObjectKey{Namespace: namespace, Name: name}
	svc := &corev1.Service{}
	err := b.Cache.Get(b.ctx, key, svc)
	if err == nil {
		return svc, nil
	}
	if !apierrors.IsNotFound(err) {
		return nil, err
	}
	if b.Live == nil {
		return nil, nil
	}
	if err := b.Live.Get(b.ctx, key, svc); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, err
	}
	return svc, nil
}

func (b *boundLookup) ServicesSelecting(namespace string, labels map[string]string) ([]*corev1.Service, error) {
	seen := map[string]bool{}
	var out []*corev1.Service
	for _, p := range pairs(labels) {
		var list corev1.ServiceList
		if err := b.Cache.List(b.ctx, &list, client.InNamespace(namespace), client.MatchingFields{IndexSelector: p}, client.UnsafeDisableDeepCopy); err != nil {
			return nil, err
		}
		for i := range list.Items {
			svc := &list.Items[i]
			if !seen[svc.Name] && selects(svc.Spec.Selector, labels) {
				seen[svc.Name] = true
				out = append(out, svc)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (b *boundLookup) StatefulSetsFor(namespace, serviceName string) ([]*appsv1.StatefulSet, error) {
	var list appsv1.StatefulSetList
	if err := b.Cache.List(b.ctx, &list, client.InNamespace(namespace), client.MatchingFields{IndexServiceName: serviceName}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, err
	}
	out := make([]*appsv1.StatefulSet, len(list.Items))
	for i := range list.Items {
		out[i] = &list.Items[i]
	}
	return out, nil
}

func (b *boundLookup) WorkloadsSelectedBy(namespace string, selector map[string]string) ([]rules.Workload, error) {
	if len(selector) == 0 {
		return nil, nil
	}
	// One indexed pair narrows the candidates; selects() checks the rest.
	keys := make([]string, 0, len(selector))
	for k := range selector {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	pair := keys[0] + "=" + selector[keys[0]]
	var out []rules.Workload
	for _, newList := range workloadLists {
		list := newList()
		if err := b.Cache.List(b.ctx, list, client.InNamespace(namespace), client.MatchingFields{IndexTemplateLabels: pair}, client.UnsafeDisableDeepCopy); err != nil {
			return nil, err
		}
		items, err := metaItems(list)
		if err != nil {
			return nil, err
		}
		for _, obj := range items {
			if rules.Derived(obj) {
				continue
			}
			if w, ok := rules.WorkloadOf(obj); ok && selects(selector, w.Template.Labels) {
				out = append(out, w)
			}
		}
	}
	return out, nil
}

func metaItems(list client.ObjectList) ([]runtime.Object, error) {
	var out []runtime.Object
	switch l := list.(type) {
	case *appsv1.StatefulSetList:
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	case *appsv1.DeploymentList:
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	case *appsv1.ReplicaSetList:
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	case *appsv1.DaemonSetList:
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	case *batchv1.JobList:
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	case *batchv1.CronJobList:
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	case *corev1.PodList:
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	}
	return out, nil
}

func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// Namespaces reads a namespace's labels (the opt-in and mode labels), from
// the cache with a live read on a miss.
type Namespaces struct {
	Cache client.Reader
	Live  client.Reader
}

// Labels returns the labels of namespace name; nil when it does not exist.
func (n *Namespaces) Labels(ctx context.Context, name string) (map[string]string, error) {
	ns := &corev1.Namespace{}
	err := n.Cache.Get(ctx, client.ObjectKey{Name: name}, ns)
	if apierrors.IsNotFound(err) && n.Live != nil {
		err = n.Live.Get(ctx, client.ObjectKey{Name: name}, ns)
	}
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	return ns.Labels, err
}

// StripForCache is the cache transform: it keeps only what the rules read
// (rules.Strip), so that the cache stays small.
func StripForCache(obj any) (any, error) {
	if o, ok := obj.(runtime.Object); ok {
		rules.Strip(o)
	}
	return obj, nil
}
