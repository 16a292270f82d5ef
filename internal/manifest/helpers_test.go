package manifest

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	kruntime "k8s.io/apimachinery/pkg/runtime"
)

func describePorts(obj kruntime.Object) string {
	svc := obj.(*corev1.Service)
	out := ""
	for _, p := range svc.Spec.Ports {
		out += fmt.Sprintf("%s:%d ", p.Name, p.Port)
	}
	return out
}
