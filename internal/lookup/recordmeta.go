package lookup

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// recordMeta is the metadata of a compact record (CachedService,
// CachedStatefulSet, CachedWorkload, CachedCopy): all of an object's
// metav1.ObjectMeta and TypeMeta, laid out for the garbage collector,
// which on every cycle marks each live object and scans each word, up to
// the last pointer, of those that hold pointers. At 100,000 Services the
// cache's pointers, not its bytes, were what the collector spent its time
// on (about eight heap objects a Service: one per string), and requests
// waited on it (docs/performance.md).
//
// So a record holds two pointers, first: blob, one string that holds all
// its strings end to end (the name, namespace, uid, resourceVersion,
// apiVersion and kind, and those of the record that embeds it, which
// adds its own strings to the same blob: blobWriter), each read back
// through a span, an offset and a length; and rare, the fields most
// objects leave empty (the deletion timestamp, labels, annotations,
// owner references, generateName, selfLink, the deletion grace period,
// finalizers, managed fields), nil when they all are. The rest has no
// pointers: the spans, the generation and the creation timestamp as
// integers (packedTime). Every record type keeps this same form, so that
// StatefulSets, workloads and controllers' copies shed their metadata's
// strings too, and the controllers and the informer read every record
// through the one metav1.Object implementation.
//
// The blob is never written once built: the getters return substrings of
// it (no allocation), which stay valid whatever is set later; a Set* of a
// string appends the new value to a copy of the blob (the spans of the
// embedding record stay where they were). Records are set only while
// they are built; the informer and the guard only read them.
//
// It implements metav1.Object and schema.ObjectKind, so that the
// informer keys the records and the controllers' watches and predicates
// read them.
type recordMeta struct {
	blob string
	rare *rareMeta
	// The strings in blob.
	apiVersion, kind, name, namespace, uid, resourceVersion span
	generation                                              int64
	created                                                 packedTime
}

// rareMeta is what recordMeta keeps of the fields most objects leave
// empty: 64 bytes of those that some kinds of object set (a StatefulSet
// an operator owns, a Service with a headless-guard annotation, an object
// being deleted), and behind a pointer the rest, which almost none
// keeps once rules.Strip has run.
type rareMeta struct {
	labels, annotations map[string]string
	ownerReferences     []metav1.OwnerReference
	deletionTimestamp   *metav1.Time
	more                *moreMeta
}

// moreMeta is the rest of rareMeta: nil when all of it is empty.
type moreMeta struct {
	generateName, selfLink     string
	deletionGracePeriodSeconds *int64
	finalizers                 []string
	managedFields              []metav1.ManagedFieldsEntry
	// created is the creation timestamp when packedTime cannot hold it
	// (packTime), with recordMeta.created.loc timeRare.
	created metav1.Time
}

// empty reports whether m holds nothing: a record need not keep it. An
// empty map or slice that is not nil is something (readers tell nil from
// empty).
func (m *rareMeta) empty() bool {
	return m.labels == nil && m.annotations == nil && m.ownerReferences == nil && m.deletionTimestamp == nil && m.more == nil
}

// empty reports whether m holds nothing, as rareMeta's.
func (m *moreMeta) empty() bool {
	return m.generateName == "" && m.selfLink == "" && m.deletionGracePeriodSeconds == nil &&
		m.finalizers == nil && m.managedFields == nil && m.created.Time == (time.Time{})
}

// span is where a string is in a record's blob: blob[off:off+n]. An
// object from an API server is a few MiB at most (the server refuses
// bigger requests), so 32 bits hold any offset.
type span struct{ off, n uint32 }

// blobWriter collects the strings of a record into its blob.
type blobWriter struct{ buf []byte }

// newBlobWriter is a writer whose first strings go to a buffer on the
// caller's stack when they fit.
func newBlobWriter(buf []byte) blobWriter { return blobWriter{buf: buf[:0]} }

// add appends s to the blob and returns where it is.
func (w *blobWriter) add(s string) span {
	if s == "" {
		return span{}
	}
	off := len(w.buf)
	w.buf = append(w.buf, s...)
	return span{off: uint32(off), n: uint32(len(s))}
}

// addBytes appends b to the blob and returns where it is.
func (w *blobWriter) addBytes(b []byte) span {
	off := len(w.buf)
	w.buf = append(w.buf, b...)
	return span{off: uint32(off), n: uint32(len(b))}
}

// blob is the blob written: its own allocation, of its exact size, which
// holds no pointers.
func (w *blobWriter) blob() string { return string(w.buf) }

// str returns the string at s in the record's blob, without copying it.
func (r *recordMeta) str(s span) string {
	end := int(s.off) + int(s.n)
	if end > len(r.blob) {
		return "" // not a span of this blob: only a zero recordMeta has none
	}
	return r.blob[s.off:end]
}

// setStr points *s at v: the current blob with v appended, a new string,
// so that what readers got of the old one stays as it was.
func (r *recordMeta) setStr(s *span, v string) {
	if r.str(*s) == v {
		return
	}
	if v == "" {
		*s = span{}
		return
	}
	w := blobWriter{buf: make([]byte, 0, len(r.blob)+len(v))}
	w.buf = append(w.buf, r.blob...)
	*s = w.add(v)
	r.blob = w.blob()
}

// packedTime is a metav1.Time as integers: a time.Time holds a pointer
// (its location). Times from an API server (metav1.Time's JSON, in
// time.Local) and those made in UTC pack; the others (another location,
// a monotonic clock reading) are kept whole in rareMeta.
type packedTime struct {
	sec  int64
	nsec int32
	loc  uint8
}

// The locations of a packedTime.
const (
	timeZero  = iota // time.Time{}
	timeUTC          // time.Unix(sec, nsec).UTC()
	timeLocal        // time.Unix(sec, nsec)
	timeRare         // rareMeta.created
)

// packTime packs t; ok is false when the packed time would not be t
// exactly (reflect.DeepEqual).
func packTime(t time.Time) (p packedTime, ok bool) {
	if t == (time.Time{}) {
		return packedTime{}, true
	}
	p = packedTime{sec: t.Unix(), nsec: int32(t.Nanosecond())}
	switch t.Location() {
	case time.UTC:
		p.loc = timeUTC
	case time.Local:
		p.loc = timeLocal
	default:
		return packedTime{}, false
	}
	// == compares the wall clock, the monotonic reading and the
	// location pointer: stricter than DeepEqual.
	return p, p.time() == t
}

// time is the time p packs (not for timeRare).
func (p packedTime) time() time.Time {
	switch p.loc {
	case timeUTC:
		return time.Unix(p.sec, int64(p.nsec)).UTC()
	case timeLocal:
		return time.Unix(p.sec, int64(p.nsec))
	}
	return time.Time{}
}

// newRecordMeta is the recordMeta of an object's type and metadata, with
// a blob of its own.
func newRecordMeta(t metav1.TypeMeta, m *metav1.ObjectMeta) recordMeta {
	var buf [256]byte
	w := newBlobWriter(buf[:])
	r := buildRecordMeta(&w, t, m)
	r.blob = w.blob()
	return r
}

// buildRecordMeta is the recordMeta of an object's type and metadata,
// its strings written to w; the caller adds its own and sets blob.
func buildRecordMeta(w *blobWriter, t metav1.TypeMeta, m *metav1.ObjectMeta) recordMeta {
	r := recordMeta{
		apiVersion: w.add(t.APIVersion), kind: w.add(t.Kind),
		name: w.add(m.Name), namespace: w.add(m.Namespace), uid: w.add(string(m.UID)),
		resourceVersion: w.add(m.ResourceVersion), generation: m.Generation,
	}
	rare := rareMeta{
		labels: m.Labels, annotations: m.Annotations, ownerReferences: m.OwnerReferences, deletionTimestamp: m.DeletionTimestamp,
	}
	more := moreMeta{
		generateName: m.GenerateName, selfLink: m.SelfLink, deletionGracePeriodSeconds: m.DeletionGracePeriodSeconds,
		finalizers: m.Finalizers, managedFields: m.ManagedFields,
	}
	if p, ok := packTime(m.CreationTimestamp.Time); ok {
		r.created = p
	} else {
		r.created.loc, more.created = timeRare, m.CreationTimestamp
	}
	if !more.empty() {
		rare.more = &more
	}
	if !rare.empty() {
		r.rare = &rare
	}
	return r
}

// meta returns the type and metadata r stands for (sharing r's strings,
// maps and slices).
func (r *recordMeta) meta() (metav1.TypeMeta, metav1.ObjectMeta) {
	m := metav1.ObjectMeta{
		Name: r.GetName(), Namespace: r.GetNamespace(), UID: r.GetUID(), ResourceVersion: r.GetResourceVersion(),
		Generation: r.generation, CreationTimestamp: r.GetCreationTimestamp(),
	}
	if rare := r.rare; rare != nil {
		m.Labels, m.Annotations, m.OwnerReferences = rare.labels, rare.annotations, rare.ownerReferences
		m.DeletionTimestamp = rare.deletionTimestamp
	}
	if more := r.moreFields(); more != nil {
		m.GenerateName, m.SelfLink, m.DeletionGracePeriodSeconds = more.generateName, more.selfLink, more.deletionGracePeriodSeconds
		m.Finalizers, m.ManagedFields = more.finalizers, more.managedFields
	}
	return metav1.TypeMeta{APIVersion: r.str(r.apiVersion), Kind: r.str(r.kind)}, m
}

// setRare applies set to r's rare fields: on a new rareMeta when r has
// none, kept only if it holds something; dropped when set empties it.
func (r *recordMeta) setRare(set func(*rareMeta)) {
	rare := r.rare
	if rare == nil {
		rare = &rareMeta{}
	}
	set(rare)
	if rare.empty() {
		rare = nil
	}
	r.rare = rare
}

// moreFields returns r's moreMeta; nil when it has none.
func (r *recordMeta) moreFields() *moreMeta {
	if r.rare == nil {
		return nil
	}
	return r.rare.more
}

// setMore applies set to r's moreMeta, as setRare to its rareMeta.
func (r *recordMeta) setMore(set func(*moreMeta)) {
	r.setRare(func(m *rareMeta) {
		more := m.more
		if more == nil {
			more = &moreMeta{}
		}
		set(more)
		if more.empty() {
			more = nil
		}
		m.more = more
	})
}

// The metav1.Object accessors.

// GetNamespace implements metav1.Object.
func (r *recordMeta) GetNamespace() string { return r.str(r.namespace) }

// SetNamespace implements metav1.Object.
func (r *recordMeta) SetNamespace(namespace string) { r.setStr(&r.namespace, namespace) }

// GetName implements metav1.Object.
func (r *recordMeta) GetName() string { return r.str(r.name) }

// SetName implements metav1.Object.
func (r *recordMeta) SetName(name string) { r.setStr(&r.name, name) }

// GetGenerateName implements metav1.Object.
func (r *recordMeta) GetGenerateName() string {
	if more := r.moreFields(); more != nil {
		return more.generateName
	}
	return ""
}

// SetGenerateName implements metav1.Object.
func (r *recordMeta) SetGenerateName(name string) {
	r.setMore(func(m *moreMeta) { m.generateName = name })
}

// GetUID implements metav1.Object.
func (r *recordMeta) GetUID() types.UID { return types.UID(r.str(r.uid)) }

// SetUID implements metav1.Object.
func (r *recordMeta) SetUID(uid types.UID) { r.setStr(&r.uid, string(uid)) }

// GetResourceVersion implements metav1.Object.
func (r *recordMeta) GetResourceVersion() string { return r.str(r.resourceVersion) }

// SetResourceVersion implements metav1.Object.
func (r *recordMeta) SetResourceVersion(version string) { r.setStr(&r.resourceVersion, version) }

// GetGeneration implements metav1.Object.
func (r *recordMeta) GetGeneration() int64 { return r.generation }

// SetGeneration implements metav1.Object.
func (r *recordMeta) SetGeneration(generation int64) { r.generation = generation }

// GetSelfLink implements metav1.Object.
func (r *recordMeta) GetSelfLink() string {
	if more := r.moreFields(); more != nil {
		return more.selfLink
	}
	return ""
}

// SetSelfLink implements metav1.Object.
func (r *recordMeta) SetSelfLink(selfLink string) {
	r.setMore(func(m *moreMeta) { m.selfLink = selfLink })
}

// GetCreationTimestamp implements metav1.Object.
func (r *recordMeta) GetCreationTimestamp() metav1.Time {
	if r.created.loc == timeRare {
		if more := r.moreFields(); more != nil {
			return more.created
		}
		return metav1.Time{}
	}
	return metav1.Time{Time: r.created.time()}
}

// SetCreationTimestamp implements metav1.Object.
func (r *recordMeta) SetCreationTimestamp(timestamp metav1.Time) {
	p, ok := packTime(timestamp.Time)
	if !ok {
		p.loc = timeRare
	}
	r.created = p
	r.setMore(func(m *moreMeta) {
		m.created = metav1.Time{}
		if !ok {
			m.created = timestamp
		}
	})
}

// GetDeletionTimestamp implements metav1.Object.
func (r *recordMeta) GetDeletionTimestamp() *metav1.Time {
	if r.rare == nil {
		return nil
	}
	return r.rare.deletionTimestamp
}

// SetDeletionTimestamp implements metav1.Object.
func (r *recordMeta) SetDeletionTimestamp(timestamp *metav1.Time) {
	r.setRare(func(m *rareMeta) { m.deletionTimestamp = timestamp })
}

// GetDeletionGracePeriodSeconds implements metav1.Object.
func (r *recordMeta) GetDeletionGracePeriodSeconds() *int64 {
	if more := r.moreFields(); more != nil {
		return more.deletionGracePeriodSeconds
	}
	return nil
}

// SetDeletionGracePeriodSeconds implements metav1.Object.
func (r *recordMeta) SetDeletionGracePeriodSeconds(s *int64) {
	r.setMore(func(m *moreMeta) { m.deletionGracePeriodSeconds = s })
}

// GetLabels implements metav1.Object.
func (r *recordMeta) GetLabels() map[string]string {
	if r.rare == nil {
		return nil
	}
	return r.rare.labels
}

// SetLabels implements metav1.Object.
func (r *recordMeta) SetLabels(labels map[string]string) {
	r.setRare(func(m *rareMeta) { m.labels = labels })
}

// GetAnnotations implements metav1.Object.
func (r *recordMeta) GetAnnotations() map[string]string {
	if r.rare == nil {
		return nil
	}
	return r.rare.annotations
}

// SetAnnotations implements metav1.Object.
func (r *recordMeta) SetAnnotations(annotations map[string]string) {
	r.setRare(func(m *rareMeta) { m.annotations = annotations })
}

// GetFinalizers implements metav1.Object.
func (r *recordMeta) GetFinalizers() []string {
	if more := r.moreFields(); more != nil {
		return more.finalizers
	}
	return nil
}

// SetFinalizers implements metav1.Object.
func (r *recordMeta) SetFinalizers(finalizers []string) {
	r.setMore(func(m *moreMeta) { m.finalizers = finalizers })
}

// GetOwnerReferences implements metav1.Object.
func (r *recordMeta) GetOwnerReferences() []metav1.OwnerReference {
	if r.rare == nil {
		return nil
	}
	return r.rare.ownerReferences
}

// SetOwnerReferences implements metav1.Object.
func (r *recordMeta) SetOwnerReferences(references []metav1.OwnerReference) {
	r.setRare(func(m *rareMeta) { m.ownerReferences = references })
}

// GetManagedFields implements metav1.Object.
func (r *recordMeta) GetManagedFields() []metav1.ManagedFieldsEntry {
	if more := r.moreFields(); more != nil {
		return more.managedFields
	}
	return nil
}

// SetManagedFields implements metav1.Object.
func (r *recordMeta) SetManagedFields(managedFields []metav1.ManagedFieldsEntry) {
	r.setMore(func(m *moreMeta) { m.managedFields = managedFields })
}

// The type: runtime.Object's GetObjectKind, and schema.ObjectKind.

// GetObjectKind implements runtime.Object (with the record's
// DeepCopyObject): the record is its own schema.ObjectKind, as a
// metav1.TypeMeta is.
func (r *recordMeta) GetObjectKind() schema.ObjectKind { return r }

// GroupVersionKind implements schema.ObjectKind.
func (r *recordMeta) GroupVersionKind() schema.GroupVersionKind {
	return schema.FromAPIVersionAndKind(r.str(r.apiVersion), r.str(r.kind))
}

// SetGroupVersionKind implements schema.ObjectKind.
func (r *recordMeta) SetGroupVersionKind(gvk schema.GroupVersionKind) {
	apiVersion, kind := gvk.ToAPIVersionAndKind()
	r.setStr(&r.apiVersion, apiVersion)
	r.setStr(&r.kind, kind)
}

var (
	_ metav1.Object     = &recordMeta{}
	_ schema.ObjectKind = &recordMeta{}
)
