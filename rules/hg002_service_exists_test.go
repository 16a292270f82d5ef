package rules_test

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/headless-guard/headless-guard/internal/testobj"
	"github.com/headless-guard/headless-guard/rules"
)

func hg002Cases() (successCases, errorCases []ruleCase) {
	successCases = []ruleCase{{
		name: "Service exists",
		req:  create(mkStatefulSet()),
		objs: objs(mkService()),
	}, {
		name: "Service exists and the StatefulSet itself is in the index",
		req:  create(mkStatefulSet()),
		objs: objs(mkStatefulSet(), mkService()),
	}, {
		name:   "empty serviceName is HG001's business",
		req:    create(mkStatefulSet(withServiceName(""))),
		policy: &rules.Policy{Overrides: map[string]rules.Action{"HG001": rules.ActionOff}},
	}}
	errorCases = []ruleCase{{
		name: "no Service of that name, nothing uses the names: a warning (the Service may be a moment away)",
		req:  create(mkStatefulSet()),
		want: []want{{"HG002", warn, notFound, "spec.serviceName"}},
	}, {
		name:   "strict: no Service of that name",
		req:    create(mkStatefulSet()),
		policy: strict(nil),
		want:   []want{{"HG002", deny, notFound, "spec.serviceName"}},
	}, {
		name: "the pod template's env lists the per-pod names: denied",
		req:  create(mkStatefulSet(withEnv("PEERS", "web-0.nginx-headless:2380,web-1.nginx-headless:2380"))),
		want: []want{{"HG002", deny, notFound, "spec.serviceName"}},
	}, {
		name: "the args use a fully qualified per-pod name: denied",
		req: create(mkStatefulSet(func(sts *appsv1.StatefulSet) {
			sts.Spec.Template.Spec.Containers[0].Args = []string{"--join=http://web-0.nginx-headless.default.svc.cluster.local:8080"}
		})),
		want: []want{{"HG002", deny, notFound, "spec.serviceName"}},
	}, {
		name: "a mounted ConfigMap lists the per-pod names: denied",
		req:  create(mkStatefulSet(withConfigMapVol("web-config"))),
		objs: objs(mkConfigMap("web-config", map[string]string{"peers.conf": "server.1=web-0.nginx-headless.default.svc.cluster.local:2888:3888"})),
		want: []want{{"HG002", deny, notFound, "spec.serviceName"}},
	}, {
		name: "per-pod names of another namespace are no evidence",
		req:  create(mkStatefulSet(withEnv("PEERS", "web-0.nginx-headless.prod.svc.cluster.local"))),
		want: []want{{"HG002", warn, notFound, "spec.serviceName"}, {"HG013", warn, invalid, "spec.template.spec.containers[0].env[0].value"}},
	}, {
		name: "controller-owned, even with the names used: a warning",
		req:  create(mkStatefulSet(stsOwnedBy("Redis", "cache"), withEnv("PEERS", "web-0.nginx-headless"))),
		want: []want{{"HG002", warn, notFound, "spec.serviceName"}},
	}, {
		name:   "controller-owned with ControllerOwned enforce and the names used: denied",
		req:    create(mkStatefulSet(stsOwnedBy("Redis", "cache"), withEnv("PEERS", "web-0.nginx-headless"))),
		policy: &rules.Policy{ControllerOwned: rules.ControllerOwnedEnforce},
		want:   []want{{"HG002", deny, notFound, "spec.serviceName"}},
	}, {
		name:   "strict, controller-owned: still a warning unless ControllerOwned is enforce",
		req:    create(mkStatefulSet(stsOwnedBy("Redis", "cache"))),
		policy: strict(nil),
		want:   []want{{"HG002", warn, notFound, "spec.serviceName"}},
	}, {
		name: "a near-miss name of an unclaimed headless Service that selects the pods: denied as a typo",
		req:  create(mkStatefulSet(withServiceName("nginx-hedless"))),
		objs: objs(mkService()),
		want: []want{{"HG002", deny, notFound, "spec.serviceName"}},
	}, {
		name: "a near-miss name of a headless Service that selects other pods is no typo",
		req:  create(mkStatefulSet(withServiceName("nginx-hedless"), withTemplateLabels(map[string]string{"app": "web"}))),
		objs: objs(mkService()),
		want: []want{{"HG002", warn, notFound, "spec.serviceName"}},
	}, {
		name: "a headless Service under an unrelated name selects the pods (a discovery Service): a warning with the hint",
		req:  create(mkStatefulSet(withServiceName("ingester"))),
		objs: objs(mkService(testobj.Named[*corev1.Service]("tempo-ingester-discovery"))),
		want: []want{{"HG002", warn, notFound, "spec.serviceName"}},
	}, {
		name: "a name that differs only in digits is another shard's Service, not a typo",
		req:  create(mkStatefulSet(withServiceName("nginx-1"))),
		objs: objs(mkService(testobj.Named[*corev1.Service]("nginx-0"))),
		want: []want{{"HG002", warn, notFound, "spec.serviceName"}},
	}, {
		name: "a near-miss name of a Service another StatefulSet already names is no typo",
		req:  create(mkStatefulSet(withServiceName("nginx-hedless"))),
		objs: objs(mkService(), mkStatefulSet(testobj.Named[*appsv1.StatefulSet]("db"))),
		want: []want{{"HG002", warn, notFound, "spec.serviceName"}},
	}, {
		name: "Service of that name only in another namespace",
		req:  create(mkStatefulSet()),
		objs: objs(mkService(func(svc *corev1.Service) { svc.Namespace = "other" })),
		want: []want{{"HG002", warn, notFound, "spec.serviceName"}},
	}, {
		name:   "strict: Service of that name only in another namespace",
		req:    create(mkStatefulSet()),
		objs:   objs(mkService(func(svc *corev1.Service) { svc.Namespace = "other" })),
		policy: strict(nil),
		want:   []want{{"HG002", deny, notFound, "spec.serviceName"}},
	}, {
		name: "another headless Service selects the pods",
		req:  create(mkStatefulSet(withServiceName("nginx"))),
		objs: objs(mkService()),
		want: []want{{"HG002", deny, notFound, "spec.serviceName"}},
	}, {
		name: "dry-run is a warning by default (kubernetes #83562)",
		req:  dryRun(create(mkStatefulSet())),
		want: []want{{"HG002", warn, notFound, "spec.serviceName"}},
	}, {
		name:   "dry-run denies with DenyMissingServiceOnDryRun where a real request would",
		req:    dryRun(create(mkStatefulSet())),
		policy: strict(&rules.Policy{DenyMissingServiceOnDryRun: true}),
		want:   []want{{"HG002", deny, notFound, "spec.serviceName"}},
	}, {
		name: "scale of an existing StatefulSet whose Service is gone is a warning",
		req:  update(mkStatefulSet(), mkStatefulSet(withReplicas(5))),
		want: []want{{"HG002", warn, notFound, "spec.serviceName"}},
	}, {
		name: "metadata-only update of an existing StatefulSet whose Service is gone is a warning",
		req: update(mkStatefulSet(), mkStatefulSet(func(sts *appsv1.StatefulSet) {
			sts.Labels = map[string]string{"team": "db"}
			sts.Annotations = map[string]string{"note": "x"}
			sts.ObjectMeta.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}
		})),
		want: []want{{"HG002", warn, notFound, "spec.serviceName"}},
	}, {
		name:   "mode warn",
		req:    create(mkStatefulSet()),
		policy: &rules.Policy{Mode: rules.ModeWarn},
		want:   []want{{"HG002", warn, notFound, "spec.serviceName"}},
	}}
	return successCases, errorCases
}

func TestHG002ServiceExists(t *testing.T) {
	successCases, errorCases := hg002Cases()
	runRuleCases(t, successCases, errorCases)
}

// TestInjectReplacesOnlyTheMissingService: over the error cases of every
// rule, the findings the webhook turns into "will create headless Service"
// when inject-service is on (Finding.InjectReplaces) are exactly HG002's,
// the one defect the injected Service repairs.
func TestInjectReplacesOnlyTheMissingService(t *testing.T) {
	_, errorCases := allRuleCases()
	seen := false
	for _, tc := range errorCases {
		res, err := rules.Default().Evaluate(tc.req, index(tc.objs...), tc.policy)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		for _, f := range res.Findings {
			if want := f.Rule.ID == rules.HG002; f.InjectReplaces != want {
				t.Errorf("%s: %s finding %s has InjectReplaces %v, want %v", tc.name, f.Rule.ID, f.Error.Field, f.InjectReplaces, want)
			}
			seen = seen || f.InjectReplaces
		}
	}
	if !seen {
		t.Error("no error case has a finding that inject-service replaces")
	}
}
