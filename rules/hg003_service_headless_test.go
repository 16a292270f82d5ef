package rules_test

import (
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/headless-guard/headless-guard/rules"
)

func hg003Cases() (successCases, errorCases []ruleCase) {
	successCases = []ruleCase{{
		name: "clusterIP None with type unset",
		req:  create(mkStatefulSet()),
		objs: objs(mkService()),
	}, {
		name: "clusterIP None with type ClusterIP",
		req:  create(mkStatefulSet()),
		objs: objs(mkService(func(svc *corev1.Service) { svc.Spec.Type = corev1.ServiceTypeClusterIP })),
	}}
	errorCases = []ruleCase{{
		name: "clusterIP unset gets a virtual IP",
		req:  create(mkStatefulSet()),
		objs: objs(mkService(withClusterIP(""))),
		want: []want{{"HG003", deny, invalid, "spec.serviceName"}},
	}, {
		name: "clusterIP set to an address",
		req:  create(mkStatefulSet()),
		objs: objs(mkService(withClusterIP("10.96.0.42"))),
		want: []want{{"HG003", deny, invalid, "spec.serviceName"}},
	}, {
		name: "type NodePort",
		req:  create(mkStatefulSet()),
		objs: objs(mkService(withClusterIP(""), func(svc *corev1.Service) { svc.Spec.Type = corev1.ServiceTypeNodePort })),
		want: []want{{"HG003", deny, invalid, "spec.serviceName"}},
	}, {
		name: "type ExternalName even with clusterIP None",
		req:  create(mkStatefulSet()),
		objs: objs(mkService(func(svc *corev1.Service) {
			svc.Spec.Type = corev1.ServiceTypeExternalName
			svc.Spec.ExternalName = "db.example.com"
		})),
		want: []want{{"HG003", deny, invalid, "spec.serviceName"}},
	}, {
		name: "update of an existing StatefulSet governed by a ClusterIP Service is a warning",
		req:  update(mkStatefulSet(), mkStatefulSet(withReplicas(1))),
		objs: objs(mkService(withClusterIP("10.96.0.42"))),
		want: []want{{"HG003", warn, invalid, "spec.serviceName"}},
	}, {
		name:   "override warn",
		req:    create(mkStatefulSet()),
		objs:   objs(mkService(withClusterIP(""))),
		policy: override("HG003", rules.ActionWarn),
		want:   []want{{"HG003", warn, invalid, "spec.serviceName"}},
	}}
	return successCases, errorCases
}

func TestHG003ServiceHeadless(t *testing.T) {
	successCases, errorCases := hg003Cases()
	runRuleCases(t, successCases, errorCases)
}
