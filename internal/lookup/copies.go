package lookup

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/headless-guard/headless-guard/rules"
)

// CachedCopy is what the cache keeps of a controller's copy
// (rules.Derived: a ReplicaSet of a Deployment, a Job of a CronJob, a Pod
// of any controller): its identity and its controller reference, in a
// record. Nothing in the guard reads more of one: the indexes, the
// lookups and the audit skip copies, because the owner's template stands
// for them. In a big cluster they are most of the objects (every Pod of
// every workload, and a Deployment's old ReplicaSets): a Pod cached whole,
// as rules.Strip leaves it, costs about 2.9 KB, its record about a fifth
// of that (docs/performance.md).
//
// Readers get an object of the copy's type with that metadata and nothing
// else (Object; ObjectOf; DeepCopyObject, so that the cache's client reads
// one too). A copy that loses its controller (an orphaning delete of its
// owner) arrives as an update with the whole object, and is kept whole
// from then on: the transform sees every version of an object.
type CachedCopy struct {
	// ownerReferences are the copy's: its controller reference, or none.
	// Every copy has one, so the record keeps it here rather than in
	// recordMeta's rare fields (a rareMeta more per copy, 64 bytes, all of
	// them scanned), and reads and sets it with its own GetOwnerReferences
	// and SetOwnerReferences. With kind, the record's pointers come first.
	ownerReferences []metav1.OwnerReference
	kind            *rules.KindInfo
	recordMeta
}

// compactCopy is the record of a controller's copy o of kind k.
func compactCopy(o runtime.Object, k *rules.KindInfo) runtime.Object {
	m, ok := o.(metav1.Object)
	if !ok {
		return o
	}
	meta := metav1.ObjectMeta{
		Name: m.GetName(), Namespace: m.GetNamespace(), UID: m.GetUID(),
		ResourceVersion: m.GetResourceVersion(), Generation: m.GetGeneration(),
		CreationTimestamp: m.GetCreationTimestamp(), DeletionTimestamp: m.GetDeletionTimestamp(),
	}
	var tm metav1.TypeMeta
	tm.SetGroupVersionKind(o.GetObjectKind().GroupVersionKind())
	c := &CachedCopy{kind: k, recordMeta: newRecordMeta(tm, &meta)}
	if ref := metav1.GetControllerOf(m); ref != nil {
		r := *ref
		r.APIVersion, r.Kind = intern(r.APIVersion), intern(r.Kind)
		c.ownerReferences = []metav1.OwnerReference{r}
	}
	return c
}

// Object returns the copy as readers see it: an object of its type with
// the record's metadata.
func (c *CachedCopy) Object() client.Object {
	obj := c.kind.New().(client.Object)
	obj.GetObjectKind().SetGroupVersionKind(c.GroupVersionKind())
	obj.SetName(c.GetName())
	obj.SetNamespace(c.GetNamespace())
	obj.SetUID(c.GetUID())
	obj.SetResourceVersion(c.GetResourceVersion())
	obj.SetGeneration(c.GetGeneration())
	obj.SetCreationTimestamp(c.GetCreationTimestamp())
	obj.SetDeletionTimestamp(c.GetDeletionTimestamp())
	obj.SetOwnerReferences(c.GetOwnerReferences())
	return obj
}

// GetOwnerReferences implements metav1.Object: the copy's controller
// reference, or none.
func (c *CachedCopy) GetOwnerReferences() []metav1.OwnerReference { return c.ownerReferences }

// SetOwnerReferences implements metav1.Object.
func (c *CachedCopy) SetOwnerReferences(references []metav1.OwnerReference) {
	c.ownerReferences = references
}

// DeepCopyObject implements runtime.Object: a copy of the record is the
// object it stands for (Object), with its own owner references.
func (c *CachedCopy) DeepCopyObject() runtime.Object {
	return c.Object().DeepCopyObject()
}
