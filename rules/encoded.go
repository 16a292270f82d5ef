package rules

import (
	"unsafe"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Encoded is an object of a kind the rules read (Kinds), kept as the
// protobuf encoding of what Strip leaves of it, the API server's own
// storage encoding: no pointer for the garbage collector to follow, and a
// fifth to a tenth of the decoded object's memory. Object decodes it
// again. Beside the encoding it keeps what CompactIndex selects it by, so
// that a lookup decodes only the objects it answers with.
//
// The offline checker keeps every object of its input this way (a
// repository of 100,000 documents is one unit when it is one directory):
// its memory then follows the input's bytes, not the k8s.io/api structs'
// fixed sizes (a Service is a 640-byte allocation before any field is
// set, a StatefulSet 1,408).
type Encoded struct {
	kind *KindInfo
	// blob is the object's name, namespace, serviceName (a StatefulSet's
	// spec.serviceName) and pairs, then its protobuf encoding, in an
	// Arena. pairs are what selectors are matched against (pairs
	// encoding): a Service's selector, or a pod-template owner's template
	// labels (a Job's with those the API server adds).
	blob                             string
	nameLen, nsLen, svcLen, pairsLen uint32
	flags                            uint8
}

const (
	// encodedDerived: a controller's copy (Derived), which the workload
	// lookups leave out.
	encodedDerived uint8 = 1 << iota
	// encodedAnnotated: Strip kept annotations (the skip list, the helm
	// hook marker): Annotated.
	encodedAnnotated
	// encodedNoData: the object could not be encoded, only what selects
	// it (CompactIndex keeps the object itself).
	encodedNoData
)

func (e *Encoded) name() string      { return e.blob[:e.nameLen] }
func (e *Encoded) namespace() string { return e.blob[e.nameLen : e.nameLen+e.nsLen] }

func (e *Encoded) serviceName() string {
	at := e.nameLen + e.nsLen
	return e.blob[at : at+e.svcLen]
}

func (e *Encoded) pairs() string {
	at := e.nameLen + e.nsLen + e.svcLen
	return e.blob[at : at+e.pairsLen]
}

func (e *Encoded) data() string { return e.blob[e.nameLen+e.nsLen+e.svcLen+e.pairsLen:] }

// Valid reports whether e holds an object.
func (e *Encoded) Valid() bool { return e.kind != nil }

// Kind is the object's entry of Kinds.
func (e *Encoded) Kind() *KindInfo { return e.kind }

// Annotated reports whether the object kept annotations (Strip keeps only
// those the rules read): one without any needs no decoding to be read
// for them.
func (e *Encoded) Annotated() bool { return e.flags&encodedAnnotated != 0 }

// Object decodes the object: a new one at each call, as Strip left it,
// with its TypeMeta set. It is nil for an Encoded without data (whose
// object CompactIndex.Object answers with).
func (e *Encoded) Object() runtime.Object {
	if e.flags&encodedNoData != 0 {
		return nil
	}
	obj := e.kind.New()
	data := e.data()
	if err := obj.(protoMessage).Unmarshal(unsafe.Slice(unsafe.StringData(data), len(data))); err != nil {
		// The bytes are our own encoding of an object of this type.
		panic("rules: decoding an encoded " + e.kind.Name + ": " + err.Error())
	}
	obj.GetObjectKind().SetGroupVersionKind(e.kind.GVK)
	return obj
}

// protoMessage is what k8s.io/api's generated types implement.
type protoMessage interface {
	Size() int
	MarshalToSizedBuffer([]byte) (int, error)
	Unmarshal([]byte) error
}

// Arena holds encodings in chunks that are never moved or freed while an
// Encoded refers to them: one per goroutine that encodes.
type Arena struct {
	chunk []byte
}

// arenaChunk is the size of an Arena's chunks; an encoding larger than a
// quarter of it gets a chunk of its own.
const arenaChunk = 64 << 10

// alloc returns n bytes of the arena's current chunk.
func (a *Arena) alloc(n int) []byte {
	if n > arenaChunk/4 {
		return make([]byte, n)
	}
	if cap(a.chunk)-len(a.chunk) < n {
		a.chunk = make([]byte, 0, arenaChunk)
	}
	start := len(a.chunk)
	a.chunk = a.chunk[:start+n]
	return a.chunk[start : start+n : start+n]
}

// Encode keeps obj, an object of a kind the rules read that Strip has
// stripped, in its Encoded form, with the encoding in a. ok is false for
// an object of any other kind, or one that cannot be encoded (the caller
// then keeps obj). obj is not used again by e.
func Encode(obj runtime.Object, a *Arena) (e Encoded, ok bool) {
	e, ok = encode(obj, a, true)
	return e, ok && e.flags&encodedNoData == 0
}

// encode is Encode; without data, or when obj cannot be encoded, e holds
// only what selects the object (encodedNoData).
func encode(obj runtime.Object, a *Arena, withData bool) (e Encoded, ok bool) {
	k := KindInfoOf(obj)
	m, isMeta := obj.(metav1.Object)
	if k == nil || !isMeta {
		return Encoded{}, false
	}
	e = Encoded{kind: k}
	if len(m.GetAnnotations()) > 0 {
		e.flags |= encodedAnnotated
	}
	if Derived(obj) {
		e.flags |= encodedDerived
	}
	var selected map[string]string
	if svc, isService := obj.(*corev1.Service); isService {
		selected = svc.Spec.Selector
	} else if t := k.Template(obj); t != nil {
		selected = t.Labels
	}
	var serviceName string
	if sts, isSet := obj.(*appsv1.StatefulSet); isSet {
		serviceName = sts.Spec.ServiceName
	}
	var scratch [512]byte
	head := append(scratch[:0], m.GetName()...)
	head = append(head, m.GetNamespace()...)
	head = append(head, serviceName...)
	head = AppendPairs(head, selected)
	e.nameLen, e.nsLen, e.svcLen = uint32(len(m.GetName())), uint32(len(m.GetNamespace())), uint32(len(serviceName))
	e.pairsLen = uint32(len(head)) - e.nameLen - e.nsLen - e.svcLen
	p, isProto := obj.(protoMessage)
	withData = withData && isProto
	size := 0
	if withData {
		size = p.Size()
	}
	buf := a.alloc(len(head) + size)
	copy(buf, head)
	if withData {
		if n, err := p.MarshalToSizedBuffer(buf[len(head):]); err != nil || n != size {
			withData = false
		}
	}
	if !withData {
		e.flags |= encodedNoData
		buf = buf[:len(head)]
	}
	if len(buf) > 0 {
		e.blob = unsafe.String(&buf[0], len(buf))
	}
	return e, true
}
