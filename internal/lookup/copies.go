package lookup

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/headless-guard/headless-guard/rules"
)

// copyStub is what the cache keeps of a controller's copy (rules.Derived:
// a ReplicaSet of a Deployment, a Job of a CronJob, a Pod of any
// controller): an object of its type with only its identity and its
// controller reference. Nothing in the guard reads more of one: the
// indexes, the lookups and the audit skip copies, because the owner's
// template stands for them. In a big cluster they are most of the objects
// (every Pod of every workload, and a Deployment's old ReplicaSets): a Pod
// cached whole, as rules.Strip leaves it, costs about 3.2 KB, its stub a
// struct and a reference (docs/performance.md).
//
// A copy that loses its controller (an orphaning delete of its owner)
// arrives as an update with the whole object, and is kept whole from then
// on: the transform sees every version of an object.
func copyStub(o runtime.Object, k *rules.KindInfo) runtime.Object {
	m, ok := o.(metav1.Object)
	if !ok {
		return o
	}
	stub := k.New()
	sm, ok := stub.(metav1.Object)
	if !ok {
		return o
	}
	stub.GetObjectKind().SetGroupVersionKind(o.GetObjectKind().GroupVersionKind())
	sm.SetName(m.GetName())
	sm.SetNamespace(intern(m.GetNamespace()))
	sm.SetUID(m.GetUID())
	sm.SetResourceVersion(m.GetResourceVersion())
	sm.SetGeneration(m.GetGeneration())
	sm.SetCreationTimestamp(m.GetCreationTimestamp())
	sm.SetDeletionTimestamp(m.GetDeletionTimestamp())
	if ref := metav1.GetControllerOf(m); ref != nil {
		r := *ref
		r.APIVersion, r.Kind = intern(r.APIVersion), intern(r.Kind)
		sm.SetOwnerReferences([]metav1.OwnerReference{r})
	}
	return stub
}
