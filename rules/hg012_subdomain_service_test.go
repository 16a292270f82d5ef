package rules_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/headless-guard/headless-guard/rules"
)

// templateTweak edits the pod template of any pod-template owner (for a Pod,
// its own metadata and spec).
type templateTweak func(meta *metav1.ObjectMeta, spec *corev1.PodSpec)

func withSubdomain(sub string) templateTweak {
	return func(_ *metav1.ObjectMeta, spec *corev1.PodSpec) { spec.Subdomain = sub }
}

// templateOwners are the kinds HG012 covers, with where their template lives.
var templateOwners = []struct {
	kind     string
	metaPath string
	specPath string
	mk       func(tweaks ...templateTweak) runtime.Object
}{{
	kind: rules.KindPod, metaPath: "metadata", specPath: "spec",
	mk: func(tweaks ...templateTweak) runtime.Object {
		return mkPod(func(p *corev1.Pod) {
			for _, tw := range tweaks {
				tw(&p.ObjectMeta, &p.Spec)
			}
		})
	},
}, {
	kind: rules.KindDeployment, metaPath: "spec.template.metadata", specPath: "spec.template.spec",
	mk: func(tweaks ...templateTweak) runtime.Object {
		return mkDeployment(func(d *appsv1.Deployment) {
			for _, tw := range tweaks {
				tw(&d.Spec.Template.ObjectMeta, &d.Spec.Template.Spec)
			}
		})
	},
}, {
	kind: rules.KindReplicaSet, metaPath: "spec.template.metadata", specPath: "spec.template.spec",
	mk: func(tweaks ...templateTweak) runtime.Object {
		return mkReplicaSet(func(rs *appsv1.ReplicaSet) {
			for _, tw := range tweaks {
				tw(&rs.Spec.Template.ObjectMeta, &rs.Spec.Template.Spec)
			}
		})
	},
}, {
	kind: rules.KindJob, metaPath: "spec.template.metadata", specPath: "spec.template.spec",
	mk: func(tweaks ...templateTweak) runtime.Object {
		return mkJob(func(j *batchv1.Job) {
			for _, tw := range tweaks {
				tw(&j.Spec.Template.ObjectMeta, &j.Spec.Template.Spec)
			}
		})
	},
}, {
	kind: rules.KindCronJob, metaPath: "spec.jobTemplate.spec.template.metadata", specPath: "spec.jobTemplate.spec.template.spec",
	mk: func(tweaks ...templateTweak) runtime.Object {
		return mkCronJob(func(cj *batchv1.CronJob) {
			t := &cj.Spec.JobTemplate.Spec.Template
			for _, tw := range tweaks {
				tw(&t.ObjectMeta, &t.Spec)
			}
		})
	},
}, {
	kind: rules.KindDaemonSet, metaPath: "spec.template.metadata", specPath: "spec.template.spec",
	mk: func(tweaks ...templateTweak) runtime.Object {
		return mkDaemonSet(func(ds *appsv1.DaemonSet) {
			for _, tw := range tweaks {
				tw(&ds.Spec.Template.ObjectMeta, &ds.Spec.Template.Spec)
			}
		})
	},
}}

func hg012Cases() (successCases, errorCases []ruleCase) {
	sub := withSubdomain("client-dns")
	for _, o := range templateOwners {
		subPath := o.specPath + ".subdomain"
		successCases = append(successCases, []ruleCase{{
			name: o.kind + ": no subdomain, no Service",
			req:  create(o.mk()),
		}, {
			name: o.kind + ": subdomain names a matching headless Service",
			req:  create(o.mk(sub)),
			objs: objs(mkClientService()),
		}}...)
		errorCases = append(errorCases, []ruleCase{{
			name: o.kind + ": subdomain and no Service",
			req:  create(o.mk(sub)),
			want: []want{{"HG012", warn, notFound, subPath}},
		}, {
			name: o.kind + ": subdomain names a ClusterIP Service",
			req:  create(o.mk(sub)),
			objs: objs(mkClientService(withClusterIP("10.96.0.7"))),
			want: []want{{"HG012", warn, invalid, subPath}},
		}}...)
	}

	deployment := templateOwners[1]
	cronJob := templateOwners[4]
	errorCases = append(errorCases, []ruleCase{{
		name: "Deployment: Service selector does not match the template labels",
		req:  create(deployment.mk(sub)),
		objs: objs(mkClientService(withSelector(map[string]string{"app": "client", "tier": "api"}))),
		want: []want{{"HG012", warn, invalid, "spec.template.metadata.labels"}},
	}, {
		name: "Deployment: Service has no selector",
		req:  create(deployment.mk(sub)),
		objs: objs(mkClientService(withSelector(nil))),
		want: []want{{"HG012", warn, invalid, "spec.template.spec.subdomain"}},
	}, {
		name: "Deployment: Service port unnamed",
		req:  create(deployment.mk(sub)),
		objs: objs(mkClientService(withPorts(corev1.ServicePort{Port: 8080}))),
		want: []want{{"HG012", warn, invalid, "spec.template.spec.subdomain"}},
	}, {
		name: "CronJob: named targetPort matches no container port",
		req:  create(cronJob.mk(sub)),
		objs: objs(mkClientService(withPorts(corev1.ServicePort{Name: "grpc", Port: 9000, TargetPort: intstr.FromString("grpc")}))),
		want: []want{{"HG012", warn, notFound, "spec.jobTemplate.spec.template.spec.containers"}},
	}, {
		name:   "Pod: override deny",
		req:    create(templateOwners[0].mk(sub)),
		policy: override("HG012", rules.ActionDeny),
		want:   []want{{"HG012", deny, notFound, "spec.subdomain"}},
	}, {
		name:   "Deployment: override deny",
		req:    create(deployment.mk(sub)),
		objs:   objs(mkClientService(withClusterIP(""))),
		policy: override("HG012", rules.ActionDeny),
		want:   []want{{"HG012", deny, invalid, "spec.template.spec.subdomain"}},
	}, {
		name:   "Deployment: override deny, update that keeps a stored defect is a warning",
		req:    update(deployment.mk(sub), deployment.mk(sub, func(meta *metav1.ObjectMeta, _ *corev1.PodSpec) { meta.Annotations = map[string]string{"rollout": "2"} })),
		policy: override("HG012", rules.ActionDeny),
		want:   []want{{"HG012", warn, notFound, "spec.template.spec.subdomain"}},
	}, {
		name:   "Deployment: override deny, update that adds the subdomain is denied",
		req:    update(deployment.mk(), deployment.mk(sub)),
		policy: override("HG012", rules.ActionDeny),
		want:   []want{{"HG012", deny, notFound, "spec.template.spec.subdomain"}},
	}}...)
	return successCases, errorCases
}

func TestHG012SubdomainService(t *testing.T) {
	var kinds []string
	for _, o := range templateOwners {
		if kind, _ := rules.KindOf(o.mk()); kind != o.kind {
			t.Fatalf("templateOwners: %s builder makes a %s", o.kind, kind)
		}
		kinds = append(kinds, o.kind)
	}
	if diff := cmp.Diff(rules.PodTemplateOwnerKinds, kinds, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Fatalf("templateOwners must cover every pod-template owner kind (-PodTemplateOwnerKinds +tested):\n%s", diff)
	}
	successCases, errorCases := hg012Cases()
	runRuleCases(t, successCases, errorCases)
}
