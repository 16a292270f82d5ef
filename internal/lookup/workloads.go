package lookup

import (
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/headless-guard/headless-guard/rules"
)

// CachedWorkload is what the informer cache keeps of a pod-template owner
// other than a StatefulSet (a Deployment, a DaemonSet, a ReplicaSet or a
// Job that no controller owns, a CronJob) in place of the object: its
// metadata as StripForCache leaves it (recordMeta), its selector (and a
// Job's manualSelector) and its pod template as rules.Strip leaves it:
// what the rules read of it (rules.Kinds: Selector, Template). The rest of
// its spec (replicas, strategy, schedule, ...) no rule reads, and the
// cache does not keep. A Deployment cached whole costs about 2.5 KB, its
// record about a third of that (docs/performance.md); in a big cluster
// there are as many Deployments as applications.
//
// Readers get an object of its kind with those fields (Object; ObjectOf;
// DeepCopyObject, so that the cache's client reads one too), equal to
// what StripForCache keeps of it (lookup's compact_test.go).
type CachedWorkload struct {
	recordMeta
	kind *rules.KindInfo
	cachedSelector
	// ManualSelector is a Job's spec.manualSelector.
	ManualSelector *bool
	cachedTemplate
}

// cachedSelector is a label selector as a record keeps it: the pairs of
// its matchLabels when it has nothing else (pairsOf; a map of two pairs
// costs about 300 bytes), the selector itself otherwise (nil, or with
// matchExpressions or without matchLabels).
type cachedSelector struct {
	// Selector is the selector when SelectorLabels cannot stand for it.
	Selector *metav1.LabelSelector
	// SelectorLabels are the pairs of its matchLabels; nil when Selector
	// holds it.
	SelectorLabels []string
}

// compactSelector is the record of s.
func compactSelector(s *metav1.LabelSelector) cachedSelector {
	if s != nil && s.MatchLabels != nil && s.MatchExpressions == nil {
		return cachedSelector{SelectorLabels: pairsOf(s.MatchLabels)}
	}
	return cachedSelector{Selector: s}
}

// selector returns the selector the record stands for.
func (c *cachedSelector) selector() *metav1.LabelSelector {
	if c.SelectorLabels != nil {
		return &metav1.LabelSelector{MatchLabels: mapOf(c.SelectorLabels)}
	}
	return c.Selector
}

// cachedTemplate is a pod template as rules.Strip leaves it: its labels as
// sorted pairs (pairsOf), the rest of its metadata (nil when there is
// none), and of its spec the hostname, subdomain, containers and (a
// StatefulSet's) volumes.
type cachedTemplate struct {
	// TemplateLabels are the pairs of the pod template's labels.
	TemplateLabels []string
	// TemplateMeta is the rest of the template's metadata (annotations,
	// mostly); nil when there is none.
	TemplateMeta *metav1.ObjectMeta
	// The template's spec: what rules.Strip keeps.
	Hostname, Subdomain        string
	Containers, InitContainers []CachedContainer
	Volumes                    []corev1.Volume
}

// compactTemplate is the record of a pod template rules.Strip has
// stripped.
func compactTemplate(t *corev1.PodTemplateSpec) cachedTemplate {
	c := cachedTemplate{
		TemplateLabels: pairsOf(t.Labels),
		Hostname:       t.Spec.Hostname, Subdomain: t.Spec.Subdomain,
		Containers: compactContainers(t.Spec.Containers), InitContainers: compactContainers(t.Spec.InitContainers),
		Volumes: t.Spec.Volumes,
	}
	if meta := t.ObjectMeta; !isZeroMeta(meta) {
		meta.Labels = nil
		c.TemplateMeta = &meta
	}
	return c
}

// template returns the pod template the record stands for.
func (c *cachedTemplate) template() corev1.PodTemplateSpec {
	t := corev1.PodTemplateSpec{Spec: corev1.PodSpec{
		Hostname: c.Hostname, Subdomain: c.Subdomain,
		Containers: containers(c.Containers), InitContainers: containers(c.InitContainers), Volumes: c.Volumes,
	}}
	if c.TemplateMeta != nil {
		t.ObjectMeta = *c.TemplateMeta
	}
	t.Labels = mapOf(c.TemplateLabels)
	return t
}

// workloadKinds are the kinds the cache keeps as CachedWorkloads: the
// pod-template owners but StatefulSets (CachedStatefulSets) and Pods (a
// bare Pod is its own template). CachedWorkload.Object sets each one's
// fields; a kind added to rules.Kinds is kept whole until it is listed
// here.
var workloadKinds = map[string]bool{
	rules.KindDeployment: true, rules.KindDaemonSet: true, rules.KindReplicaSet: true,
	rules.KindJob: true, rules.KindCronJob: true,
}

// compactsWorkload reports whether the cache keeps objects of kind k as
// CachedWorkloads.
func compactsWorkload(k *rules.KindInfo) bool {
	return k != nil && workloadKinds[k.Name]
}

// compactWorkload is the record of a pod-template owner of kind k
// (compactsWorkload) that StripForCache has stripped.
func compactWorkload(o runtime.Object, k *rules.KindInfo) runtime.Object {
	acc, ok := o.(metav1.ObjectMetaAccessor)
	if !ok {
		return o
	}
	m, ok := acc.GetObjectMeta().(*metav1.ObjectMeta)
	if !ok {
		return o
	}
	var tm metav1.TypeMeta
	tm.SetGroupVersionKind(o.GetObjectKind().GroupVersionKind())
	c := &CachedWorkload{kind: k, recordMeta: newRecordMeta(tm, m), cachedTemplate: compactTemplate(k.OwnTemplate(o))}
	if k.Selector != nil {
		c.cachedSelector = compactSelector(k.Selector(o))
	}
	if job, ok := o.(*batchv1.Job); ok {
		c.ManualSelector = job.Spec.ManualSelector
	}
	return c
}

// Object returns the object the record stands for, as StripForCache
// would have kept it: a new object that shares the record's strings,
// pointers, metadata maps and slices (read only, as every cached object).
func (c *CachedWorkload) Object() client.Object {
	obj := c.kind.New().(client.Object)
	tm, om := c.meta()
	selector := c.selector()
	switch o := obj.(type) {
	case *appsv1.Deployment:
		o.TypeMeta, o.ObjectMeta, o.Spec.Selector = tm, om, selector
	case *appsv1.DaemonSet:
		o.TypeMeta, o.ObjectMeta, o.Spec.Selector = tm, om, selector
	case *appsv1.ReplicaSet:
		o.TypeMeta, o.ObjectMeta, o.Spec.Selector = tm, om, selector
	case *batchv1.Job:
		o.TypeMeta, o.ObjectMeta, o.Spec.Selector, o.Spec.ManualSelector = tm, om, selector, c.ManualSelector
	case *batchv1.CronJob:
		o.TypeMeta, o.ObjectMeta = tm, om
	}
	*c.kind.OwnTemplate(obj) = c.template()
	return obj
}

// DeepCopyObject implements runtime.Object: a copy of the record is the
// object it stands for (Object), deep-copied.
func (c *CachedWorkload) DeepCopyObject() runtime.Object {
	return c.Object().DeepCopyObject()
}
