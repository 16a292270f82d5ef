package manifest

import (
	"hash/maphash"
	"maps"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kruntime "k8s.io/apimachinery/pkg/runtime"

	"github.com/headless-guard/headless-guard/rules"
)

// labelMaps shares equal label maps between the typed objects of a few
// consecutive documents (Options.Minimal): a StatefulSet's labels, its
// selector and its Service's selector are often the same pairs, and a Go
// map costs some 300 bytes however few its entries, the largest part of
// what the checker keeps of an object. The checker only reads the
// objects; --fix, which edits them, does not load them Minimal.
type labelMaps struct {
	seed   maphash.Seed
	byHash map[uint64][]map[string]string
}

// reset forgets the maps seen, so that the table stays small.
func (t *labelMaps) reset() { clear(t.byHash) }

// object replaces the label maps of a typed object (its labels, its
// selector, its pod template's labels, a Service's selector) by equal
// ones seen before.
func (t *labelMaps) object(obj kruntime.Object) {
	if m, ok := obj.(metav1.Object); ok {
		if l := m.GetLabels(); len(l) > 0 {
			m.SetLabels(t.share(l))
		}
	}
	if svc, ok := obj.(*corev1.Service); ok {
		svc.Spec.Selector = t.share(svc.Spec.Selector)
		return
	}
	k := rules.KindInfoOf(obj)
	if k == nil {
		return
	}
	if k.Selector != nil {
		if s := k.Selector(obj); s != nil {
			s.MatchLabels = t.share(s.MatchLabels)
		}
	}
	if k.OwnTemplate != nil {
		if tpl := k.OwnTemplate(obj); tpl != nil {
			tpl.Labels = t.share(tpl.Labels)
		}
	}
}

// share returns a map equal to m seen before, or m, which it remembers.
func (t *labelMaps) share(m map[string]string) map[string]string {
	if len(m) == 0 {
		return m
	}
	if t.byHash == nil {
		t.byHash = map[uint64][]map[string]string{}
		t.seed = maphash.MakeSeed()
	}
	// The sum of the pairs' hashes does not depend on the map's order;
	// equal sums are compared in full.
	var sum uint64
	for k, v := range m {
		sum += maphash.String(t.seed, k) ^ maphash.String(t.seed, v)*0x9e3779b97f4a7c15
	}
	for _, seen := range t.byHash[sum] {
		if maps.Equal(seen, m) {
			return seen
		}
	}
	t.byHash[sum] = append(t.byHash[sum], m)
	return m
}
