package lookup

import (
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/headless-guard/headless-guard/rules"
)

// StripForCache is the cache transform. It keeps only what the rules read
// (rules.Strip), and drops, from the cache only, what nothing in the guard
// reads from it, so that memory grows with the wiring and not with the
// objects:
//   - of a controller's copy (rules.Derived), all but its identity and
//     its controller reference (CachedCopy);
//   - metadata labels, except a Pod's (they are its template's), a
//     Namespace's (mode and opt-in labels) and a pod-template owner's
//     opt-out labels (the Injector reads headless-guard.io/inject of a
//     StatefulSet from the cache);
//   - of a Service's spec, all but type, clusterIP, externalName, selector,
//     ports and publishNotReadyAddresses (what the rules read; nothing in
//     the guard writes a Service it read), and a Service is kept as a
//     CachedService, a record of those fields (compact.go);
//   - a StatefulSet is kept as a CachedStatefulSet, a record of what
//     rules.Strip keeps of it (compact.go);
//   - of the other pod-template owners but Pods (Deployments, DaemonSets,
//     ReplicaSets and Jobs no controller owns, CronJobs), all of the spec
//     but the selector, a Job's manualSelector and the pod template (what
//     the rules read), in a CachedWorkload (workloads.go).
//
// Strings that repeat across objects (namespaces, label and selector keys,
// port names and protocols, enums) are interned: a decoded object has a
// copy of each of its own. A record's own strings are not: it keeps them
// in one blob, a heap object the garbage collector need not scan
// (recordMeta).
func StripForCache(obj any) (any, error) {
	switch obj.(type) {
	case *CachedService, *CachedStatefulSet, *CachedWorkload, *CachedCopy:
		// Transformed already: the informer's queue may run the transform
		// again on what a watch-list's store transformed.
		return obj, nil
	}
	o, ok := obj.(runtime.Object)
	if !ok {
		return obj, nil
	}
	if rules.Derived(o) {
		return compactCopy(o, rules.KindInfoOf(o)), nil
	}
	rules.Strip(o)
	m, ok := o.(metav1.Object)
	if !ok {
		return obj, nil
	}
	m.SetNamespace(intern(m.GetNamespace()))
	switch o := o.(type) {
	case *corev1.Pod:
		o.Labels = internMap(o.Labels, false)
		internPodSpec(&o.Spec)
	case *corev1.Namespace:
	case *corev1.Service:
		// The record copies every string of the Service into its blob
		// (compactService): interning them would buy nothing.
		o.Labels = nil
		return compactService(o), nil
	}
	// The pod-template owners (rules.Kinds): their template and selector.
	if k := rules.KindInfoOf(o); k != nil && k.OwnTemplate != nil {
		m.SetLabels(optOutLabels(m.GetLabels()))
		if k.Selector != nil {
			internSelector(k.Selector(o))
		}
		internTemplate(k.OwnTemplate(o))
	}
	if sts, ok := o.(*appsv1.StatefulSet); ok {
		// Its strings go to its record's blob, its containers' as they
		// are, interned above.
		return compactStatefulSet(sts), nil
	}
	if k := rules.KindInfoOf(o); compactsWorkload(k) {
		return compactWorkload(o, k), nil
	}
	return obj, nil
}

func internSelector(s *metav1.LabelSelector) {
	if s != nil {
		s.MatchLabels = internMap(s.MatchLabels, false)
	}
}

func internTemplate(t *corev1.PodTemplateSpec) {
	t.Labels = internMap(t.Labels, false)
	internPodSpec(&t.Spec)
}

func internPodSpec(spec *corev1.PodSpec) {
	for _, cs := range [][]corev1.Container{spec.Containers, spec.InitContainers} {
		for i := range cs {
			for j := range cs[i].Ports {
				p := &cs[i].Ports[j]
				p.Name, p.Protocol = intern(p.Name), corev1.Protocol(intern(string(p.Protocol)))
			}
		}
	}
}

// internMap returns m with interned keys (and values, with values).
func internMap(m map[string]string, values bool) map[string]string {
	if len(m) == 0 {
		return m
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		if values {
			v = intern(v)
		}
		out[intern(k)] = v
	}
	return out
}

// interned holds one copy of each string the transform has seen, up to
// maxInterned: label keys and the like are few, and the bound keeps
// unique values (if some field holds them) from growing it forever.
var interned = struct {
	sync.Mutex
	m map[string]string
}{m: map[string]string{}}

const maxInterned = 1 << 14

func intern(s string) string {
	if s == "" {
		return s
	}
	interned.Lock()
	defer interned.Unlock()
	if c, ok := interned.m[s]; ok {
		return c
	}
	if len(interned.m) < maxInterned {
		interned.m[s] = s
	}
	return s
}

// optOutLabels keeps the labels by which an object opts out of a fix.
func optOutLabels(labels map[string]string) map[string]string {
	var out map[string]string
	for _, k := range []string{rules.InjectLabel, rules.FixLabelsLabel} {
		if v, ok := labels[k]; ok {
			if out == nil {
				out = map[string]string{}
			}
			out[k] = intern(v)
		}
	}
	return out
}
