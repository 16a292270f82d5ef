package manifest

import (
	"reflect"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

const shareInput = `apiVersion: v1
kind: Service
metadata:
  name: web
  labels: {app: web, tier: front}
spec:
  selector: {app: web}
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
  labels: {tier: front, app: web}
spec:
  serviceName: web
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web, tier: back}
`

// TestMinimalSharesLabelMaps checks that Minimal objects share equal
// label maps, whatever the order of their keys, and keep unequal ones,
// and that objects loaded for --fix, which edits them, share none.
func TestMinimalSharesLabelMaps(t *testing.T) {
	same := func(a, b map[string]string) bool {
		return reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
	}
	for _, minimal := range []bool{true, false} {
		set, err := Parse([]Source{{Path: "in.yaml", Data: []byte(shareInput)}}, Options{Minimal: minimal})
		if err != nil {
			t.Fatal(err)
		}
		svc := set.Objects[0].Typed.(*corev1.Service)
		sts := set.Objects[1].Typed.(*appsv1.StatefulSet)
		if got := same(svc.Labels, sts.Labels) && same(svc.Spec.Selector, sts.Spec.Selector.MatchLabels); got != minimal {
			t.Errorf("Minimal %v: equal maps shared: %v", minimal, got)
		}
		if same(sts.Labels, sts.Spec.Template.Labels) || same(svc.Spec.Selector, svc.Labels) {
			t.Errorf("Minimal %v: unequal maps shared", minimal)
		}
		if sts.Spec.Template.Labels["tier"] != "back" || len(svc.Labels) != 2 || len(sts.Spec.Selector.MatchLabels) != 1 {
			t.Errorf("Minimal %v: maps changed: %v %v %v", minimal, sts.Spec.Template.Labels, svc.Labels, sts.Spec.Selector.MatchLabels)
		}
	}
}
