package rules

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestCompactIndexKeepsWhatItCannotEncode: an object CompactIndex cannot
// encode is kept as it is, and found by the same lookups.
func TestCompactIndexKeepsWhatItCannotEncode(t *testing.T) {
	labels := map[string]string{"app": "web"}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns"}, Spec: corev1.ServiceSpec{ClusterIP: "None", Selector: labels}}
	sts := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns"}, Spec: appsv1.StatefulSetSpec{ServiceName: "web",
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}}}}
	x := NewCompactIndex()
	svcID, stsID := x.add(svc, false), x.add(sts, false)
	if x.Object(svcID) != svc || x.Object(stsID) != sts {
		t.Fatalf("the objects are not kept as they are")
	}
	if got, _ := x.Service("ns", "web"); got != svc {
		t.Errorf("Service: %v", got)
	}
	if got, _ := x.ServicesSelecting("ns", labels); len(got) != 1 || got[0] != svc {
		t.Errorf("ServicesSelecting: %v", got)
	}
	if got, _ := x.StatefulSetsFor("ns", "web"); len(got) != 1 || got[0] != sts {
		t.Errorf("StatefulSetsFor: %v", got)
	}
	if got, _ := x.View().WorkloadsSelectedBy("ns", labels); len(got) != 1 || got[0].Ref.Name != "web" {
		t.Errorf("WorkloadsSelectedBy: %v", got)
	}
}
