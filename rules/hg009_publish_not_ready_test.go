package rules_test

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/headless-guard/headless-guard/rules"
)

func hg009Cases() (successCases, errorCases []ruleCase) {
	on := override("HG009", rules.ActionWarn)
	publishNotReady := func(svc *corev1.Service) { svc.Spec.PublishNotReadyAddresses = true }
	successCases = []ruleCase{{
		name: "off by default",
		req:  create(mkStatefulSet()),
		objs: objs(mkService()),
	}, {
		name:   "Service publishes not-ready addresses",
		req:    create(mkStatefulSet()),
		objs:   objs(mkService(publishNotReady)),
		policy: on,
	}, {
		name: "Parallel pod management",
		req: create(mkStatefulSet(func(sts *appsv1.StatefulSet) {
			sts.Spec.PodManagementPolicy = appsv1.ParallelPodManagement
		})),
		objs:   objs(mkService()),
		policy: on,
	}, {
		name:   "one replica has no peers",
		req:    create(mkStatefulSet(withReplicas(1))),
		objs:   objs(mkService()),
		policy: on,
	}, {
		name:   "replicas unset defaults to one",
		req:    create(mkStatefulSet(func(sts *appsv1.StatefulSet) { sts.Spec.Replicas = nil })),
		objs:   objs(mkService()),
		policy: on,
	}, {
		name:   "no governing Service is HG002's business",
		req:    create(mkStatefulSet()),
		policy: &rules.Policy{Overrides: map[string]rules.Action{"HG009": rules.ActionWarn, "HG002": rules.ActionOff}},
	}}
	errorCases = []ruleCase{{
		name:   "override warn: OrderedReady by default with 3 replicas",
		req:    create(mkStatefulSet()),
		objs:   objs(mkService()),
		policy: on,
		want:   []want{{"HG009", warn, invalid, "spec.podManagementPolicy"}},
	}, {
		name: "override warn: explicit OrderedReady",
		req: create(mkStatefulSet(func(sts *appsv1.StatefulSet) {
			sts.Spec.PodManagementPolicy = appsv1.OrderedReadyPodManagement
		})),
		objs:   objs(mkService()),
		policy: on,
		want:   []want{{"HG009", warn, invalid, "spec.podManagementPolicy"}},
	}, {
		name:   "override deny",
		req:    create(mkStatefulSet()),
		objs:   objs(mkService()),
		policy: override("HG009", rules.ActionDeny),
		want:   []want{{"HG009", deny, invalid, "spec.podManagementPolicy"}},
	}, {
		name:   "override deny: update of a StatefulSet that already had the defect is a warning",
		req:    update(mkStatefulSet(), mkStatefulSet(withReplicas(5))),
		objs:   objs(mkService()),
		policy: override("HG009", rules.ActionDeny),
		want:   []want{{"HG009", warn, invalid, "spec.podManagementPolicy"}},
	}}
	return successCases, errorCases
}

func TestHG009PublishNotReady(t *testing.T) {
	successCases, errorCases := hg009Cases()
	runRuleCases(t, successCases, errorCases)
}
