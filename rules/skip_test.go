package rules

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestUnknownSkips(t *testing.T) {
	cases := []struct {
		name, value string
		want        []string
	}{
		{"known IDs, any case", "HG004, hg006", nil},
		{"all", "all", nil},
		{"a typo'd ID", "HG04", []string{"HG04"}},
		{"a rule's name is no ID", "HG001,service-exists", []string{"service-exists"}},
		{"each unknown entry once, in order", "HG99, x, HG99,", []string{"HG99", "x"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{SkipAnnotation: tc.value}}}
			if diff := cmp.Diff(tc.want, Default().UnknownSkips(svc)); diff != "" {
				t.Errorf("UnknownSkips(%q) (-want +got):\n%s", tc.value, diff)
			}
		})
	}
	if got := Default().UnknownSkips(&corev1.Service{}); got != nil {
		t.Errorf("no annotation: %v", got)
	}
}
