package lookup

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// recordMeta is the metadata of a compact record (CachedService,
// CachedStatefulSet): all of an object's metav1.ObjectMeta and TypeMeta,
// in 184 bytes instead of 288. The fields most objects have are fields;
// those most objects leave empty (generateName, selfLink, the deletion
// grace period, finalizers, managed fields) are behind a pointer, nil
// when they all are. It implements metav1.Object, so that the informer
// keys the records and the controllers' watches and predicates read them.
type recordMeta struct {
	// TypeMeta is usually empty (a client's decoder clears a typed
	// object's), but not in every test.
	metav1.TypeMeta
	Name, Namespace   string
	UID               types.UID
	ResourceVersion   string
	Generation        int64
	CreationTimestamp metav1.Time
	DeletionTimestamp *metav1.Time
	Labels            map[string]string
	Annotations       map[string]string
	OwnerReferences   []metav1.OwnerReference
	rare              *rareMeta
}

// rareMeta is what recordMeta keeps of the fields most objects leave
// empty.
type rareMeta struct {
	generateName, selfLink     string
	deletionGracePeriodSeconds *int64
	finalizers                 []string
	managedFields              []metav1.ManagedFieldsEntry
}

// newRecordMeta is the recordMeta of an object's type and metadata.
func newRecordMeta(t metav1.TypeMeta, m *metav1.ObjectMeta) recordMeta {
	r := recordMeta{
		TypeMeta: t, Name: m.Name, Namespace: m.Namespace, UID: m.UID, ResourceVersion: m.ResourceVersion,
		Generation: m.Generation, CreationTimestamp: m.CreationTimestamp, DeletionTimestamp: m.DeletionTimestamp,
		Labels: m.Labels, Annotations: m.Annotations, OwnerReferences: m.OwnerReferences,
	}
	rare := rareMeta{
		generateName: m.GenerateName, selfLink: m.SelfLink,
		deletionGracePeriodSeconds: m.DeletionGracePeriodSeconds, finalizers: m.Finalizers, managedFields: m.ManagedFields,
	}
	if rare.generateName != "" || rare.selfLink != "" ||
		rare.deletionGracePeriodSeconds != nil || rare.finalizers != nil || rare.managedFields != nil {
		r.rare = &rare
	}
	return r
}

// meta returns the type and metadata r stands for (sharing r's maps and
// slices).
func (r *recordMeta) meta() (metav1.TypeMeta, metav1.ObjectMeta) {
	m := metav1.ObjectMeta{
		Name: r.Name, Namespace: r.Namespace, UID: r.UID, ResourceVersion: r.ResourceVersion,
		Generation: r.Generation, CreationTimestamp: r.CreationTimestamp, DeletionTimestamp: r.DeletionTimestamp,
		Labels: r.Labels, Annotations: r.Annotations, OwnerReferences: r.OwnerReferences,
	}
	if rare := r.rare; rare != nil {
		m.GenerateName, m.SelfLink = rare.generateName, rare.selfLink
		m.DeletionGracePeriodSeconds, m.Finalizers, m.ManagedFields = rare.deletionGracePeriodSeconds, rare.finalizers, rare.managedFields
	}
	return r.TypeMeta, m
}

// rareFields returns r.rare, allocated on the first set of a rare field
// to a value that is not empty; nil while there is none (a record whose
// managed fields rules.Strip clears again must not grow by a rareMeta).
func (r *recordMeta) rareFields(empty bool) *rareMeta {
	if r.rare == nil && !empty {
		r.rare = &rareMeta{}
	}
	if r.rare == nil {
		return &rareMeta{} // set and dropped: nothing to keep
	}
	return r.rare
}

// The metav1.Object accessors.

// GetNamespace implements metav1.Object.
func (r *recordMeta) GetNamespace() string { return r.Namespace }

// SetNamespace implements metav1.Object.
func (r *recordMeta) SetNamespace(namespace string) { r.Namespace = namespace }

// GetName implements metav1.Object.
func (r *recordMeta) GetName() string { return r.Name }

// SetName implements metav1.Object.
func (r *recordMeta) SetName(name string) { r.Name = name }

// GetGenerateName implements metav1.Object.
func (r *recordMeta) GetGenerateName() string {
	if r.rare == nil {
		return ""
	}
	return r.rare.generateName
}

// SetGenerateName implements metav1.Object.
func (r *recordMeta) SetGenerateName(name string) { r.rareFields(name == "").generateName = name }

// GetUID implements metav1.Object.
func (r *recordMeta) GetUID() types.UID { return r.UID }

// SetUID implements metav1.Object.
func (r *recordMeta) SetUID(uid types.UID) { r.UID = uid }

// GetResourceVersion implements metav1.Object.
func (r *recordMeta) GetResourceVersion() string { return r.ResourceVersion }

// SetResourceVersion implements metav1.Object.
func (r *recordMeta) SetResourceVersion(version string) { r.ResourceVersion = version }

// GetGeneration implements metav1.Object.
func (r *recordMeta) GetGeneration() int64 { return r.Generation }

// SetGeneration implements metav1.Object.
func (r *recordMeta) SetGeneration(generation int64) { r.Generation = generation }

// GetSelfLink implements metav1.Object.
func (r *recordMeta) GetSelfLink() string {
	if r.rare == nil {
		return ""
	}
	return r.rare.selfLink
}

// SetSelfLink implements metav1.Object.
func (r *recordMeta) SetSelfLink(selfLink string) { r.rareFields(selfLink == "").selfLink = selfLink }

// GetCreationTimestamp implements metav1.Object.
func (r *recordMeta) GetCreationTimestamp() metav1.Time { return r.CreationTimestamp }

// SetCreationTimestamp implements metav1.Object.
func (r *recordMeta) SetCreationTimestamp(timestamp metav1.Time) { r.CreationTimestamp = timestamp }

// GetDeletionTimestamp implements metav1.Object.
func (r *recordMeta) GetDeletionTimestamp() *metav1.Time { return r.DeletionTimestamp }

// SetDeletionTimestamp implements metav1.Object.
func (r *recordMeta) SetDeletionTimestamp(timestamp *metav1.Time) { r.DeletionTimestamp = timestamp }

// GetDeletionGracePeriodSeconds implements metav1.Object.
func (r *recordMeta) GetDeletionGracePeriodSeconds() *int64 {
	if r.rare == nil {
		return nil
	}
	return r.rare.deletionGracePeriodSeconds
}

// SetDeletionGracePeriodSeconds implements metav1.Object.
func (r *recordMeta) SetDeletionGracePeriodSeconds(s *int64) {
	r.rareFields(s == nil).deletionGracePeriodSeconds = s
}

// GetLabels implements metav1.Object.
func (r *recordMeta) GetLabels() map[string]string { return r.Labels }

// SetLabels implements metav1.Object.
func (r *recordMeta) SetLabels(labels map[string]string) { r.Labels = labels }

// GetAnnotations implements metav1.Object.
func (r *recordMeta) GetAnnotations() map[string]string { return r.Annotations }

// SetAnnotations implements metav1.Object.
func (r *recordMeta) SetAnnotations(annotations map[string]string) { r.Annotations = annotations }

// GetFinalizers implements metav1.Object.
func (r *recordMeta) GetFinalizers() []string {
	if r.rare == nil {
		return nil
	}
	return r.rare.finalizers
}

// SetFinalizers implements metav1.Object.
func (r *recordMeta) SetFinalizers(finalizers []string) {
	r.rareFields(finalizers == nil).finalizers = finalizers
}

// GetOwnerReferences implements metav1.Object.
func (r *recordMeta) GetOwnerReferences() []metav1.OwnerReference { return r.OwnerReferences }

// SetOwnerReferences implements metav1.Object.
func (r *recordMeta) SetOwnerReferences(references []metav1.OwnerReference) {
	r.OwnerReferences = references
}

// GetManagedFields implements metav1.Object.
func (r *recordMeta) GetManagedFields() []metav1.ManagedFieldsEntry {
	if r.rare == nil {
		return nil
	}
	return r.rare.managedFields
}

// SetManagedFields implements metav1.Object.
func (r *recordMeta) SetManagedFields(managedFields []metav1.ManagedFieldsEntry) {
	r.rareFields(managedFields == nil).managedFields = managedFields
}

var _ metav1.Object = &recordMeta{}
