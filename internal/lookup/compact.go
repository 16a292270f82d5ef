package lookup

import (
	"reflect"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/headless-guard/headless-guard/rules"
)

// CachedService is what the informer cache keeps of a Service in place of
// the Service: its metadata as StripForCache leaves it (recordMeta) and
// the fields of its spec the rules read. Services are most of what the
// cache holds (docs/performance.md), so the record is laid out for the
// garbage collector as recordMeta is: every string, the metadata's and
// the spec's (type, clusterIP, externalName, the selector's keys and
// values, each port's name, protocol, appProtocol and target port name),
// in recordMeta's one blob; the ports in a slice of CachedServicePorts,
// which hold no pointers (the collector marks its array and never scans
// it); and the three pointers (ports, blob, rare) first, so that the
// collector scans six words of the record and no more. A Service is
// three heap objects, not the eight or so of a record of strings.
//
// Lookups hand the rules a *corev1.Service built from it (Service), equal
// to the one StripForCache would keep (lookup's compact_test.go holds them
// equal for every field rules.Strip keeps). It is a client.Object, so
// that the controllers' watches on Services receive it (they read it
// through ServiceOf), and its copy is a Service (DeepCopyObject).
type CachedService struct {
	// ports are the spec's ports: nil for none, empty (not nil) for an
	// empty list.
	ports []CachedServicePort
	recordMeta
	// typ, clusterIP and externalName are in the blob.
	typ, clusterIP, externalName span
	// selector is the spec's selector in the blob, its pairs ordered by
	// key, each key and value as its length (a uvarint) and its bytes
	// (appendPairs); flags tells a nil selector from an empty one.
	selector span
	flags    uint8
}

// The flags of a CachedService.
const (
	// hasSelector: the selector is not nil (it may be empty).
	hasSelector = 1 << iota
	publishNotReadyAddresses
)

// compactService is the record of a Service StripForCache has stripped.
func compactService(svc *corev1.Service) *CachedService {
	var buf [512]byte
	w := newBlobWriter(buf[:])
	spec := &svc.Spec
	c := &CachedService{
		recordMeta: buildRecordMeta(&w, svc.TypeMeta, &svc.ObjectMeta),
		typ:        w.add(string(spec.Type)), clusterIP: w.add(spec.ClusterIP), externalName: w.add(spec.ExternalName),
	}
	if spec.Selector != nil {
		c.flags |= hasSelector
		var pairs [256]byte
		c.selector = w.addBytes(rules.AppendPairs(pairs[:0], spec.Selector))
	}
	if spec.PublishNotReadyAddresses {
		c.flags |= publishNotReadyAddresses
	}
	if spec.Ports != nil {
		c.ports = make([]CachedServicePort, len(spec.Ports))
		for i, p := range spec.Ports {
			cp := CachedServicePort{
				name: w.add(p.Name), protocol: w.add(string(p.Protocol)),
				targetPortStr: w.add(p.TargetPort.StrVal), Port: p.Port, NodePort: p.NodePort,
				TargetPortInt: p.TargetPort.IntVal, TargetPortType: uint8(p.TargetPort.Type),
			}
			if p.AppProtocol != nil {
				cp.appProtocol, cp.hasAppProtocol = w.add(*p.AppProtocol), true
			}
			c.ports[i] = cp
		}
	}
	c.blob = w.blob()
	return c
}

// CachedServicePort is a corev1.ServicePort without pointers, in 48 bytes
// instead of 88: its strings are spans of the record's blob, the target
// port's type a byte instead of an int64, and an appProtocol a flag and a
// span instead of a pointer.
type CachedServicePort struct {
	// name, protocol, appProtocol (when hasAppProtocol) and targetPortStr
	// (TargetPort's StrVal) are in the record's blob.
	name, protocol, appProtocol, targetPortStr span
	// TargetPortInt and TargetPortType are TargetPort's IntVal and Type.
	Port, NodePort, TargetPortInt int32
	TargetPortType                uint8
	hasAppProtocol                bool
}

// servicePorts are the ports the record stands for.
func (c *CachedService) servicePorts() []corev1.ServicePort {
	if c.ports == nil {
		return nil
	}
	out := make([]corev1.ServicePort, len(c.ports))
	for i, p := range c.ports {
		out[i] = corev1.ServicePort{
			Name: c.str(p.name), Protocol: corev1.Protocol(c.str(p.protocol)), Port: p.Port, NodePort: p.NodePort,
			TargetPort: intstr.IntOrString{Type: intstr.Type(p.TargetPortType), IntVal: p.TargetPortInt, StrVal: c.str(p.targetPortStr)},
		}
		if p.hasAppProtocol {
			appProtocol := c.str(p.appProtocol)
			out[i].AppProtocol = &appProtocol
		}
	}
	return out
}

// pairs returns a reader of the record's selector's pairs.
func (c *CachedService) pairs() rules.PairReader { return rules.Pairs(c.str(c.selector)) }

// selectorMap is the record's selector: nil for none, empty (not nil)
// for an empty one.
func (c *CachedService) selectorMap() map[string]string {
	if c.flags&hasSelector == 0 {
		return nil
	}
	return pairsMap(c.pairs())
}

// pairsMap is the map of the pairs r reads: empty, not nil, for none.
func pairsMap(r rules.PairReader) map[string]string {
	m := map[string]string{}
	for {
		k, v, ok := r.Next()
		if !ok {
			return m
		}
		m[k] = v
	}
}

// Service returns the Service the record stands for, as StripForCache
// would have kept it: a new object that shares the record's strings and
// metadata maps (read only, as every cached object).
func (c *CachedService) Service() *corev1.Service {
	svc := &corev1.Service{
		Spec: corev1.ServiceSpec{
			Type: corev1.ServiceType(c.str(c.typ)), ClusterIP: c.str(c.clusterIP), ExternalName: c.str(c.externalName),
			Selector: c.selectorMap(), Ports: c.servicePorts(), PublishNotReadyAddresses: c.flags&publishNotReadyAddresses != 0,
		},
	}
	svc.TypeMeta, svc.ObjectMeta = c.meta()
	return svc
}

// selects reports whether the record's selector selects labels, as
// rules.Selects(svc.Spec.Selector, labels) does: a non-empty selector
// whose every pair is among the labels.
func (c *CachedService) selects(labels map[string]string) bool {
	return rules.PairsSelect(c.pairs(), labels)
}

// indexedPair is indexedPair of the record's selector.
func (c *CachedService) indexedPair() (string, bool) {
	var key, value string
	for r := c.pairs(); ; {
		k, v, ok := r.Next()
		if !ok {
			break
		}
		if key == "" || len(v) > len(value) || len(v) == len(value) && k < key {
			key, value = k, v
		}
	}
	return key + "=" + value, key != ""
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

// CachedStatefulSet is what the informer cache keeps of a StatefulSet in
// place of the StatefulSet: its metadata as StripForCache leaves it
// (recordMeta) and its spec as rules.Strip leaves it, field by field
// instead of in an appsv1.StatefulSet (a 1,408-byte allocation before any
// field is set). As CachedService's, its strings (serviceName, the
// policies' types, the template's hostname and subdomain, and the
// template's labels and the selector's matchLabels as sorted pairs
// instead of maps: appendPairs) are in recordMeta's blob, and the
// replicas and revision history limit are integers, not pointers, and the
// containers are encoded in the blob too (containers.go): a StatefulSet
// costs the collector a fraction of the heap objects it did. The rest of
// the spec (nil pointers, mostly) is kept as it is.
//
// Lookups hand the rules a *appsv1.StatefulSet built from it
// (StatefulSet), equal to the one StripForCache would keep (lookup's
// compact_test.go holds them equal for every field rules.Strip keeps). As
// CachedService, it is a client.Object, so that watches on StatefulSets
// receive it (the audit reads it through ObjectOf), and its copy is a
// StatefulSet (DeepCopyObject); the controllers read StatefulSets through
// CacheLookup.Object and Objects.
type CachedStatefulSet struct {
	// The pod template: what rules.Strip keeps of a StatefulSet's (its
	// pointers first).
	cachedTemplate
	recordMeta
	// The spec's selector.
	cachedSelector
	// rollingUpdate is the spec's updateStrategy's; its type is
	// updateStrategyType.
	rollingUpdate                        *appsv1.RollingUpdateStatefulSetStrategy
	persistentVolumeClaimRetentionPolicy *appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy
	ordinals                             *appsv1.StatefulSetOrdinals
	// serviceName, podManagementPolicy and updateStrategyType are in the
	// blob.
	serviceName, podManagementPolicy, updateStrategyType span
	// replicas and revisionHistoryLimit are the spec's, when flags say
	// they are set.
	replicas, revisionHistoryLimit, minReadySeconds int32
	flags                                           uint8
}

// The flags of a CachedStatefulSet.
const (
	hasReplicas = 1 << iota
	hasRevisionHistoryLimit
)

// compactStatefulSet is the record of a StatefulSet StripForCache has
// stripped.
func compactStatefulSet(sts *appsv1.StatefulSet) *CachedStatefulSet {
	var buf [512]byte
	w := newBlobWriter(buf[:])
	spec := &sts.Spec
	c := &CachedStatefulSet{
		recordMeta:  buildRecordMeta(&w, sts.TypeMeta, &sts.ObjectMeta),
		serviceName: w.add(spec.ServiceName), podManagementPolicy: w.add(string(spec.PodManagementPolicy)),
		updateStrategyType: w.add(string(spec.UpdateStrategy.Type)), rollingUpdate: spec.UpdateStrategy.RollingUpdate,
		cachedSelector: compactSelector(&w, spec.Selector), minReadySeconds: spec.MinReadySeconds,
		persistentVolumeClaimRetentionPolicy: spec.PersistentVolumeClaimRetentionPolicy, ordinals: spec.Ordinals,
		cachedTemplate: compactTemplate(&w, &spec.Template),
	}
	if spec.Replicas != nil {
		c.replicas, c.flags = *spec.Replicas, c.flags|hasReplicas
	}
	if spec.RevisionHistoryLimit != nil {
		c.revisionHistoryLimit, c.flags = *spec.RevisionHistoryLimit, c.flags|hasRevisionHistoryLimit
	}
	c.blob = w.blob()
	return c
}

// ServiceName is the StatefulSet's spec.serviceName.
func (c *CachedStatefulSet) ServiceName() string { return c.str(c.serviceName) }

// isZeroMeta reports whether m has no field set but its labels.
func isZeroMeta(m metav1.ObjectMeta) bool {
	m.Labels = nil
	return reflect.ValueOf(m).IsZero()
}

// StatefulSet returns the StatefulSet the record stands for, as
// StripForCache would have kept it: a new object that shares the record's
// strings, pointers, metadata maps and slices (read only, as every cached
// object).
func (c *CachedStatefulSet) StatefulSet() *appsv1.StatefulSet {
	sts := &appsv1.StatefulSet{
		Spec: appsv1.StatefulSetSpec{
			Selector: c.selector(&c.recordMeta), ServiceName: c.ServiceName(),
			PodManagementPolicy: appsv1.PodManagementPolicyType(c.str(c.podManagementPolicy)),
			UpdateStrategy: appsv1.StatefulSetUpdateStrategy{
				Type: appsv1.StatefulSetUpdateStrategyType(c.str(c.updateStrategyType)), RollingUpdate: c.rollingUpdate,
			},
			MinReadySeconds:                      c.minReadySeconds,
			PersistentVolumeClaimRetentionPolicy: c.persistentVolumeClaimRetentionPolicy, Ordinals: c.ordinals,
			Template: c.template(&c.recordMeta),
		},
	}
	if c.flags&hasReplicas != 0 {
		sts.Spec.Replicas = ptr.To(c.replicas)
	}
	if c.flags&hasRevisionHistoryLimit != 0 {
		sts.Spec.RevisionHistoryLimit = ptr.To(c.revisionHistoryLimit)
	}
	sts.TypeMeta, sts.ObjectMeta = c.meta()
	return sts
}

// DeepCopyObject implements runtime.Object: a copy of a record is a
// *appsv1.StatefulSet, a deep copy of the one it stands for, as
// CachedService's is a Service.
func (c *CachedStatefulSet) DeepCopyObject() runtime.Object {
	return c.StatefulSet().DeepCopy()
}

// ObjectOf returns the object a cached object stands for: the Service,
// StatefulSet, other pod-template owner or controller's copy of a record
// (CachedService, CachedStatefulSet, CachedWorkload, CachedCopy), any other
// object itself. Watches receive the cache's records.
func ObjectOf(o client.Object) client.Object {
	switch o := o.(type) {
	case *CachedService:
		return o.Service()
	case *CachedStatefulSet:
		return o.StatefulSet()
	case *CachedWorkload:
		return o.Object()
	case *CachedCopy:
		return o.Object()
	}
	return o
}
