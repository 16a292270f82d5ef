package rules

import (
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// CompactIndex is Index over Encoded objects: the same answers in the same
// order (TestCompactIndexAnswersAsIndex), with each object kept encoded and
// decoded only when a lookup answers with it. View adds a cache of the
// objects decoded last, for one goroutine. The offline checker indexes its
// input this way. It is not safe for concurrent writes.
type CompactIndex struct {
	// entries are the objects by id, in the order they were added.
	entries    []*Encoded
	namespaces map[string]*compactNS
	// arena holds the encodings of the objects Add encodes.
	arena Arena
	// unencoded are the objects Add could not encode, by id.
	unencoded map[int32]runtime.Object
}

type compactNS struct {
	services map[string]int32
	// bySelector: a Service's id under each pair of its selector;
	// workloads: a pod-template owner's under each of its template's
	// labels (pairHash; a hash shared by two pairs only adds candidates,
	// which every lookup checks).
	bySelector map[uint64][]int32
	workloads  map[uint64][]int32
	byService  map[string][]int32
	configMaps map[string]*lazyConfigMap
}

var _ Lookup = (*CompactIndex)(nil)

// NewCompactIndex returns an empty CompactIndex.
func NewCompactIndex() *CompactIndex {
	return &CompactIndex{namespaces: map[string]*compactNS{}}
}

func (x *CompactIndex) ns(namespace string) *compactNS {
	n := x.namespaces[namespace]
	if n == nil {
		n = &compactNS{
			services:   map[string]int32{},
			bySelector: map[uint64][]int32{},
			workloads:  map[uint64][]int32{},
			byService:  map[string][]int32{},
			configMaps: map[string]*lazyConfigMap{},
		}
		x.namespaces[namespace] = n
	}
	return n
}

// pairHash is the hash (FNV-1a) of one label or selector pair.
func pairHash(key, value string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(key); i++ {
		h = (h ^ uint64(key[i])) * 1099511628211
	}
	h = (h ^ 0xff) * 1099511628211
	for i := 0; i < len(value); i++ {
		h = (h ^ uint64(value[i])) * 1099511628211
	}
	return h
}

// Add encodes and indexes obj as Index.Add does (a ConfigMap too), and
// returns its id (View.Object), or -1 for a ConfigMap or an object of a
// kind the rules do not read.
func (x *CompactIndex) Add(obj runtime.Object) int32 {
	if cm, ok := obj.(*corev1.ConfigMap); ok {
		x.AddConfigMapFunc(cm.Namespace, cm.Name, func() *corev1.ConfigMap { return cm })
		return -1
	}
	return x.add(obj, true)
}

// add is Add; without data it keeps obj as it is, as it does an object it
// cannot encode.
func (x *CompactIndex) add(obj runtime.Object, withData bool) int32 {
	e, ok := encode(obj, &x.arena, withData)
	if !ok {
		return -1
	}
	id := x.AddEncoded(&e)
	if e.flags&encodedNoData != 0 {
		if x.unencoded == nil {
			x.unencoded = map[int32]runtime.Object{}
		}
		x.unencoded[id] = obj
	}
	return id
}

// AddEncoded indexes an encoded object and returns its id (View.Object);
// e must not change while the index is in use. A second Service of the
// same namespace/name replaces the first, as a second apply would.
func (x *CompactIndex) AddEncoded(e *Encoded) int32 {
	id := int32(len(x.entries))
	x.entries = append(x.entries, e)
	n := x.ns(e.namespace())
	switch e.kind.Name {
	case KindService:
		if old, ok := n.services[e.name()]; ok {
			r := Pairs(x.entries[old].pairs())
			for k, v, ok := r.Next(); ok; k, v, ok = r.Next() {
				h := pairHash(k, v)
				n.bySelector[h] = removeID(n.bySelector[h], old)
			}
		}
		n.services[e.name()] = id
		r := Pairs(e.pairs())
		for k, v, ok := r.Next(); ok; k, v, ok = r.Next() {
			h := pairHash(k, v)
			n.bySelector[h] = appendID(n.bySelector[h], id)
		}
		return id
	case KindStatefulSet:
		n.byService[e.serviceName()] = append(n.byService[e.serviceName()], id)
	}
	if e.kind.SpecPath != nil && e.flags&encodedDerived == 0 {
		r := Pairs(e.pairs())
		for k, v, ok := r.Next(); ok; k, v, ok = r.Next() {
			h := pairHash(k, v)
			n.workloads[h] = appendID(n.workloads[h], id)
		}
	}
	return id
}

// appendID appends id to a posting list once: two pairs of one object may
// share a hash.
func appendID(list []int32, id int32) []int32 {
	if len(list) > 0 && list[len(list)-1] == id {
		return list
	}
	return append(list, id)
}

func removeID(list []int32, id int32) []int32 {
	out := list[:0]
	for _, i := range list {
		if i != id {
			out = append(out, i)
		}
	}
	return out
}

// AddConfigMapFunc is Index.AddConfigMapFunc.
func (x *CompactIndex) AddConfigMapFunc(namespace, name string, load func() *corev1.ConfigMap) {
	x.ns(namespace).configMaps[name] = &lazyConfigMap{load: load}
}

// Object decodes the object of id (AddEncoded).
func (x *CompactIndex) Object(id int32) runtime.Object {
	if obj, ok := x.unencoded[id]; ok {
		return obj
	}
	return x.entries[id].Object()
}

// Service implements Lookup.
func (x *CompactIndex) Service(namespace, name string) (*corev1.Service, error) {
	return x.service(namespace, name, x.Object)
}

// ServicesSelecting implements Lookup.
func (x *CompactIndex) ServicesSelecting(namespace string, labels map[string]string) ([]*corev1.Service, error) {
	return x.servicesSelecting(namespace, labels, x.Object)
}

// StatefulSetsFor implements Lookup.
func (x *CompactIndex) StatefulSetsFor(namespace, serviceName string) ([]*appsv1.StatefulSet, error) {
	return x.statefulSetsFor(namespace, serviceName, x.Object)
}

// WorkloadsSelectedBy implements Lookup.
func (x *CompactIndex) WorkloadsSelectedBy(namespace string, selector map[string]string) ([]Workload, error) {
	return x.workloadsSelectedBy(namespace, selector, x.Object)
}

// ConfigMap implements Lookup, as Index.ConfigMap.
func (x *CompactIndex) ConfigMap(namespace, name string) (*corev1.ConfigMap, error) {
	if n := x.namespaces[namespace]; n != nil {
		return configMapOf(n.configMaps, name), nil
	}
	return nil, nil
}

func (x *CompactIndex) service(namespace, name string, object func(int32) runtime.Object) (*corev1.Service, error) {
	if n := x.namespaces[namespace]; n != nil {
		if id, ok := n.services[name]; ok {
			return object(id).(*corev1.Service), nil
		}
	}
	return nil, nil
}

func (x *CompactIndex) servicesSelecting(namespace string, labels map[string]string, object func(int32) runtime.Object) ([]*corev1.Service, error) {
	n := x.namespaces[namespace]
	if n == nil {
		return nil, nil
	}
	var ids []int32
	for k, v := range labels {
		for _, id := range n.bySelector[pairHash(k, v)] {
			if !containsID(ids, id) && PairsSelect(Pairs(x.entries[id].pairs()), labels) {
				ids = append(ids, id)
			}
		}
	}
	sort.Slice(ids, func(i, j int) bool { return x.entries[ids[i]].name() < x.entries[ids[j]].name() })
	var out []*corev1.Service
	for _, id := range ids {
		out = append(out, object(id).(*corev1.Service))
	}
	return out, nil
}

func containsID(ids []int32, id int32) bool {
	for _, i := range ids {
		if i == id {
			return true
		}
	}
	return false
}

func (x *CompactIndex) statefulSetsFor(namespace, serviceName string, object func(int32) runtime.Object) ([]*appsv1.StatefulSet, error) {
	n := x.namespaces[namespace]
	if n == nil {
		return nil, nil
	}
	ids := n.byService[serviceName]
	if ids == nil {
		return nil, nil
	}
	out := make([]*appsv1.StatefulSet, len(ids))
	for i, id := range ids {
		out[i] = object(id).(*appsv1.StatefulSet)
	}
	return out, nil
}

func (x *CompactIndex) workloadsSelectedBy(namespace string, selector map[string]string, object func(int32) runtime.Object) ([]Workload, error) {
	n := x.namespaces[namespace]
	if n == nil || len(selector) == 0 {
		return nil, nil
	}
	var shortest []int32
	first := true
	for k, v := range selector {
		list := n.workloads[pairHash(k, v)]
		if first || len(list) < len(shortest) {
			shortest, first = list, false
		}
	}
	var out []Workload
	for _, id := range shortest {
		if SelectsPairs(selector, Pairs(x.entries[id].pairs())) {
			w, _ := WorkloadOf(object(id))
			out = append(out, w)
		}
	}
	return out, nil
}

// View is a Lookup over x for one goroutine: it keeps the objects it
// decoded last, so that the objects one evaluation reads (a StatefulSet,
// its Service, the workloads that Service selects) are decoded once, and
// the objects of neighbouring documents, which tend to refer to each
// other, often too.
func (x *CompactIndex) View() *View { return &View{x: x} }

// View is CompactIndex.View.
type View struct {
	x     *CompactIndex
	slots [viewSlots]struct {
		id  int32
		obj runtime.Object
	}
}

// viewSlots is how many decoded objects a View keeps, by id.
const viewSlots = 256

var _ Lookup = (*View)(nil)

// Object returns the object of id, decoded once while it stays in the
// view's slots.
func (v *View) Object(id int32) runtime.Object {
	s := &v.slots[id%viewSlots]
	if s.obj != nil && s.id == id {
		return s.obj
	}
	s.id, s.obj = id, v.x.Object(id)
	return s.obj
}

// Service implements Lookup.
func (v *View) Service(namespace, name string) (*corev1.Service, error) {
	return v.x.service(namespace, name, v.Object)
}

// ServicesSelecting implements Lookup.
func (v *View) ServicesSelecting(namespace string, labels map[string]string) ([]*corev1.Service, error) {
	return v.x.servicesSelecting(namespace, labels, v.Object)
}

// StatefulSetsFor implements Lookup.
func (v *View) StatefulSetsFor(namespace, serviceName string) ([]*appsv1.StatefulSet, error) {
	return v.x.statefulSetsFor(namespace, serviceName, v.Object)
}

// WorkloadsSelectedBy implements Lookup.
func (v *View) WorkloadsSelectedBy(namespace string, selector map[string]string) ([]Workload, error) {
	return v.x.workloadsSelectedBy(namespace, selector, v.Object)
}

// ConfigMap implements Lookup.
func (v *View) ConfigMap(namespace, name string) (*corev1.ConfigMap, error) {
	return v.x.ConfigMap(namespace, name)
}
