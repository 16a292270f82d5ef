package rules_test

import (
	"encoding/json"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/headless-guard/headless-guard/rules"
)

// FuzzEvaluate decodes a StatefulSet and a Service from arbitrary JSON and
// runs every operation and every fix over them: rules must never panic,
// whatever the objects hold (nil selectors, empty names, odd ports).
func FuzzEvaluate(f *testing.F) {
	f.Add([]byte(`{"metadata":{"name":"web","namespace":"default"},"spec":{"serviceName":"nginx","replicas":3,"selector":{"matchLabels":{"app":"nginx"}},"template":{"metadata":{"labels":{"app":"nginx"}},"spec":{"containers":[{"name":"nginx","ports":[{"name":"web","containerPort":80}]}]}}}}`),
		[]byte(`{"metadata":{"name":"nginx","namespace":"default"},"spec":{"clusterIP":"None","selector":{"app":"nginx"},"ports":[{"port":80,"targetPort":"web"}]}}`))
	f.Add([]byte(`{"metadata":{"name":"w"},"spec":{"ordinals":{"start":2147483647},"replicas":2147483647}}`), []byte(`{"metadata":{"name":"w"},"spec":{"type":"NodePort","ports":[{"port":1,"targetPort":0}]}}`))
	f.Fuzz(func(t *testing.T, stsJSON, svcJSON []byte) {
		var sts appsv1.StatefulSet
		var svc corev1.Service
		if json.Unmarshal(stsJSON, &sts) != nil || json.Unmarshal(svcJSON, &svc) != nil {
			return
		}
		idx := rules.NewIndex()
		idx.Add(&svc)
		idx.Add(&sts)
		reg := rules.Default()
		policy := &rules.Policy{Overrides: map[string]rules.Action{"HG009": rules.ActionWarn}}
		for _, req := range []*rules.Request{
			{Operation: rules.Create, Object: &sts},
			{Operation: rules.Update, Object: &sts, OldObject: &sts},
			{Operation: rules.Create, Object: &svc},
			{Operation: rules.Update, Object: &svc, OldObject: &corev1.Service{}},
			{Operation: rules.Delete, OldObject: &svc},
		} {
			res, err := reg.Evaluate(req, idx, policy)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range res.Findings {
				if f.Error == nil || f.Action == rules.ActionOff {
					t.Fatalf("malformed finding %+v", f)
				}
			}
			if _, err := rules.PlanFixes(req, idx, rules.FixOptions{InjectService: true, FixLabels: true}); err != nil {
				t.Fatal(err)
			}
		}
	})
}
