package rules_test

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
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
		name:   "strict: clusterIP unset gets a virtual IP",
		req:    create(mkStatefulSet()),
		objs:   objs(mkService(withClusterIP(""))),
		policy: strict(nil),
		want:   []want{{"HG003", deny, invalid, "spec.serviceName"}},
	}, {
		name:   "strict: clusterIP set to an address",
		req:    create(mkStatefulSet()),
		objs:   objs(mkService(withClusterIP("10.96.0.42"))),
		policy: strict(nil),
		want:   []want{{"HG003", deny, invalid, "spec.serviceName"}},
	}, {
		name:   "strict: type NodePort",
		req:    create(mkStatefulSet()),
		objs:   objs(mkService(withClusterIP(""), func(svc *corev1.Service) { svc.Spec.Type = corev1.ServiceTypeNodePort })),
		policy: strict(nil),
		want:   []want{{"HG003", deny, invalid, "spec.serviceName"}},
	}, {
		name: "strict: type ExternalName even with clusterIP None",
		req:  create(mkStatefulSet()),
		objs: objs(mkService(func(svc *corev1.Service) {
			svc.Spec.Type = corev1.ServiceTypeExternalName
			svc.Spec.ExternalName = "db.example.com"
		})),
		policy: strict(nil),
		want:   []want{{"HG003", deny, invalid, "spec.serviceName"}},
	}, {
		name: "update of an existing StatefulSet governed by a ClusterIP Service is a warning",
		req:  update(mkStatefulSet(), mkStatefulSet(withReplicas(1))),
		objs: objs(mkService(withClusterIP("10.96.0.42"))),
		want: []want{{"HG003", warn, invalid, "spec.serviceName"}},
	}, {
		name: "default: a ClusterIP Service nothing looks pods up through is a warning",
		req:  create(mkStatefulSet()),
		objs: objs(mkService(withClusterIP("10.96.0.42"))),
		want: []want{{"HG003", warn, invalid, "spec.serviceName"}},
	}, {
		name: "default: a ClusterIP Service while the configuration lists the per-pod names is denied",
		req:  create(mkStatefulSet(withEnv("ZOO_SERVERS", "server.1=web-0.nginx-headless.default.svc.cluster.local:2888:3888 server.2=web-1.nginx-headless.default.svc.cluster.local:2888:3888"))),
		objs: objs(mkService(withClusterIP("10.96.0.42"))),
		want: []want{{"HG003", deny, invalid, "spec.serviceName"}},
	}, {
		name: "default: names used through a referenced ConfigMap key are evidence too",
		req: create(mkStatefulSet(func(sts *appsv1.StatefulSet) {
			sts.Spec.Template.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "PEERS", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "peers"}, Key: "list"}}}}
		})),
		objs: objs(mkService(withClusterIP("10.96.0.42")), mkConfigMap("peers", map[string]string{"list": `["web-0.nginx-headless","web-1.nginx-headless"]`, "other": "x"})),
		want: []want{{"HG003", deny, invalid, "spec.serviceName"}},
	}, {
		name: "default: another key of the ConfigMap than the referenced one is no evidence",
		req: create(mkStatefulSet(func(sts *appsv1.StatefulSet) {
			sts.Spec.Template.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "PEERS", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "peers"}, Key: "list"}}}}
		})),
		objs: objs(mkService(withClusterIP("10.96.0.42")), mkConfigMap("peers", map[string]string{"list": "none", "other": "web-0.nginx-headless"})),
		want: []want{{"HG003", warn, invalid, "spec.serviceName"}},
	}, {
		name:   "strict, override warn",
		req:    create(mkStatefulSet()),
		objs:   objs(mkService(withClusterIP(""))),
		policy: strict(override("HG003", rules.ActionWarn)),
		want:   []want{{"HG003", warn, invalid, "spec.serviceName"}},
	}}
	return successCases, errorCases
}

func TestHG003ServiceHeadless(t *testing.T) {
	successCases, errorCases := hg003Cases()
	runRuleCases(t, successCases, errorCases)
}
