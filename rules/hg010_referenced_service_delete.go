package rules

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

var hg010ReferencedServiceDelete = &Rule{
	ID:          HG010,
	Name:        "referenced-service-delete",
	Summary:     "A Service being deleted is not the governing Service of a StatefulSet.",
	Why:         "Deleting the governing Service removes every pod's DNS name while the StatefulSet keeps running. `helm uninstall` deletes Services before StatefulSets, so this is a warning by default. The warning lists the per-pod names the deletion removes (the first few and their count).",
	Remediation: "Delete or repoint the StatefulSet first, or recreate the Service right away.",
	Kinds:       []string{KindService},
	Operations:  []Operation{Delete},
	Default:     ActionWarn,
	DNS: []DNSCase{
		{Case: "governing Service deleted", Loss: LosesPodAddresses | LosesHostnames | LosesSRV},
	},
	Check: func(c *Context) []Problem {
		svc := serviceOf(c)
		if svc == nil {
			return nil
		}
		var out []Problem
		for _, sts := range c.GoverningStatefulSets(svc) {
			detail := fmt.Sprintf("must not be deleted while StatefulSet `%s` names it in `spec.serviceName`: its pods lose their DNS names", sts.Name)
			if removed := removesNames(servedPodFQDNs(svc, sts, c.Policy.clusterDomain())); removed != "" {
				detail += "; " + removed
			}
			out = append(out, Problem{Error: field.Forbidden(field.NewPath("metadata", "name"), detail)})
		}
		return out
	},
}

// servedPodFQDNs are the per-pod names svc serves for the pods of sts: all
// of them when it is headless and selects the pods, none otherwise (a
// ClusterIP Service, or one that misses the pods, never gave them names, so
// changing it removes none).
func servedPodFQDNs(svc *corev1.Service, sts *appsv1.StatefulSet, domain string) []string {
	if !IsHeadless(svc) {
		return nil
	}
	if _, ok := selectorDefect(svc, statefulSetWorkload(sts)); !ok {
		return nil
	}
	return StatefulSetPodFQDNs(sts, domain)
}
