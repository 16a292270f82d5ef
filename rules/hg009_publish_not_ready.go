package rules

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var hg009PublishNotReady = &Rule{
	ID:          HG009,
	Name:        "publish-not-ready",
	Summary:     "An `OrderedReady` StatefulSet with more than one replica has a governing Service with `publishNotReadyAddresses: true`.",
	Why:         "With `OrderedReady`, pod N+1 starts only when pod N is ready, and DNS only publishes ready pods; peers that must find each other to become ready (quorum systems) wait forever. Off by default because most applications do not need it.",
	Remediation: "Set `spec.publishNotReadyAddresses: true` on the governing Service, or use `podManagementPolicy: Parallel`.",
	Kinds:       []string{KindStatefulSet},
	Operations:  []Operation{Create, Update},
	Default:     ActionOff,
	DNS: []DNSCase{
		{Case: "a pod not ready, `publishNotReadyAddresses` unset", Loss: LosesPodAddresses | LosesHostnames | LosesSRV},
	},
	Check: func(c *Context) []Problem {
		sts, svc := governingService(c)
		if svc == nil || svc.Spec.PublishNotReadyAddresses {
			return nil
		}
		if p := sts.Spec.PodManagementPolicy; p != "" && p != appsv1.OrderedReadyPodManagement {
			return nil
		}
		// Unset replicas default to 1, which has no peers to find.
		if sts.Spec.Replicas == nil || *sts.Spec.Replicas < 2 {
			return nil
		}
		return []Problem{{Error: field.Invalid(field.NewPath("spec", "podManagementPolicy"), string(appsv1.OrderedReadyPodManagement),
			fmt.Sprintf("must be `Parallel`, or Service `%s` must set `publishNotReadyAddresses: true`, for peers to resolve each other before they are ready", svc.Name))}}
	},
}
