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
	// Its pointers first (cachedTemplate), as CachedStatefulSet's.
	cachedTemplate
	kind *rules.KindInfo
	// ManualSelector is a Job's spec.manualSelector.
	ManualSelector *bool
	recordMeta
	cachedSelector
}

// cachedSelector is a label selector as a record keeps it: the pairs of
// its matchLabels in the record's blob (appendPairs) when it has nothing
// else (a map of two pairs costs about 300 bytes and three heap objects),
// the selector itself otherwise (nil, or with matchExpressions or
// without matchLabels).
type cachedSelector struct {
	// Selector is the selector when selectorLabels cannot stand for it.
	Selector *metav1.LabelSelector
	// selectorLabels are the pairs of its matchLabels, when
	// hasSelectorLabels; Selector is nil then.
	selectorLabels    span
	hasSelectorLabels bool
}

// compactSelector is the record of s, its pairs written to w.
func compactSelector(w *blobWriter, s *metav1.LabelSelector) cachedSelector {
	if s != nil && s.MatchLabels != nil && s.MatchExpressions == nil {
		var pairs [256]byte
		return cachedSelector{selectorLabels: w.addBytes(rules.AppendPairs(pairs[:0], s.MatchLabels)), hasSelectorLabels: true}
	}
	return cachedSelector{Selector: s}
}

// selector returns the selector the record (whose metadata is r) stands
// for.
func (c *cachedSelector) selector(r *recordMeta) *metav1.LabelSelector {
	if c.hasSelectorLabels {
		return &metav1.LabelSelector{MatchLabels: pairsMap(rules.Pairs(r.str(c.selectorLabels)))}
	}
	return c.Selector
}

// cachedTemplate is a pod template as rules.Strip leaves it: its labels as
// sorted pairs, its hostname and subdomain, and its containers and init
// containers (containers.go) in the record's blob, the rest of its
// metadata (nil when there is none), and (a StatefulSet's) volumes. Its
// pointers come first: a record that embeds it first is scanned no
// further than its last one.
type cachedTemplate struct {
	// TemplateMeta is the rest of the template's metadata (annotations,
	// mostly); nil when there is none.
	TemplateMeta *metav1.ObjectMeta
	// Volumes are the template spec's, as rules.Strip keeps them.
	Volumes []corev1.Volume
	// containerSide is what the containers' encoding does not hold; nil
	// when there is none.
	containerSide *containerSide
	// templateLabels are the pairs of the pod template's labels
	// (appendPairs): nil labels when not hasTemplateLabels.
	templateLabels      span
	hostname, subdomain span
	// containers are the containers and then the init containers,
	// encoded (containerEncoder).
	containers        span
	hasTemplateLabels bool
}

// compactTemplate is the record of a pod template rules.Strip has
// stripped, its strings written to w.
func compactTemplate(w *blobWriter, t *corev1.PodTemplateSpec) cachedTemplate {
	c := cachedTemplate{
		hostname: w.add(t.Spec.Hostname), subdomain: w.add(t.Spec.Subdomain),
		Volumes: t.Spec.Volumes,
	}
	var buf [1024]byte
	enc := containerEncoder{buf: buf[:0]}
	enc.containers(t.Spec.Containers)
	enc.containers(t.Spec.InitContainers)
	c.containers, c.containerSide = w.addBytes(enc.buf), enc.side
	if t.Labels != nil {
		var pairs [512]byte
		c.templateLabels, c.hasTemplateLabels = w.addBytes(rules.AppendPairs(pairs[:0], t.Labels)), true
	}
	if meta := t.ObjectMeta; !isZeroMeta(meta) {
		meta.Labels = nil
		c.TemplateMeta = &meta
	}
	return c
}

// labelPairs reads the template's labels (none for nil labels) of the
// record whose metadata is r.
func (c *cachedTemplate) labelPairs(r *recordMeta) rules.PairReader {
	return rules.Pairs(r.str(c.templateLabels))
}

// template returns the pod template the record (whose metadata is r)
// stands for.
func (c *cachedTemplate) template(r *recordMeta) corev1.PodTemplateSpec {
	t := corev1.PodTemplateSpec{Spec: corev1.PodSpec{
		Hostname: r.str(c.hostname), Subdomain: r.str(c.subdomain), Volumes: c.Volumes,
	}}
	d := containerDecoder{s: r.str(c.containers), side: c.containerSide}
	t.Spec.Containers = d.containers()
	t.Spec.InitContainers = d.containers()
	if c.TemplateMeta != nil {
		t.ObjectMeta = *c.TemplateMeta
	}
	if c.hasTemplateLabels {
		t.Labels = pairsMap(c.labelPairs(r))
	}
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
	var buf [512]byte
	w := newBlobWriter(buf[:])
	c := &CachedWorkload{kind: k, recordMeta: buildRecordMeta(&w, tm, m), cachedTemplate: compactTemplate(&w, k.OwnTemplate(o))}
	if k.Selector != nil {
		c.cachedSelector = compactSelector(&w, k.Selector(o))
	}
	c.blob = w.blob()
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
	selector := c.selector(&c.recordMeta)
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
	*c.kind.OwnTemplate(obj) = c.template(&c.recordMeta)
	return obj
}

// Subdomain is the pod template's spec.subdomain.
func (c *CachedWorkload) Subdomain() string { return c.str(c.subdomain) }

// DeepCopyObject implements runtime.Object: a copy of the record is the
// object it stands for (Object), deep-copied.
func (c *CachedWorkload) DeepCopyObject() runtime.Object {
	return c.Object().DeepCopyObject()
}
