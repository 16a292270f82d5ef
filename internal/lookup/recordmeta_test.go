package lookup

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/headless-guard/headless-guard/rules"
)

// hasPointers reports whether a value of typ holds a pointer the garbage
// collector must scan.
func hasPointers(typ reflect.Type) bool {
	switch typ.Kind() {
	case reflect.Pointer, reflect.String, reflect.Slice, reflect.Map, reflect.Interface,
		reflect.Chan, reflect.Func, reflect.UnsafePointer:
		return true
	case reflect.Array:
		return typ.Len() > 0 && hasPointers(typ.Elem())
	case reflect.Struct:
		for i := range typ.NumField() {
			if hasPointers(typ.Field(i).Type) {
				return true
			}
		}
	}
	return false
}

// lastPointerEnd is the end of the last word of typ (a struct) that
// holds a pointer: the collector scans a record up to there.
func lastPointerEnd(typ reflect.Type) uintptr {
	var end uintptr
	for i := range typ.NumField() {
		f := typ.Field(i)
		if !hasPointers(f.Type) {
			continue
		}
		fieldEnd := f.Offset + f.Type.Size()
		if f.Type.Kind() == reflect.Struct {
			fieldEnd = f.Offset + lastPointerEnd(f.Type)
		}
		end = max(end, fieldEnd)
	}
	return end
}

// TestRecordLayout: the collector scans the first words of a
// CachedService (its ports, blob and rare pointers) and nothing after
// them; a recordMeta's only pointers are its blob and rare fields.
func TestRecordLayout(t *testing.T) {
	const words = 6 * 8 // ports (3 words), blob (2), rare (1)
	if end := lastPointerEnd(reflect.TypeFor[CachedService]()); end > words {
		t.Errorf("a CachedService's pointers end at byte %d, not %d: a field with a pointer comes after the spans", end, words)
	}
	typ := reflect.TypeFor[recordMeta]()
	for i := range typ.NumField() {
		if f := typ.Field(i); hasPointers(f.Type) && f.Name != "blob" && f.Name != "rare" {
			t.Errorf("recordMeta.%s holds a pointer: keep it in the blob or in rareMeta", f.Name)
		}
	}
}

// TestRecordTimes: a creation timestamp reads back exactly
// (reflect.DeepEqual) as it was set, in UTC, in time.Local (as
// metav1.Time's JSON decodes it), zero, with a monotonic clock reading
// or in another location (kept whole, in rareMeta), and the ordinary
// ones are packed, not kept in rareMeta.
func TestRecordTimes(t *testing.T) {
	var decoded metav1.Time
	if err := json.Unmarshal([]byte(`"2026-01-02T03:04:05Z"`), &decoded); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		time   metav1.Time
		packed bool
	}{
		{"zero", metav1.Time{}, true},
		{"utc", metav1.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), true},
		{"utc-nanoseconds", metav1.Date(2026, 1, 2, 3, 4, 5, 999999999, time.UTC), true},
		{"local", metav1.Date(2026, 1, 2, 3, 4, 5, 0, time.Local), true},
		{"json", decoded, true},
		{"before-1970", metav1.Date(1900, 1, 2, 3, 4, 5, 6, time.UTC), true},
		{"year-1", metav1.Date(1, 1, 1, 0, 0, 0, 0, time.Local), true},
		{"monotonic", metav1.Now(), false},
		{"other-location", metav1.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("X", 3600)), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRecordMeta(metav1.TypeMeta{}, &metav1.ObjectMeta{CreationTimestamp: tc.time})
			if got := r.GetCreationTimestamp(); !reflect.DeepEqual(got, tc.time) {
				t.Errorf("reads %#v, not %#v", got, tc.time)
			}
			if tc.packed != (r.rare == nil) {
				t.Errorf("packed: %v, want %v", r.rare == nil, tc.packed)
			}
			var set recordMeta
			set.SetCreationTimestamp(metav1.Now())
			set.SetCreationTimestamp(tc.time)
			if got := set.GetCreationTimestamp(); !reflect.DeepEqual(got, tc.time) {
				t.Errorf("set, reads %#v, not %#v", got, tc.time)
			}
			if tc.packed && set.rare != nil {
				t.Error("a packed time set keeps the rare fields of the one it replaced")
			}
		})
	}
}

// TestRecordGettersDoNotAllocate: the informer and the indexes read a
// record's name and namespace on every event; reading them copies
// nothing.
func TestRecordGettersDoNotAllocate(t *testing.T) {
	c := compactService(&corev1.Service{ObjectMeta: metav1.ObjectMeta{
		Name: "n", Namespace: "ns", UID: "u", ResourceVersion: "1", CreationTimestamp: metav1.Date(2026, 1, 2, 3, 4, 5, 0, time.Local),
	}})
	var sink string
	allocs := testing.AllocsPerRun(100, func() {
		sink = c.GetName() + c.GetNamespace()[:0] + string(c.GetUID())[:0] + c.GetResourceVersion()[:0]
		_ = c.GetCreationTimestamp()
		_ = c.GetLabels()
		_ = c.GetAnnotations()
		_ = c.GetOwnerReferences()
	})
	if allocs != 0 || sink != "n" {
		t.Errorf("the getters allocate %v times", allocs)
	}
}

// TestRecordSet: a Set* of a string leaves what was read before as it
// was (the blob is never written), reads back what was set, and leaves
// the embedding record's strings as they were.
func TestRecordSet(t *testing.T) {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "n", Namespace: "ns", UID: "u", ResourceVersion: "1"},
		Spec: corev1.ServiceSpec{ClusterIP: "None", Selector: map[string]string{"app": "x"},
			Ports: []corev1.ServicePort{{Name: "p", Port: 80, TargetPort: intstr.FromString("t")}}},
	}
	c := compactService(svc.DeepCopy())
	name := c.GetName()
	c.SetName("other")
	c.SetNamespace("")
	c.SetGroupVersionKind(schema.GroupVersionKind{Version: "v1", Kind: "Service"})
	if name != "n" || c.GetName() != "other" || c.GetNamespace() != "" {
		t.Errorf("after SetName: what was read %q, what reads %q/%q", name, c.GetNamespace(), c.GetName())
	}
	want := svc.DeepCopy()
	want.Name, want.Namespace, want.APIVersion, want.Kind = "other", "", "v1", "Service"
	if got := c.Service(); !reflect.DeepEqual(got, want) {
		t.Errorf("after the sets the record stands for\n%s\nnot\n%s", toJSON(got), toJSON(want))
	}
	if gvk := c.GetObjectKind().GroupVersionKind(); gvk != (schema.GroupVersionKind{Version: "v1", Kind: "Service"}) {
		t.Errorf("the kind reads %v", gvk)
	}
	c.SetLabels(map[string]string{"a": "b"})
	c.SetLabels(nil)
	if c.rare != nil {
		t.Error("labels set and cleared leave a rareMeta")
	}
	c.SetOwnerReferences([]metav1.OwnerReference{{Name: "o"}})
	if c.rare == nil || c.rare.more != nil || len(c.GetOwnerReferences()) != 1 {
		t.Error("owner references set are not kept in rareMeta alone")
	}
	c.SetFinalizers([]string{"f"})
	c.SetOwnerReferences(nil)
	if c.rare == nil || c.rare.more == nil || len(c.GetFinalizers()) != 1 {
		t.Error("a finalizer set is not kept in moreMeta")
	}
	c.SetFinalizers(nil)
	if c.rare != nil {
		t.Error("rare fields set and cleared leave a rareMeta")
	}
}

// TestCachedServiceShapes: records of Services in shapes no API server
// sends (long and empty strings, empty keys, bytes that are not UTF-8,
// many pairs, an empty appProtocol) stand for their Service, and reading
// a selector that is not appendPairs' does not panic.
func TestCachedServiceShapes(t *testing.T) {
	long := strings.Repeat("x", 70000)
	many := map[string]string{}
	for i := range 300 {
		many[strings.Repeat("k", i)] = strings.Repeat("v", 300-i)
	}
	for _, svc := range []*corev1.Service{
		{},
		{Spec: corev1.ServiceSpec{Selector: map[string]string{"": ""}}},
		{Spec: corev1.ServiceSpec{Selector: map[string]string{"": "x", "\xff": "\x00"}}},
		{Spec: corev1.ServiceSpec{Selector: map[string]string{long: long}, ExternalName: long}},
		{Spec: corev1.ServiceSpec{Selector: many}},
		{ObjectMeta: metav1.ObjectMeta{Name: long, Labels: map[string]string{}, Annotations: map[string]string{}, OwnerReferences: []metav1.OwnerReference{}, Finalizers: []string{}}},
		{Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{AppProtocol: ptr.To("")}, {TargetPort: intstr.IntOrString{Type: 7, StrVal: long}}}}},
	} {
		c := compactService(svc)
		if got := c.Service(); !reflect.DeepEqual(got, svc) {
			t.Errorf("the record of a Service does not stand for it: %d bytes of JSON vs %d", len(toJSON(got)), len(toJSON(svc)))
		}
		if sel := svc.Spec.Selector; sel != nil {
			if got, want := c.selects(sel), len(sel) > 0; got != want {
				t.Errorf("a selector selects its own pairs: %v, want %v", got, want)
			}
		}
	}
	for _, s := range []string{"\xff", "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", "\x05ab", "\x01a\x09b", "\x01a"} {
		r := rules.Pairs(s)
		for range 3 {
			r.Next()
		}
	}
}

// TestCachedCopyOwner: a controller's copy keeps its controller
// reference in the record itself, not in a rareMeta (every copy has
// one), and reads and sets it through metav1.Object.
func TestCachedCopyOwner(t *testing.T) {
	ref := metav1.OwnerReference{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "db", UID: "u", Controller: ptr.To(true)}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "db-0", Namespace: "ns", OwnerReferences: []metav1.OwnerReference{ref}}}
	c, ok := compactCopy(pod, rules.KindInfoOf(pod)).(*CachedCopy)
	if !ok {
		t.Fatalf("a Pod of a StatefulSet is not a CachedCopy")
	}
	if c.rare != nil {
		t.Error("a copy keeps a rareMeta for its controller reference")
	}
	var m metav1.Object = c
	if got := m.GetOwnerReferences(); !reflect.DeepEqual(got, []metav1.OwnerReference{ref}) {
		t.Errorf("the owner references read %v", got)
	}
	m.SetOwnerReferences(nil)
	if m.GetOwnerReferences() != nil || c.Object().GetOwnerReferences() != nil {
		t.Error("owner references set to none read some")
	}
}

// TestCachedServiceRandom: the records of random Services (strings empty
// or not, of any bytes; selectors and ports nil, empty or not; times in
// UTC, time.Local or another zone; rare fields set or not) stand for
// them, and their selector selects what rules.Selects does.
func TestCachedServiceRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	str := func() string {
		if rng.IntN(3) == 0 {
			return ""
		}
		b := make([]byte, rng.IntN(200))
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		return string(b)
	}
	labels := func() map[string]string {
		switch rng.IntN(3) {
		case 0:
			return nil
		case 1:
			return map[string]string{}
		}
		m := map[string]string{}
		for range rng.IntN(6) + 1 {
			m[str()] = str()
		}
		return m
	}
	zones := []*time.Location{time.UTC, time.Local, time.FixedZone("Z", -7200)}
	for range 2000 {
		svc := &corev1.Service{
			TypeMeta: metav1.TypeMeta{APIVersion: str(), Kind: str()},
			ObjectMeta: metav1.ObjectMeta{
				Name: str(), Namespace: str(), UID: types.UID(str()), ResourceVersion: str(), Generation: rng.Int64(),
				Annotations: labels(), Labels: labels(), GenerateName: str(),
			},
			Spec: corev1.ServiceSpec{
				Type: corev1.ServiceType(str()), ClusterIP: str(), ExternalName: str(), Selector: labels(),
				PublishNotReadyAddresses: rng.IntN(2) == 0,
			},
		}
		if rng.IntN(2) == 0 {
			svc.CreationTimestamp = metav1.NewTime(time.Unix(rng.Int64N(1<<40)-1<<39, rng.Int64N(1e9)).In(zones[rng.IntN(len(zones))]))
		}
		if rng.IntN(4) == 0 {
			svc.DeletionTimestamp = &metav1.Time{Time: time.Unix(rng.Int64N(1<<32), 0)}
		}
		if n := rng.IntN(4); n > 0 {
			svc.Spec.Ports = make([]corev1.ServicePort, n-1)
			for i := range svc.Spec.Ports {
				p := &svc.Spec.Ports[i]
				p.Name, p.Protocol, p.Port, p.NodePort = str(), corev1.Protocol(str()), rng.Int32(), rng.Int32()
				p.TargetPort = intstr.IntOrString{Type: intstr.Type(rng.IntN(3)), IntVal: rng.Int32(), StrVal: str()}
				if rng.IntN(2) == 0 {
					p.AppProtocol = ptr.To(str())
				}
			}
		}
		c := compactService(svc)
		if got := c.Service(); !reflect.DeepEqual(got, svc) {
			t.Fatalf("the record stands for\n%#v\nnot\n%#v", got, svc)
		}
		probe := labels()
		if sel := svc.Spec.Selector; len(sel) > 0 && rng.IntN(2) == 0 {
			probe = sel
		}
		if got, want := c.selects(probe), rules.Selects(svc.Spec.Selector, probe); got != want {
			t.Fatalf("selects(%q) of %q: %v, rules.Selects %v", probe, svc.Spec.Selector, got, want)
		}
	}
}

// TestContainersRandom: random containers (every list nil, empty or
// not; negative and large ports; restart policies nil or set; valueFrom
// and envFrom set or not) read back as they were written, and reading
// what the encoder did not write (cut short, or any bytes) does not
// panic.
func TestContainersRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	str := func() string {
		b := make([]byte, rng.IntN(40))
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		return string(b)
	}
	isNil := func() bool { return rng.IntN(3) == 0 }
	strs := func() []string {
		if isNil() {
			return nil
		}
		out := make([]string, rng.IntN(4))
		for i := range out {
			out[i] = str()
		}
		return out
	}
	containers := func() []corev1.Container {
		if isNil() {
			return nil
		}
		cs := make([]corev1.Container, rng.IntN(4))
		for i := range cs {
			c := &cs[i]
			c.Name, c.Command, c.Args = str(), strs(), strs()
			if rng.IntN(2) == 0 {
				c.RestartPolicy = ptr.To(corev1.ContainerRestartPolicy(str()))
			}
			if !isNil() {
				c.Ports = make([]corev1.ContainerPort, rng.IntN(4))
				for j := range c.Ports {
					c.Ports[j] = corev1.ContainerPort{Name: str(), HostPort: rng.Int32() - 1<<30, ContainerPort: -rng.Int32(), Protocol: corev1.Protocol(str()), HostIP: str()}
				}
			}
			if !isNil() {
				c.Env = make([]corev1.EnvVar, rng.IntN(4))
				for j := range c.Env {
					c.Env[j] = corev1.EnvVar{Name: str(), Value: str()}
					if rng.IntN(2) == 0 {
						c.Env[j].ValueFrom = &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{Key: str()}}
					}
				}
			}
			if !isNil() {
				c.EnvFrom = make([]corev1.EnvFromSource, rng.IntN(3))
			}
		}
		return cs
	}
	for range 2000 {
		cs, inits := containers(), containers()
		enc := containerEncoder{}
		enc.containers(cs)
		enc.containers(inits)
		d := containerDecoder{s: string(enc.buf), side: enc.side}
		if got := d.containers(); !reflect.DeepEqual(got, cs) {
			t.Fatalf("containers read\n%#v\nnot\n%#v", got, cs)
		}
		if got := d.containers(); !reflect.DeepEqual(got, inits) {
			t.Fatalf("init containers read\n%#v\nnot\n%#v", got, inits)
		}
		for _, s := range []string{string(enc.buf[:rng.IntN(len(enc.buf)+1)]), str() + str()} {
			d := containerDecoder{s: s, side: enc.side}
			d.containers()
			d.containers()
			d = containerDecoder{s: s}
			d.containers()
		}
	}
}
