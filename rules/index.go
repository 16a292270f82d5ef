package rules

import (
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Index is an in-memory Lookup over a set of decoded objects, indexed
// before any rule runs, so that the order they come in never matters:
// `check --cluster` without manifests indexes the cluster's objects so,
// and the rules' tests their objects. Services and pod templates are
// indexed by label pair, so a selector lookup costs the size of its
// smallest posting list, not of the namespace. CompactIndex answers as it
// does over encoded objects, for the checker's manifests. It is not safe
// for concurrent writes.
type Index struct {
	namespaces map[string]*nsIndex
}

type nsIndex struct {
	services   map[string]*corev1.Service
	bySelector map[string][]*corev1.Service // "k=v" of a selector pair -> Services
	byService  map[string][]*appsv1.StatefulSet
	workloads  []Workload
	byLabel    map[string][]int // "k=v" of a template label -> workload indexes
	configMaps map[string]*lazyConfigMap
}

// lazyConfigMap is a ConfigMap decoded on first read: most inputs hold
// many ConfigMaps and few StatefulSets whose verdict depends on one.
type lazyConfigMap struct {
	once sync.Once
	load func() *corev1.ConfigMap
	cm   *corev1.ConfigMap
}

var _ Lookup = (*Index)(nil)

// NewIndex returns an empty Index.
func NewIndex() *Index { return &Index{namespaces: map[string]*nsIndex{}} }

func (x *Index) ns(namespace string) *nsIndex {
	n := x.namespaces[namespace]
	if n == nil {
		n = &nsIndex{
			services:   map[string]*corev1.Service{},
			bySelector: map[string][]*corev1.Service{},
			byService:  map[string][]*appsv1.StatefulSet{},
			byLabel:    map[string][]int{},
			configMaps: map[string]*lazyConfigMap{},
		}
		x.namespaces[namespace] = n
	}
	return n
}

// Add indexes one object (a ConfigMap too, for the evidence that per-pod
// names are used); objects of kinds the rules do not read are ignored.
// A second Service of the same namespace/name replaces the first, as a second
// apply would.
func (x *Index) Add(obj runtime.Object) {
	// A Service is indexed by name and selector, a StatefulSet also by the
	// Service it names, every pod-template owner by its template labels.
	if o, ok := obj.(*corev1.Service); ok {
		n := x.ns(o.Namespace)
		if old := n.services[o.Name]; old != nil {
			for k, v := range old.Spec.Selector {
				n.bySelector[k+"="+v] = removeService(n.bySelector[k+"="+v], old)
			}
		}
		n.services[o.Name] = o
		for k, v := range o.Spec.Selector {
			n.bySelector[k+"="+v] = append(n.bySelector[k+"="+v], o)
		}
		return
	}
	if o, ok := obj.(*corev1.ConfigMap); ok {
		x.AddConfigMapFunc(o.Namespace, o.Name, func() *corev1.ConfigMap { return o })
		return
	}
	if o, ok := obj.(*appsv1.StatefulSet); ok {
		n := x.ns(o.Namespace)
		n.byService[o.Spec.ServiceName] = append(n.byService[o.Spec.ServiceName], o)
	}
	if w, ok := WorkloadOf(obj); ok && !Derived(obj) {
		n := x.ns(w.Ref.Namespace)
		n.workloads = append(n.workloads, w)
		for k, v := range w.Template.Labels {
			n.byLabel[k+"="+v] = append(n.byLabel[k+"="+v], len(n.workloads)-1)
		}
	}
}

func removeService(list []*corev1.Service, svc *corev1.Service) []*corev1.Service {
	out := list[:0]
	for _, s := range list {
		if s != svc {
			out = append(out, s)
		}
	}
	return out
}

// Service implements Lookup.
func (x *Index) Service(namespace, name string) (*corev1.Service, error) {
	if n := x.namespaces[namespace]; n != nil {
		return n.services[name], nil
	}
	return nil, nil
}

// AddConfigMapFunc indexes ConfigMap namespace/name, which load decodes
// when a rule first reads it (load may return nil). A later one of the
// same name replaces it, as a second apply would.
func (x *Index) AddConfigMapFunc(namespace, name string, load func() *corev1.ConfigMap) {
	x.ns(namespace).configMaps[name] = &lazyConfigMap{load: load}
}

// ConfigMap implements Lookup: the offline checker holds every ConfigMap
// of its input in memory, so reading one costs at most its decoding, once;
// concurrent readers are safe.
func (x *Index) ConfigMap(namespace, name string) (*corev1.ConfigMap, error) {
	if n := x.namespaces[namespace]; n != nil {
		return configMapOf(n.configMaps, name), nil
	}
	return nil, nil
}

// configMapOf decodes the ConfigMap name of configMaps on its first read.
func configMapOf(configMaps map[string]*lazyConfigMap, name string) *corev1.ConfigMap {
	l := configMaps[name]
	if l == nil {
		return nil
	}
	l.once.Do(func() { l.cm = l.load() })
	return l.cm
}

// ServicesSelecting implements Lookup.
func (x *Index) ServicesSelecting(namespace string, labels map[string]string) ([]*corev1.Service, error) {
	n := x.namespaces[namespace]
	if n == nil {
		return nil, nil
	}
	var out []*corev1.Service
	seen := map[*corev1.Service]bool{}
	for k, v := range labels {
		for _, svc := range n.bySelector[k+"="+v] {
			if !seen[svc] && Selects(svc.Spec.Selector, labels) {
				seen[svc] = true
				out = append(out, svc)
			}
		}
	}
	sortServices(out)
	return out, nil
}

// StatefulSetsFor implements Lookup.
func (x *Index) StatefulSetsFor(namespace, serviceName string) ([]*appsv1.StatefulSet, error) {
	if n := x.namespaces[namespace]; n != nil {
		return n.byService[serviceName], nil
	}
	return nil, nil
}

// WorkloadsSelectedBy implements Lookup.
func (x *Index) WorkloadsSelectedBy(namespace string, selector map[string]string) ([]Workload, error) {
	n := x.namespaces[namespace]
	if n == nil || len(selector) == 0 {
		return nil, nil
	}
	var shortest []int
	first := true
	for k, v := range selector {
		list := n.byLabel[k+"="+v]
		if first || len(list) < len(shortest) {
			shortest, first = list, false
		}
	}
	var out []Workload
	for _, i := range shortest {
		if Selects(selector, n.workloads[i].Template.Labels) {
			out = append(out, n.workloads[i])
		}
	}
	return out, nil
}
