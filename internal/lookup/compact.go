package lookup

import (
	"sort"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// CachedService is what the informer cache keeps of a Service in place of
// the Service: its metadata as StripForCache leaves it and the fields of
// its spec the rules read, in 384 bytes instead of the 640 of a
// corev1.Service, with the selector as a sorted slice of pairs instead of
// a map (a map of two pairs costs about 300 bytes, its pairs 64). Services
// are most of what the cache holds (docs/performance.md).
//
// Lookups hand the rules a *corev1.Service built from it (Service), equal
// to the one StripForCache would keep (lookup's compact_test.go holds them
// equal for every field rules.Strip keeps). It is a client.Object, so
// that the controllers' watches on Services receive it (they read it
// through ServiceOf), and its copy is a Service (DeepCopyObject).
type CachedService struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Type              corev1.ServiceType
	ClusterIP         string
	ExternalName      string
	// Selector holds the selector's keys and values, key, value, key,
	// value, ..., ordered by key; nil for no selector, empty (not nil)
	// for an empty one.
	Selector                 []string
	Ports                    []corev1.ServicePort
	PublishNotReadyAddresses bool
}

// compactService is the record of a Service StripForCache has stripped.
func compactService(svc *corev1.Service) *CachedService {
	c := &CachedService{
		TypeMeta: svc.TypeMeta, ObjectMeta: svc.ObjectMeta,
		Type: svc.Spec.Type, ClusterIP: svc.Spec.ClusterIP, ExternalName: svc.Spec.ExternalName,
		Ports: svc.Spec.Ports, PublishNotReadyAddresses: svc.Spec.PublishNotReadyAddresses,
	}
	if svc.Spec.Selector != nil {
		keys := make([]string, 0, len(svc.Spec.Selector))
		for k := range svc.Spec.Selector {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		c.Selector = make([]string, 0, 2*len(keys))
		for _, k := range keys {
			c.Selector = append(c.Selector, k, svc.Spec.Selector[k])
		}
	}
	return c
}

// Service returns the Service the record stands for, as StripForCache
// would have kept it: a new object that shares the record's strings,
// metadata maps and ports (read only, as every cached object).
func (c *CachedService) Service() *corev1.Service {
	svc := &corev1.Service{
		TypeMeta: c.TypeMeta, ObjectMeta: c.ObjectMeta,
		Spec: corev1.ServiceSpec{
			Type: c.Type, ClusterIP: c.ClusterIP, ExternalName: c.ExternalName,
			Ports: c.Ports, PublishNotReadyAddresses: c.PublishNotReadyAddresses,
		},
	}
	if c.Selector != nil {
		svc.Spec.Selector = make(map[string]string, len(c.Selector)/2)
		for i := 0; i+1 < len(c.Selector); i += 2 {
			svc.Spec.Selector[c.Selector[i]] = c.Selector[i+1]
		}
	}
	return svc
}

// selects reports whether the record's selector selects labels, as
// rules.Selects(svc.Spec.Selector, labels) does: a non-empty selector
// whose every pair is among the labels.
func (c *CachedService) selects(labels map[string]string) bool {
	if len(c.Selector) == 0 {
		return false
	}
	for i := 0; i+1 < len(c.Selector); i += 2 {
		if labels[c.Selector[i]] != c.Selector[i+1] {
			return false
		}
	}
	return true
}

// DeepCopyObject implements runtime.Object: a copy of a record is a
// *corev1.Service, a deep copy of the one it stands for, so that the
// cache's client reads Services as before (Get and List copy what they
// read; only a read with UnsafeDisableDeepCopy, which hands out the
// cached object itself, finds the record's type and fails). client-go's
// cache mutation detector (KUBE_CACHE_MUTATION_DETECTOR=true, a debugging
// aid the guard never sets) would take the copy's other type for a
// mutation.
func (c *CachedService) DeepCopyObject() runtime.Object {
	return c.Service().DeepCopy()
}

// ServiceOf returns the Service a cached object stands for: a
// *corev1.Service itself, or the Service of a *CachedService; ok is false
// for any other object. The controllers' watches on Services receive
// either (the cache's records, or a test's objects).
func ServiceOf(o client.Object) (svc *corev1.Service, ok bool) {
	switch o := o.(type) {
	case *corev1.Service:
		return o, true
	case *CachedService:
		return o.Service(), true
	}
	return nil, false
}
